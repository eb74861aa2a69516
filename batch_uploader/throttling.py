"""How fast the run may send after the API throttled it: CUBIC, as botocore's adaptive mode.

On a throttle the rate drops to `BETA` times what the run was sending; then it grows back
along a cubic curve that rises fast, flattens out near the rate that was throttled, and only
then probes above it (`W(t) = C (t - K)^3 + W_max`). Processes that share a key (shards)
each do the same and settle on their shares, as TCP flows do.

Written here rather than taken from botocore: its limiter blocks threads with
`time.sleep`, while a run is one asyncio loop whose clock tests inject.
"""

from __future__ import annotations

from dataclasses import dataclass

# botocore's constants (botocore/retries/cubic.py and adaptive.py).
BETA = 0.7
SCALE = 0.4
MIN_RATE = 0.5
# Never allow more than this many times the rate the run actually sends.
MAX_RATE_FACTOR = 2.0
# The send rate is measured in buckets this long and smoothed across them.
BUCKET_SECONDS = 0.5
SMOOTHING = 0.8


class SendRateMeter:
    """The run's smoothed send rate, in requests per second."""

    def __init__(self, now: float) -> None:
        self._bucket_start = now
        self._count = 0
        self._rate: float | None = None

    def record(self, now: float) -> None:
        self._close_buckets(now)
        self._count += 1

    def rate(self, now: float) -> float:
        self._close_buckets(now)
        if self._rate is not None:
            return self._rate
        return self._count / max(now - self._bucket_start, BUCKET_SECONDS)

    def _close_buckets(self, now: float) -> None:
        elapsed = now - self._bucket_start
        if elapsed < BUCKET_SECONDS:
            return
        measured = self._count / elapsed
        self._rate = (
            measured if self._rate is None else SMOOTHING * measured + (1 - SMOOTHING) * self._rate
        )
        self._bucket_start = now
        self._count = 0


@dataclass
class CubicRate:
    """The rate allowed after the first throttle; None before it (no limit of our own)."""

    limit: float | None = None
    _max_rate: float = 0.0
    _zero_point: float = 0.0
    _last_cut: float = 0.0

    def on_throttle(self, now: float, sent_at: float, sending_rate: float) -> bool:
        """A request sent at `sent_at` was throttled; cut the rate unless it was cut since.

        Answers to requests sent before the last cut say nothing new: cutting again for each
        of them would divide the rate by the number in flight. True when the rate was cut.
        """
        if self.limit is not None and sent_at < self._last_cut:
            return False
        rate = sending_rate if self.limit is None else min(sending_rate, self.limit)
        self._max_rate = max(rate, MIN_RATE)
        self._zero_point = (self._max_rate * (1 - BETA) / SCALE) ** (1 / 3)
        self._last_cut = now
        self.limit = max(self._max_rate * BETA, MIN_RATE)
        return True

    def on_success(self, now: float, sending_rate: float) -> None:
        """An answer that was not throttled: let the rate grow back along the curve."""
        if self.limit is None:
            return
        grown = SCALE * (now - self._last_cut - self._zero_point) ** 3 + self._max_rate
        self.limit = max(MIN_RATE, min(grown, MAX_RATE_FACTOR * max(sending_rate, MIN_RATE)))
