"""What an answer means for its row and for the run."""

from __future__ import annotations

import pytest

from batch_uploader import Answer
from batch_uploader.answers import AnswerKind, classify


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (Answer(http_status=200, message="complete to update image."), AnswerKind.ACCEPTED),
        (Answer(http_status=400, error_code="processing_error"), AnswerKind.ROW_RETRYABLE),
        (Answer(http_status=503, error_code="processing_error"), AnswerKind.ROW_RETRYABLE),
        (Answer(http_status=400, error_code="invalid_submission"), AnswerKind.ROW_REFUSED),
        (Answer(http_status=503, error_code="invalid_idType"), AnswerKind.ROW_REFUSED),
        (Answer(http_status=400, error_code="invalid_project"), AnswerKind.RUN_REFUSED),
        (
            Answer(http_status=403, error_code="http_403", message="Forbidden"),
            AnswerKind.RUN_REFUSED,
        ),
        (
            Answer(http_status=429, error_code="http_429", message="Limit Exceeded"),
            AnswerKind.QUOTA_SPENT,
        ),
        (
            Answer(http_status=429, error_code="http_429", message="Too Many Requests"),
            AnswerKind.THROTTLED,
        ),
        (Answer(http_status=429, error_code="http_429"), AnswerKind.THROTTLED),
        (Answer(http_status=502, error_code="http_502"), AnswerKind.UNAVAILABLE),
        (Answer(http_status=504, error_code="http_504"), AnswerKind.UNAVAILABLE),
        (Answer(http_status=413, error_code="http_413"), AnswerKind.ROW_REFUSED),
        (Answer(http_status=None, error_code="network_error"), AnswerKind.UNAVAILABLE),
        (Answer(http_status=None, error_code="timeout"), AnswerKind.UNAVAILABLE),
        (Answer(http_status=None, error_code="tls_error"), AnswerKind.UNREACHABLE),
        (Answer(http_status=None, error_code="dns_error"), AnswerKind.UNREACHABLE),
        (Answer(http_status=None, error_code="file_changed"), AnswerKind.ROW_REFUSED),
        (Answer(http_status=None, error_code="proxy_error"), AnswerKind.UNREACHABLE),
        (Answer(http_status=407, error_code="http_407"), AnswerKind.UNREACHABLE),
    ],
)
def test_each_answer_has_one_kind(answer: Answer, kind: AnswerKind) -> None:
    assert classify(answer) is kind


def test_only_the_api_itself_proves_the_way_to_it_works() -> None:
    from_the_api = {kind for kind in AnswerKind if kind.from_the_api}
    assert from_the_api == {AnswerKind.ACCEPTED, AnswerKind.ROW_REFUSED, AnswerKind.ROW_RETRYABLE}
