"""Keep a reference to every background task, and see their failures.

asyncio keeps only weak references to tasks: a task nobody holds can be
garbage-collected mid-flight. Every task the engine starts goes through
`TaskSet.spawn`, which holds it until it ends and reports an exception
instead of letting it vanish into "Task exception was never retrieved".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class TaskSet:
    __slots__ = ("_on_error", "_tasks")

    def __init__(self, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and self._on_error is not None:
            self._on_error(task.get_name(), error)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, timeout: float = 2.0) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
