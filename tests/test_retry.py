"""Which answers are retried, how long the waits are, and how many attempts a row gets."""

from __future__ import annotations

import random

import pytest
from tenacity import RetryCallState

from batch_uploader import Answer, RetryEvent
from batch_uploader.retry import WaitRetryAfterOrJitter, is_retryable, send_with_retries
from batch_uploader.settings import RetryPolicy

API_ERRORS = [
    ("invalid_payload", False),
    ("missing_data", False),
    ("invalid_project", False),
    ("invalid_admin", False),
    ("invalid_submission", False),
    ("invalid_data", False),
    ("invalid_idType", False),
    ("processing_error", True),
]


@pytest.mark.parametrize(("error_code", "retryable"), API_ERRORS)
def test_api_error_codes_decide_whatever_the_status(error_code: str, retryable: bool) -> None:
    for status in (400, 500, 503):
        assert is_retryable(Answer(http_status=status, error_code=error_code)) is retryable


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (Answer(http_status=200, message="complete to update image."), False),
        (Answer(http_status=429, error_code="http_429"), True),
        (Answer(http_status=500, error_code="http_500"), True),
        (Answer(http_status=502, error_code="http_502"), True),
        (Answer(http_status=503, error_code="http_503"), True),
        (Answer(http_status=504, error_code="http_504"), True),
        (Answer(http_status=503, error_code="service_busy"), True),
        (Answer(http_status=403, error_code="http_403"), False),
        (Answer(http_status=413, error_code="http_413"), False),
        (Answer(http_status=400, error_code="something_new"), False),
        (Answer(http_status=None, error_code="network_error"), True),
        (Answer(http_status=None, error_code="timeout"), True),
        # The run stops at once on these (test_gate.py); the row is left to a later run.
        (Answer(http_status=None, error_code="tls_error"), True),
        (Answer(http_status=None, error_code="dns_error"), True),
        (Answer(http_status=None, error_code="file_changed"), False),
        (Answer(http_status=429, error_code="http_429", message="Limit Exceeded"), True),
    ],
)
def test_transient_answers_are_retried(answer: Answer, retryable: bool) -> None:
    assert is_retryable(answer) is retryable


def wait_after(attempt: int, answer: Answer, policy: RetryPolicy) -> float:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_result(answer)
    return WaitRetryAfterOrJitter(policy)(state)


def test_backoff_is_full_jitter_doubling_from_half_a_second_up_to_30() -> None:
    random.seed(7)
    policy = RetryPolicy()
    answer = Answer(http_status=503, error_code="http_503")
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (20, 30.0)]:
        waits = [wait_after(attempt, answer, policy) for _ in range(400)]
        assert all(0.0 <= wait <= ceiling for wait in waits)
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(waits) < ceiling * 0.1
        assert max(waits) > ceiling * 0.9


def test_retry_after_replaces_the_backoff() -> None:
    answer = Answer(http_status=429, error_code="http_429", retry_after=42.0)
    assert wait_after(1, answer, RetryPolicy()) == 42.0


class Script:
    """Answers in order, then the last one forever; records the waits it was asked to sleep."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.waits: list[float] = []
        self.events: list[RetryEvent] = []

    async def send(self) -> Answer:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


OK = Answer(http_status=200, message="complete to update image.")
PROCESSING = Answer(http_status=400, error_code="processing_error", message="Failed to put image.")


async def test_processing_error_is_retried_until_success() -> None:
    script = Script(PROCESSING, PROCESSING, OK)
    answer = await send_with_retries(
        script.send, RetryPolicy(initial_wait=0), sleep=script.sleep, on_retry=script.events.append
    )
    assert answer == OK
    assert script.calls == 3
    assert script.waits == [0.0, 0.0]
    assert [(event.attempt, event.answer) for event in script.events] == [
        (1, PROCESSING),
        (2, PROCESSING),
    ]


async def test_attempts_stop_at_max_attempts_with_the_last_answer() -> None:
    script = Script(PROCESSING)
    answer = await send_with_retries(
        script.send, RetryPolicy(max_attempts=3), sleep=script.sleep, on_retry=script.events.append
    )
    assert answer == PROCESSING
    assert script.calls == 3
    assert len(script.waits) == 2


async def test_a_first_answer_given_counts_as_the_first_attempt() -> None:
    script = Script(PROCESSING)
    answer = await send_with_retries(
        script.send,
        RetryPolicy(max_attempts=3, initial_wait=0),
        sleep=script.sleep,
        on_retry=script.events.append,
        first=PROCESSING,
    )
    assert answer == PROCESSING
    assert script.calls == 2  # attempts 2 and 3: the first was made by the caller
    assert [event.attempt for event in script.events] == [1, 2]


async def test_final_answer_is_not_retried() -> None:
    refused = Answer(http_status=400, error_code="invalid_submission")
    script = Script(refused, OK)
    answer = await send_with_retries(
        script.send, RetryPolicy(), sleep=script.sleep, on_retry=script.events.append
    )
    assert (answer, script.calls, script.waits) == (refused, 1, [])


async def test_retry_after_is_what_the_loop_sleeps() -> None:
    throttled = Answer(http_status=429, error_code="http_429", retry_after=7.0)
    script = Script(throttled, OK)
    await send_with_retries(
        script.send, RetryPolicy(), sleep=script.sleep, on_retry=script.events.append
    )
    assert script.waits == [7.0]
    assert script.events[0].wait == 7.0
