"""Faults the mock server can answer valid requests with, and plans that choose them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from enum import StrEnum


class Fault(StrEnum):
    """Failures the server can be told to answer a valid request with."""

    PROCESSING_ERROR = "processing_error"  # HTTP 400, as the vendor sends it
    THROTTLED = "throttled"  # 429 with Retry-After
    BAD_GATEWAY = "bad_gateway"  # 502 with an HTML body
    UNAVAILABLE = "unavailable"  # 503, empty body
    DROP = "drop"  # the connection closes with no answer
    SLOW = "slow"  # the answer comes after `slow_seconds`


# Decides the fault for the n-th request (1-based) naming a submission, or None to accept it.
FaultPlan = Callable[[str, int], Fault | None]


def random_faults(rates: Mapping[Fault, float], *, seed: int = 0) -> FaultPlan:
    """Each fault for a seeded pseudo-random fraction `rates[fault]` of the requests.

    The draw depends only on (seed, submissionId, attempt), so the same run meets the same
    faults whatever order concurrent requests arrive in.
    """
    if sum(rates.values()) > 1 or any(rate < 0 for rate in rates.values()):
        raise ValueError("fault rates must be between 0 and 1 and add up to at most 1")

    def plan(submission_id: str, attempt: int) -> Fault | None:
        digest = hashlib.blake2b(f"{seed}:{submission_id}:{attempt}".encode(), digest_size=8)
        draw = int.from_bytes(digest.digest()) / 2**64
        for fault, rate in rates.items():
            if draw < rate:
                return fault
            draw -= rate
        return None

    return plan


def no_faults(submission_id: str, attempt: int) -> Fault | None:
    """The default plan: every valid request is accepted."""
    return None
