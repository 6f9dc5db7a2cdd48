"""Progress reporting hook: library code reports, the CLI decides whether and how to show it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Progress(Protocol):
    def task(self, description: str, total: int | None): ...  # context manager yielding Advance


class NoProgress:
    """Reports nothing (the default for library use and tests)."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Advance]:
        yield lambda steps=1: None
