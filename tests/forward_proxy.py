"""A small forward proxy on loopback, as a corporate egress proxy: CONNECT for HTTPS, and
absolute-form requests for plain HTTP. It logs the first request line of every connection,
may require Basic credentials, and refuses any target but loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from batch_uploader.hosts import is_loopback


@dataclass
class ProxyLog:
    """What the proxy saw: each connection's request line, and what it refused."""

    lines: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunningProxy:
    url: str
    log: ProxyLog


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close and wait, so that no writer outlives the test's event loop."""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
        await writer.wait_closed()


def _target(method: str, target: str) -> tuple[str, int]:
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return host.strip("[]"), int(port)
    parts = urlsplit(target)
    return parts.hostname or "", parts.port or 80


async def _serve(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    log: ProxyLog,
    expected: str | None,
) -> None:
    """One client connection: its request line checked, then piped to the target."""
    try:
        head = await client_reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    host, port = _target(method, target)
    if expected is not None and headers.get("proxy-authorization") != expected:
        log.refused.append(lines[0])
        client_writer.write(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n"
            b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
        )
        await client_writer.drain()
        return
    if not is_loopback(host):
        log.refused.append(lines[0])
        return
    log.lines.append(lines[0])
    upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
    try:
        if method == "CONNECT":
            client_writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await client_writer.drain()
        else:
            upstream_writer.write(head)
        await asyncio.gather(
            _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer)
        )
    finally:
        await _close(upstream_writer)


@asynccontextmanager
async def running_proxy(*, credentials: str | None = None) -> AsyncIterator[RunningProxy]:
    """Serve on a free loopback port; `credentials` ("user:password") makes auth required."""
    log = ProxyLog()
    expected = f"Basic {base64.b64encode(credentials.encode()).decode()}" if credentials else None
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            # Only the shutdown below cancels a handler, which then ends normally: on Python
            # 3.11 a connection's task that ends cancelled makes asyncio log an error (its
            # done callback asks the task for its exception, which raises).
            with contextlib.suppress(asyncio.CancelledError):
                await _serve(reader, writer, log, expected)
        finally:
            await _close(writer)
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield RunningProxy(url=f"http://127.0.0.1:{port}", log=log)
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
