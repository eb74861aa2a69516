"""Every attempt of a row: which answers are worth another, how long to wait, and the loop.

The loop does no logging: it hands a `RetryEvent` to a hook, and the caller decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_result
from tenacity.wait import wait_base, wait_random_exponential

from batch_uploader.answers import classify
from batch_uploader.client import Answer
from batch_uploader.events import RetryEvent
from batch_uploader.settings import RetryPolicy


def is_retryable(answer: Answer) -> bool:
    """Whether the row may be sent again; see `answers.classify`."""
    return classify(answer).retryable


class WaitRetryAfterOrJitter(wait_base):
    """Full-jitter exponential backoff, replaced by the server's Retry-After when it sent one
    (at most `retry_after_cap` seconds: a header can ask for a day)."""

    def __init__(self, policy: RetryPolicy, retry_after_cap: float = float("inf")) -> None:
        self._backoff = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
        self._retry_after_cap = retry_after_cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            answer = outcome.result()
            if isinstance(answer, Answer) and answer.retry_after is not None:
                return min(answer.retry_after, self._retry_after_cap)
        return float(self._backoff(retry_state))


def _last_answer(state: RetryCallState) -> Answer:
    """When attempts run out, the row ends with the last answer rather than an exception."""
    assert state.outcome is not None  # noqa: S101 (called only after an attempt)
    answer: Answer = state.outcome.result()
    return answer


async def send_with_retries(
    send: Callable[[], Awaitable[Answer]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    on_retry: Callable[[RetryEvent], None],
    attempts_charged: Callable[[], int] | None = None,
    retry_after_cap: float = float("inf"),
    first: Answer | None = None,
) -> Answer:
    """Call `send` until its answer is final or `policy.max_attempts` are spent.

    `attempts_charged` says how many attempts count against `max_attempts` (the run does not
    charge a row for a spent quota, a throttle or an outage); by default every attempt does.
    `first` is the answer of a first attempt the caller already made. An exception from
    `send` or `sleep` ends the loop and propagates.
    """
    if first is None:
        first = await send()
    # Most rows end here: the loop below (and tenacity's set-up, which costs more than the
    # request's own bookkeeping) is built only for rows that need a retry.
    if not is_retryable(first):
        return first
    calls = 1

    async def counted_send() -> Answer:
        nonlocal calls
        calls += 1
        return await send()

    def spent() -> bool:
        used = attempts_charged() if attempts_charged is not None else calls
        return used >= policy.max_attempts

    if spent():
        return first
    pending = [first]

    async def first_answer_then_send() -> Answer:
        return pending.pop() if pending else await counted_send()

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None  # noqa: S101 (tenacity sleeps only after an outcome)
        wait = state.next_action.sleep if state.next_action else 0.0
        on_retry(RetryEvent(attempt=state.attempt_number, wait=wait, answer=state.outcome.result()))

    retrying = AsyncRetrying(
        retry=retry_if_result(is_retryable),
        stop=lambda state: spent(),
        wait=WaitRetryAfterOrJitter(policy, retry_after_cap),
        sleep=sleep,
        before_sleep=before_sleep,
        retry_error_callback=_last_answer,
    )
    answer: Answer = await retrying(first_answer_then_send)
    return answer
