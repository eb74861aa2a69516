"""The client on the network: what it sends, and no answer (drops, timeouts, refusals)
becoming an `Answer`, never an exception.

Tested against a real in-process aiohttp.web server on loopback; the reading of answers
themselves is in test_client_answers.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st

from batch_uploader.client import open_session, parse_retry_after

from .client_harness import CLIENT_KEY, FIELDS, NOW, answer_from, client


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with open_session(concurrency=2) as session:
        yield session


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
        # "²".isdigit() is true and float("²") raises: this crashed whole runs.
        ("²", None),
        ("\uff11\uff12", None),  # full-width digits
        ("1e3", None),
        (" 7 ", 7.0),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@given(st.text())
def test_no_retry_after_header_can_raise(header: str) -> None:
    seconds = parse_retry_after(header, NOW)
    assert seconds is None or seconds >= 0


class NoNames(AbstractResolver):
    """A resolver for which no name exists: no lookup leaves the machine."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_a_name_that_does_not_resolve_is_a_dns_error_naming_it() -> None:
    async with open_session(concurrency=1, resolver=NoNames()) as session:
        answer = await client(session, "https://rest-api.argos.invalid").put_images(FIELDS)
    assert (answer.http_status, answer.error_code) == (None, "dns_error")
    assert answer.message == (
        "the host name rest-api.argos.invalid does not resolve: Name or service not known"
    )
