"""How the client reads what the API answers: bodies and headers, built with aioresponses.

Network-level behaviour (dropped connections, timeouts, what is sent) is tested against a
real server in test_client.py; here only the reading of answers, which aioresponses can
build in any shape without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from batch_uploader import Answer
from batch_uploader.api import ENDPOINT
from batch_uploader.client import open_session

from .aioresponses_compat import response_class
from .client_harness import FIELDS, client

BASE_URL = "https://argos.invalid"


@dataclass
class MockedApi:
    """Answers the next PUT to the endpoint as told, then lets the client read it."""

    mocked: aioresponses
    session: aiohttp.ClientSession
    response_class: type[aiohttp.ClientResponse]

    async def answer_to_put(self, **reply: Any) -> Answer:
        self.mocked.put(BASE_URL + ENDPOINT, response_class=self.response_class, **reply)
        return await client(self.session, BASE_URL).put_images(FIELDS)


@pytest.fixture
async def api() -> AsyncIterator[MockedApi]:
    chosen = await response_class()
    with aioresponses() as mocked:
        async with open_session(concurrency=1) as session:
            yield MockedApi(mocked, session, chosen)


async def test_success(api: MockedApi) -> None:
    answer = await api.answer_to_put(status=200, payload={"message": "complete to update image."})
    assert answer == Answer(http_status=200, message="complete to update image.")
    assert answer.accepted


async def test_api_error_code_and_message_are_read(api: MockedApi) -> None:
    body = {"errorCode": "processing_error", "message": "Failed to put image."}
    answer = await api.answer_to_put(status=400, payload=body)
    assert answer == Answer(
        http_status=400, error_code="processing_error", message="Failed to put image."
    )


async def test_an_html_502_becomes_http_502_without_its_html(api: MockedApi) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    answer = await api.answer_to_put(status=502, body=html, content_type="text/html")
    assert (answer.http_status, answer.error_code) == (502, "http_502")
    assert "<" not in answer.message


async def test_the_gateway_forbidden_answer_has_no_error_code(api: MockedApi) -> None:
    answer = await api.answer_to_put(status=403, payload={"message": "Forbidden"})
    assert (answer.http_status, answer.error_code, answer.message) == (403, "http_403", "Forbidden")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"errorCode": ',
        b"[1, 2, 3]",
        b'"just a string"',
        b"null",
        b'{"errorCode": 42, "message": ["not", "text"]}',
        b"\xff\xfe not utf-8",
    ],
)
async def test_bad_json_gives_the_status_and_never_raises(api: MockedApi, body: bytes) -> None:
    answer = await api.answer_to_put(status=503, body=body)
    assert (answer.http_status, answer.error_code) == (503, "http_503")
    assert answer.message.startswith("HTTP 503")


async def test_json_with_a_wrong_content_type_is_still_read(api: MockedApi) -> None:
    body = '{"errorCode": "invalid_admin", "message": "Invalid admin."}'
    answer = await api.answer_to_put(status=400, body=body, content_type="text/html")
    assert answer.error_code == "invalid_admin"


async def test_long_messages_are_cut_and_control_characters_removed(api: MockedApi) -> None:
    body = {"errorCode": "x", "message": "line\nbreak\x1b[31m " + "y" * 1000}
    answer = await api.answer_to_put(status=400, payload=body)
    assert answer.message.startswith("line break [31m y")
    assert len(answer.message) == 200


async def test_a_body_over_64_kib_is_read_only_in_part(api: MockedApi) -> None:
    # aioresponses holds a body in one buffer, and one over 128 KiB trips its stand-in
    # connection; test_hostile_input sends 20 MB through a real socket.
    answer = await api.answer_to_put(status=400, body=b'{"message": "' + b"y" * 100_000)
    assert (answer.http_status, answer.error_code) == (400, "http_400")
    assert len(answer.message) < 300


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("12", 12.0), ("Fri, 27 Nov 2026 12:00:30 GMT", 30.0), ("soon", None), ("", None)],
)
async def test_retry_after_is_read_from_the_answer(
    api: MockedApi, header: str, seconds: float | None
) -> None:
    answer = await api.answer_to_put(status=429, headers={"Retry-After": header})
    assert (answer.error_code, answer.retry_after) == ("http_429", seconds)
