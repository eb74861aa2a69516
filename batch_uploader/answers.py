"""What one attempt's answer means for its row and for the run.

The errorCode decides first (the API sends processing_error with HTTP 400); then the gateway's
own answers (429 for a throttle or a spent quota, 403) and the status; then the local codes
of attempts that got no answer at all.
"""

from __future__ import annotations

from enum import StrEnum

from batch_uploader.api import (
    FINAL_ERROR_CODES,
    GATEWAY_QUOTA_SPENT,
    RETRYABLE_ERROR_CODES,
    RETRYABLE_STATUSES,
    refuses_every_row,
)
from batch_uploader.client import (
    DNS_ERROR,
    NETWORK_ERROR,
    PROXY_ERROR,
    TIMEOUT,
    TLS_ERROR,
    Answer,
)

THROTTLED_STATUS = 429
# A proxy that wants credentials it was not given (or refuses them): nothing gets through.
PROXY_AUTHENTICATION_REQUIRED = 407


# A StrEnum, not an Enum: a plain Enum member hashes in Python, and every answer is looked
# up in the sets below.
class AnswerKind(StrEnum):
    """An answer's meaning, from the row's point of view and the run's."""

    ACCEPTED = "accepted"
    ROW_REFUSED = "row_refused"  # final for this row: a documented errorCode, a 413, ...
    RUN_REFUSED = "run_refused"  # no row can succeed: a wrong key, an IP deny, a dead project
    ROW_RETRYABLE = "row_retryable"  # processing_error: the API is up, this request failed
    THROTTLED = "throttled"  # 429 Too Many Requests: send slower
    QUOTA_SPENT = "quota_spent"  # 429 Limit Exceeded: nothing succeeds until the quota resets
    UNAVAILABLE = "unavailable"  # 5xx, a dropped connection, a timeout: maybe an outage
    UNREACHABLE = "unreachable"  # a certificate, a name, or a proxy that lets nothing through

    @property
    def retryable(self) -> bool:
        """Whether the row may be sent again (the run may still stop before it is)."""
        return self in _RETRYABLE

    @property
    def from_the_api(self) -> bool:
        """Whether the API itself answered, so the way to it works."""
        return self in _FROM_THE_API


_RETRYABLE = frozenset(
    {
        AnswerKind.ROW_RETRYABLE,
        AnswerKind.THROTTLED,
        AnswerKind.QUOTA_SPENT,
        AnswerKind.UNAVAILABLE,
        AnswerKind.UNREACHABLE,
    }
)
_FROM_THE_API = frozenset({AnswerKind.ACCEPTED, AnswerKind.ROW_REFUSED, AnswerKind.ROW_RETRYABLE})
_NO_ANSWER_CODES = {
    NETWORK_ERROR: AnswerKind.UNAVAILABLE,
    TIMEOUT: AnswerKind.UNAVAILABLE,
    TLS_ERROR: AnswerKind.UNREACHABLE,
    DNS_ERROR: AnswerKind.UNREACHABLE,
    PROXY_ERROR: AnswerKind.UNREACHABLE,
}


def classify(answer: Answer) -> AnswerKind:
    """The kind of one attempt's answer."""
    if answer.accepted:
        return AnswerKind.ACCEPTED
    if answer.http_status is None:
        return _NO_ANSWER_CODES.get(answer.error_code, AnswerKind.ROW_REFUSED)
    return _kind_of_refusal(answer)


def _kind_of_refusal(answer: Answer) -> AnswerKind:
    if refuses_every_row(answer.http_status, answer.error_code):
        return AnswerKind.RUN_REFUSED
    if answer.error_code in RETRYABLE_ERROR_CODES:
        return AnswerKind.ROW_RETRYABLE
    if answer.error_code in FINAL_ERROR_CODES:
        return AnswerKind.ROW_REFUSED
    return _kind_of_status(answer)


def _kind_of_status(answer: Answer) -> AnswerKind:
    """An answer without an errorCode of the API's own: the gateway's, or a proxy's."""
    if answer.http_status == PROXY_AUTHENTICATION_REQUIRED:
        return AnswerKind.UNREACHABLE
    if answer.http_status == THROTTLED_STATUS:
        quota_spent = answer.message == GATEWAY_QUOTA_SPENT
        return AnswerKind.QUOTA_SPENT if quota_spent else AnswerKind.THROTTLED
    if answer.http_status in RETRYABLE_STATUSES:
        return AnswerKind.UNAVAILABLE
    return AnswerKind.ROW_REFUSED
