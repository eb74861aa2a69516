"""`--rate`: request starts spaced evenly across the whole run, retries included."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class RequestPacer:
    """Lets at most `rate` requests start per second, at least 1/rate seconds apart.

    Every worker asks before each attempt, so the limit holds whatever the concurrency.
    Written here rather than taken from aiolimiter: that library reads the event loop's own
    clock, and a pacer with an injected clock and sleep can be tested without waiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next_start: float | None = None

    async def wait_turn(self) -> None:
        """Return when this caller may start a request."""
        now = self._clock()
        start = now if self._next_start is None else max(now, self._next_start)
        # Reserve the slot before sleeping so concurrent callers queue behind each other.
        self._next_start = start + self._interval
        if start > now:
            await self._sleep(start - now)
