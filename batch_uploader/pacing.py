"""Request starts spaced evenly across the whole run, retries included: `--rate`, and the
lower rate the run holds itself to after the API throttled it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# A waiter rechecks its turn at least this often, so a rate that rises is felt at once.
MAX_NAP_SECONDS = 0.5


class RequestPacer:
    """Lets at most `rate` requests start per second, at least 1/rate seconds apart.

    Every worker asks before each attempt, so the limit holds whatever the concurrency. A rate
    of None lets every request start at once. The rate may change at any time (the run lowers
    it after a throttle and raises it again): waiters nap until about their turn and check
    again, rather than holding slots reserved at an old rate. Written here rather than taken
    from aiolimiter: that library reads the event loop's own clock, and a pacer with an
    injected clock and sleep can be tested without waiting.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._interval = 0.0
        self._next_start: float | None = None
        self._waiting = 0
        self._served = 0
        self.rate = rate

    @property
    def rate(self) -> float | None:
        return 1.0 / self._interval if self._interval else None

    @rate.setter
    def rate(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate if rate is not None else 0.0

    @property
    def limited(self) -> bool:
        """Whether callers may have to wait at all (a rate is set)."""
        return bool(self._interval)

    async def wait_turn(self) -> None:
        """Return when this caller may start a request."""
        if not self._interval:
            return
        queued_behind = self._waiting
        served_before = self._served
        self._waiting += 1
        try:
            while self._interval:
                now = self._clock()
                next_start = now if self._next_start is None else self._next_start
                if now >= next_start:
                    self._next_start = max(next_start, now) + self._interval
                    self._served += 1
                    return
                # Those ahead go first: sleep until about this caller's turn, then check.
                ahead = max(queued_behind - (self._served - served_before), 0)
                turn = next_start + ahead * self._interval
                await self._sleep(min(turn - now, MAX_NAP_SECONDS))
        finally:
            self._waiting -= 1
