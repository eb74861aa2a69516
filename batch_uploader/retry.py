"""Every attempt of a row: which answers are worth another, how long to wait, and the loop.

The loop does no logging: it hands a `RetryEvent` to a hook, and the caller decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

from batch_uploader.api import FINAL_ERROR_CODES, RETRYABLE_ERROR_CODES, RETRYABLE_STATUSES
from batch_uploader.client import NETWORK_ERROR, TIMEOUT, Answer
from batch_uploader.events import RetryEvent
from batch_uploader.settings import RetryPolicy

# No answer at all is worth another attempt too.
_RETRYABLE_CODES = RETRYABLE_ERROR_CODES | {NETWORK_ERROR, TIMEOUT}


def is_retryable(answer: Answer) -> bool:
    """Decide on `errorCode` first: the API sends processing_error with HTTP 400."""
    if answer.accepted:
        return False
    if answer.error_code in _RETRYABLE_CODES:
        return True
    if answer.error_code in FINAL_ERROR_CODES:
        return False
    return answer.http_status in RETRYABLE_STATUSES


class WaitRetryAfterOrJitter(wait_base):
    """Full-jitter exponential backoff, replaced by the server's Retry-After when it sent one."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            answer = outcome.result()
            if isinstance(answer, Answer) and answer.retry_after is not None:
                return answer.retry_after
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
) -> Answer:
    """Call `send` until its answer is final or `policy.max_attempts` are spent.

    An exception from `send` or `sleep` ends the loop and propagates.
    """
    first = await send()
    if not is_retryable(first) or policy.max_attempts == 1:
        # Most rows end here: tenacity is set up only for rows that need a retry, since its
        # set-up costs more than the request's own bookkeeping.
        return first
    pending = [first]

    async def first_answer_then_send() -> Answer:
        return pending.pop() if pending else await send()

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None  # noqa: S101 (tenacity sleeps only after an outcome)
        wait = state.next_action.sleep if state.next_action else 0.0
        on_retry(RetryEvent(attempt=state.attempt_number, wait=wait, answer=state.outcome.result()))

    retrying = AsyncRetrying(
        retry=retry_if_result(is_retryable),
        stop=stop_after_attempt(policy.max_attempts),
        wait=WaitRetryAfterOrJitter(policy),
        sleep=sleep,
        before_sleep=before_sleep,
        retry_error_callback=_last_answer,
    )
    answer: Answer = await retrying(first_answer_then_send)
    return answer
