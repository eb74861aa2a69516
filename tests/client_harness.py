"""One `ArgosClient` attempt against a handler served by a real aiohttp server on loopback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from batch_uploader.api import ENDPOINT
from batch_uploader.client import Answer, ArgosClient
from batch_uploader.multipart import FormFields

FIELDS: FormFields = [
    ("submissionId", b"s1"),
    ("admin", b"a@x.io"),
    ("selfieImage", b"iVBORw0KGgo="),
]
NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
CLIENT_KEY = "k-123"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client(
    session: aiohttp.ClientSession, base_url: str, timeout: float = 5, *, api_key: str = CLIENT_KEY
) -> ArgosClient:
    """A client with a fixed key and a clock stopped at NOW (for Retry-After dates)."""
    return ArgosClient(
        session, base_url=base_url, api_key=api_key, timeout=timeout, now=lambda: NOW
    )


async def answer_from(
    session: aiohttp.ClientSession,
    handler: Handler,
    client_timeout: float = 5,
    fields: FormFields = FIELDS,
) -> Answer:
    """The answer of one attempt to a server that runs `handler` for the endpoint."""
    app = web.Application(client_max_size=50 * 1024 * 1024)
    app.router.add_put(ENDPOINT, handler)
    async with TestServer(app, host="127.0.0.1") as server:
        base_url = str(server.make_url("/"))
        return await client(session, base_url, client_timeout).put_images(fields)
