"""A small buffer of rows made ready ahead of the workers, refilled a batch at a time.

Checking rows and reading and encoding their images in batches, rather than one row between
each answer and the next request, keeps that code warm in the processor's caches and off the
path from an answer to the next request (see README, Performance). The buffer is bounded in
rows and in bytes, so it holds a few megabytes whatever the concurrency.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """Items in the order added, with their sizes; one filler waits in `wanted` for room."""

    def __init__(self, *, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._room: asyncio.Future[None] | None = None
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.max_items or self._bytes >= self.max_bytes

    def add(self, item: T, size: int) -> None:
        self._items.append((item, size))
        self._bytes += size

    def take(self) -> T | None:
        """The oldest item, or None when there is none (the caller then makes its own)."""
        if not self._items:
            return None
        item, size = self._items.popleft()
        self._bytes -= size
        if self._room is not None and self._half_empty():
            self._wake()
        return item

    async def wanted(self) -> None:
        """Return once the buffer is half empty (a batch is worth making), or closed."""
        if self.closed or self._half_empty():
            return
        self._room = asyncio.get_running_loop().create_future()
        try:
            await self._room
        finally:
            self._room = None

    def close(self) -> None:
        """No more items will be taken: end the filler's wait."""
        self.closed = True
        self._wake()

    def drain(self) -> list[T]:
        """The items never taken, oldest first; the buffer is left empty."""
        items = [item for item, _ in self._items]
        self._items.clear()
        self._bytes = 0
        return items

    def _half_empty(self) -> bool:
        return len(self._items) <= self.max_items // 2 and self._bytes <= self.max_bytes // 2

    def _wake(self) -> None:
        if self._room is not None and not self._room.done():
            self._room.set_result(None)
