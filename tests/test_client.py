"""Turning HTTP answers, or their absence, into `Answer`s; never into exceptions.

Tested against a real in-process aiohttp.web server on loopback. (aioresponses 0.7.9
cannot build responses for aiohttp 3.14, so it is not used here.)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from batch_uploader import Answer
from batch_uploader.client import open_session, parse_retry_after

from .client_harness import CLIENT_KEY, FIELDS, NOW, Handler, answer_from, client


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with open_session(concurrency=2) as session:
        yield session


def replying(response: Callable[[], web.StreamResponse]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return response()

    return handle


async def answer_to(session: aiohttp.ClientSession, **reply: object) -> Answer:
    if "payload" in reply:
        payload = reply.pop("payload")
        return await answer_from(
            session,
            replying(lambda: web.json_response(payload, **reply)),  # type: ignore[arg-type]
        )
    return await answer_from(session, replying(lambda: web.Response(**reply)))  # type: ignore[arg-type]


async def test_success(session: aiohttp.ClientSession) -> None:
    answer = await answer_to(session, status=200, payload={"message": "complete to update image."})
    assert answer == Answer(http_status=200, message="complete to update image.")
    assert answer.accepted


async def test_api_error_code_and_message_are_read(session: aiohttp.ClientSession) -> None:
    body = {"errorCode": "processing_error", "message": "Failed to put image."}
    answer = await answer_to(session, status=400, payload=body)
    assert answer == Answer(
        http_status=400, error_code="processing_error", message="Failed to put image."
    )


async def test_html_502_becomes_http_502(session: aiohttp.ClientSession) -> None:
    answer = await answer_to(session, status=502, body="<html><h1>502 Bad Gateway</h1></html>")
    assert (answer.http_status, answer.error_code) == (502, "http_502")
    assert "<html>" not in answer.message


async def test_forbidden_without_error_code(session: aiohttp.ClientSession) -> None:
    answer = await answer_to(session, status=403, payload={"message": "Forbidden"})
    assert (answer.http_status, answer.error_code, answer.message) == (403, "http_403", "Forbidden")


async def test_retry_after_seconds_are_read(session: aiohttp.ClientSession) -> None:
    answer = await answer_to(session, status=429, headers={"Retry-After": "12"})
    assert (answer.error_code, answer.retry_after) == ("http_429", 12.0)


async def test_long_messages_are_cut_and_control_characters_removed(
    session: aiohttp.ClientSession,
) -> None:
    body = {"errorCode": "x", "message": "line\nbreak " + "y" * 1000}
    answer = await answer_to(session, status=400, payload=body)
    assert answer.message.startswith("line break y")
    assert len(answer.message) == 200


async def test_dropped_connection_is_a_network_error(session: aiohttp.ClientSession) -> None:
    async def drop(request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError

    answer = await answer_from(session, drop)
    assert (answer.http_status, answer.error_code) == (None, "network_error")


async def test_slow_answer_is_a_timeout(session: aiohttp.ClientSession) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    answer = await answer_from(session, hang, client_timeout=0.2)
    assert (answer.http_status, answer.error_code) == (None, "timeout")
    assert "0.2 s" in answer.message


async def test_refused_connection_is_a_network_error(session: aiohttp.ClientSession) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    answer = await client(session, f"http://127.0.0.1:{port}").put_images(FIELDS)
    assert (answer.http_status, answer.error_code) == (None, "network_error")


async def test_key_and_user_agent_are_sent(session: aiohttp.ClientSession) -> None:
    seen: dict[str, str] = {}

    async def record(request: web.Request) -> web.StreamResponse:
        seen.update(request.headers)
        await request.read()
        return web.json_response({"message": "complete to update image."})

    await answer_from(session, record)
    assert seen["x-api-key"] == CLIENT_KEY
    assert seen["User-Agent"].startswith("batch-uploader/")
    assert seen["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "chunked" not in seen.get("Transfer-Encoding", "")
    assert int(seen["Content-Length"]) > 0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        ("Fri, 27 Nov 2026 12:00:30 GMT", 30.0),
        ("Fri, 27 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds
