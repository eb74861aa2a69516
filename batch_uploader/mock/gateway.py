"""What API Gateway answers before a request reaches the API: an IP deny-list, a token-bucket
throttle, a quota per period, and an outage window.

Each check reads an injected clock, so tests can move time by hand.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from batch_uploader import api


class GatewayRefusal(StrEnum):
    """Why the gateway answers a request itself; the value labels it in `Received.answers`."""

    IP_DENIED = "ip_denied"  # 403, the allow-list's explicit deny
    RATE_LIMITED = "rate_limited"  # 429 Too Many Requests
    QUOTA_SPENT = "quota_spent"  # 429 Limit Exceeded
    OUTAGE = "outage"  # 503 with an empty body, or a dropped connection


# Gateway answers that are a status and a message.
REFUSAL_ANSWERS = {
    GatewayRefusal.IP_DENIED: (403, api.GATEWAY_IP_DENIED),
    GatewayRefusal.RATE_LIMITED: (429, api.GATEWAY_THROTTLED),
    GatewayRefusal.QUOTA_SPENT: (429, api.GATEWAY_QUOTA_SPENT),
}


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """The gateway's limits; None turns a check off.

    `quota` requests are let through per `quota_period` seconds, in windows aligned to the
    Unix epoch (so the default period, one day, resets at 00:00 UTC). The throttle is a token
    bucket of `rate_limit` tokens a second holding at most `burst`. After `outage_after`
    requests, every request for `outage_seconds` is answered 503, or dropped.
    """

    ip_denied: bool = False
    rate_limit: float | None = None
    burst: int | None = None
    quota: int | None = None
    quota_period: float = 86_400.0
    outage_after: int | None = None
    outage_seconds: float = 0.0
    outage_drops: bool = False


class Gateway:
    """Decides, request by request, whether the gateway answers in the API's place."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        self._wall_clock = wall_clock
        self._tokens = float(self._burst())
        self._refilled_at = clock()
        self._quota_window: int | None = None
        self._quota_used = 0
        # Requests refused for the quota, by period (its number since the epoch).
        self.quota_refusals_by_period: Counter[int] = Counter()
        self._requests = 0
        self._outage_ends: float | None = None

    def refusal(self) -> GatewayRefusal | None:
        """The gateway's answer to the next request (that carried the right key), if any."""
        config = self.config
        if config.ip_denied:
            return GatewayRefusal.IP_DENIED
        if config.rate_limit is not None and not self._take_token(config.rate_limit):
            return GatewayRefusal.RATE_LIMITED
        if config.quota is not None and not self._within_quota(config.quota):
            return GatewayRefusal.QUOTA_SPENT
        self._requests += 1
        if self._in_outage():
            return GatewayRefusal.OUTAGE
        return None

    def _burst(self) -> int:
        if self.config.burst is not None:
            return self.config.burst
        return max(1, math.ceil(self.config.rate_limit or 1))

    def _take_token(self, rate: float) -> bool:
        now = self._clock()
        self._tokens = min(self._burst(), self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _within_quota(self, quota: int) -> bool:
        window = math.floor(self._wall_clock() / self.config.quota_period)
        if window != self._quota_window:
            self._quota_window = window
            self._quota_used = 0
        if self._quota_used >= quota:
            self.quota_refusals_by_period[window] += 1
            return False
        self._quota_used += 1
        return True

    def _in_outage(self) -> bool:
        config = self.config
        if config.outage_after is None or self._requests <= config.outage_after:
            return False
        if self._outage_ends is None:
            self._outage_ends = self._clock() + config.outage_seconds
        return self._clock() < self._outage_ends
