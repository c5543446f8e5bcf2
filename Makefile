# `make check` is what a change must pass before it lands: lint, format, types, tests.
PY ?= python3

.PHONY: check lint format types test
check: lint types test

lint:
	$(PY) -m ruff check netbench tests
	$(PY) -m ruff format --check netbench tests

format:
	$(PY) -m ruff format netbench tests
	$(PY) -m ruff check --fix netbench tests

types:
	$(PY) -m mypy

test:
	$(PY) -m pytest

.PHONY: screenshots
screenshots:
	$(PY) scripts/screenshots.py screenshots
