"""Shell words for the copy-as commands: any bytes, and nothing a shell would run. Pure.

Rules (POSIX sh, bash and zsh alike):
- a word is `shlex.quote`d text when the bytes are plain printable UTF-8
  (what `textsafe` would leave as it is); otherwise it is made at run time
  by `printf` from octal escapes, so the command line itself holds no
  control character, no lone 0xff and no bidi override: it is safe to show,
  to paste and to run;
- inside single quotes nothing is special to the shell: `$`, backticks,
  `"` and `\\` stay text; a `'` is written as `'"'"'` by `shlex.quote`;
- `$(...)` drops NUL bytes (argv strings end at NUL) and trailing newlines:
  callers say so where it matters (`nul_caveats`).
"""

from __future__ import annotations

import shlex

from netbench.protocol.textsafe import visible_text

__all__ = ["plain", "printf_command", "printf_format", "quote", "shell_word"]


def plain(data: bytes) -> str | None:
    """The text of `data` if it can be pasted into a shell line as is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if visible_text(text) == text else None


def printf_format(data: bytes) -> str:
    """A printf format string (unquoted) that prints exactly `data` (POSIX octal escapes)."""
    out: list[str] = []
    for byte in data:
        char = chr(byte)
        if char == "%":
            out.append("%%")
        elif char == "\\":
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F and char != "'":
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    text = "".join(out)
    if text.startswith("-"):  # not an option to printf
        text = "\\055" + text[1:]
    return text


def printf_command(data: bytes) -> str:
    """A `printf` command writing exactly `data` to stdout."""
    return "printf " + shlex.quote(printf_format(data))


def shell_word(data: bytes) -> str:
    """One shell word that expands to `data` without its NUL bytes."""
    data = data.replace(b"\0", b"")
    text = plain(data)
    return shlex.quote(text) if text is not None else f'"$({printf_command(data)})"'


def quote(text: str) -> str:
    """A word for text netbench chose (a file name it wrote may still hold anything)."""
    return shell_word(text.encode("utf-8", "surrogateescape"))
