"""A local server that answers `PUT /v3/submission/image` the way the vendor's API does.

It checks the key, the multipart form and every field, answers each documented errorCode,
injects faults when asked (`FaultPlan`), and remembers what it accepted so tests and the
demo can prove delivery. A development tool: it binds to loopback unless told otherwise.
It takes the contract from `batch_uploader.api` and nothing from the client side.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import signal
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from batch_uploader import api
from batch_uploader.mock.faults import Fault, FaultPlan, no_faults
from batch_uploader.mock.gateway import REFUSAL_ANSWERS, Gateway, GatewayConfig, GatewayRefusal

# Deep enough for clients that open thousands of connections at once (--concurrency 4096).
LISTEN_BACKLOG = 8192


@dataclass(kw_only=True)
class MockConfig:
    """How the mock server behaves."""

    api_key: str = field(repr=False)
    admins: frozenset[str] = frozenset()
    submissions: frozenset[str] | None = None
    faults: FaultPlan = no_faults
    inactive_project: bool = False
    fast: bool = False
    latency_seconds: float = 0.0
    retry_after_seconds: int = 1
    slow_seconds: float = 5.0
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time


@dataclass
class Received:
    """What the server saw: request counts and the images it accepted."""

    requests: int = 0
    body_bytes: int = 0  # the Content-Length of every request, summed
    requests_by_submission: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, dict[str, str]] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "bodyBytes": self.body_bytes,
            "requestsBySubmission": dict(self.requests_by_submission),
            "accepted": self.accepted,
            "answers": dict(self.answers),
            "peakInFlight": self.peak_in_flight,
        }


class _Refusal(Exception):  # noqa: N818 (control flow inside the handler, never escapes)
    def __init__(self, error: api.DocumentedError) -> None:
        super().__init__(error.message)
        self.error = error


def create_app(config: MockConfig, received: Received | None = None) -> web.Application:
    """The aiohttp application; `received` collects what it saw."""
    app = web.Application(client_max_size=api.GATEWAY_LIMIT_BYTES * 2)
    handler = _Handler(config, received if received is not None else Received())
    app.router.add_put(api.ENDPOINT, handler.put_image_fast if config.fast else handler.put_image)
    app.router.add_get("/_mock/received", handler.show_received)
    app.on_cleanup.append(handler.cancel_unfinished)
    return app


class _Handler:
    def __init__(self, config: MockConfig, received: Received) -> None:
        self.config = config
        self.received = received
        self.gateway = Gateway(config.gateway, clock=config.clock, wall_clock=config.wall_clock)
        self.answering: set[asyncio.Task[object]] = set()

    async def cancel_unfinished(self, app: web.Application) -> None:
        """At shutdown, end the answers still being made.

        aiohttp's shutdown waits for the handlers of open connections, then cancels them; a
        handler whose client has already gone (it timed out on a slow answer) it leaves
        running, to outlive the server and then the event loop.
        """
        unfinished = list(self.answering)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Keep the handler's task in `answering` while it makes its answer."""
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 (aiohttp runs every handler in a task)
        self.answering.add(task)
        try:
            yield
        finally:
            self.answering.discard(task)

    async def show_received(self, request: web.Request) -> web.Response:
        refusals = self.gateway.quota_refusals_by_period
        return web.json_response(
            {**self.received.as_json(), "quotaRefusalsByPeriod": dict(sorted(refusals.items()))}
        )

    async def put_image_fast(self, request: web.Request) -> web.StreamResponse:
        """For benchmarks: check the key, read the body, accept; no parsing, no records."""
        self.received.requests += 1
        with self._answering():
            await request.read()
            if self.config.latency_seconds:
                await asyncio.sleep(self.config.latency_seconds)
            if request.headers.get(api.API_KEY_HEADER) != self.config.api_key:
                return web.json_response({"message": api.GATEWAY_FORBIDDEN}, status=403)
            gateway_refusal = self.gateway.refusal()
            if gateway_refusal is not None:
                return self._gateway_answer(request, gateway_refusal)
            return web.json_response({"message": api.ACCEPTED_MESSAGE})

    async def put_image(self, request: web.Request) -> web.StreamResponse:
        received = self.received
        received.requests += 1
        received.body_bytes += request.content_length or 0
        received.in_flight += 1
        received.peak_in_flight = max(received.peak_in_flight, received.in_flight)
        try:
            with self._answering():
                return await self._put_image(request)
        finally:
            received.in_flight -= 1

    async def _put_image(self, request: web.Request) -> web.StreamResponse:
        if self.config.latency_seconds:
            await asyncio.sleep(self.config.latency_seconds)
        if request.headers.get(api.API_KEY_HEADER) != self.config.api_key:
            return self._answer(
                "forbidden", web.json_response({"message": api.GATEWAY_FORBIDDEN}, status=403)
            )
        gateway_refusal = self.gateway.refusal()
        if gateway_refusal is not None:
            await request.read()
            return self._gateway_answer(request, gateway_refusal)
        if (request.content_length or 0) > api.GATEWAY_LIMIT_BYTES:
            return self._answer("too_large", web.Response(status=413, text=api.GATEWAY_TOO_LARGE))
        try:
            form = await _read_form(request)
            submission_id, images = self._check(form)
        except _Refusal as refusal:
            return self._answer(refusal.error.code, _error_response(refusal.error))
        self.received.requests_by_submission[submission_id] += 1
        attempt = self.received.requests_by_submission[submission_id]
        fault = self.config.faults(submission_id, attempt)
        if fault is not None:
            return await self._fault(request, fault)
        self.received.accepted[submission_id] = {
            **self.received.accepted.get(submission_id, {}),
            **{name: hashlib.sha256(content).hexdigest() for name, content in images.items()},
        }
        return self._answer("ok", web.json_response({"message": api.ACCEPTED_MESSAGE}))

    def _check(self, form: MultiDict[str]) -> tuple[str, dict[str, bytes]]:
        if self.config.inactive_project:
            raise _Refusal(api.INVALID_PROJECT)
        submission_id = form.get(api.SUBMISSION_ID, "")
        admin = form.get(api.ADMIN, "")
        if not submission_id or not admin:
            raise _Refusal(api.MISSING_DATA)
        if self.config.admins and admin not in self.config.admins:
            raise _Refusal(api.INVALID_ADMIN)
        if self.config.submissions is not None and submission_id not in self.config.submissions:
            raise _Refusal(api.INVALID_SUBMISSION)
        present = [name for name in api.IMAGE_FIELDS if form.get(name)]
        if not present:
            raise _Refusal(api.INVALID_DATA)
        id_type = form.get(api.ID_TYPE, "")
        if api.ID_DOCUMENT_FIELDS.intersection(present) and not id_type:
            raise _Refusal(api.MISSING_ID_TYPE)
        if id_type and id_type not in api.DOCUMENTED_ID_TYPES:
            raise _Refusal(api.INVALID_ID_TYPE)
        return submission_id, {name: _decode_image(form[name]) for name in present}

    def _gateway_answer(self, request: web.Request, refusal: GatewayRefusal) -> web.StreamResponse:
        if refusal in REFUSAL_ANSWERS:
            status, message = REFUSAL_ANSWERS[refusal]
            return self._answer(refusal, web.json_response({"message": message}, status=status))
        if self.config.gateway.outage_drops:
            self._drop(request, refusal)
        return self._answer(refusal, web.Response(status=503))

    def _drop(self, request: web.Request, label: str) -> NoReturn:
        self.received.answers[label] += 1
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError  # nothing more to say on a closed connection

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault is Fault.PROCESSING_ERROR:
            return self._answer(fault, _error_response(api.PROCESSING_ERROR))
        if fault is Fault.THROTTLED:
            headers = {"Retry-After": str(self.config.retry_after_seconds)}
            return self._answer(
                fault,
                web.json_response({"message": api.GATEWAY_THROTTLED}, status=429, headers=headers),
            )
        if fault is Fault.BAD_GATEWAY:
            html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return self._answer(
                fault, web.Response(status=502, text=html, content_type="text/html")
            )
        if fault is Fault.UNAVAILABLE:
            return self._answer(fault, web.Response(status=503))
        if fault is Fault.DROP:
            self._drop(request, fault)
        await asyncio.sleep(self.config.slow_seconds)
        return self._answer(fault, web.json_response({"message": api.ACCEPTED_MESSAGE}))

    def _answer(self, label: str, response: web.StreamResponse) -> web.StreamResponse:
        self.received.answers[label] += 1
        return response


async def _read_form(request: web.Request) -> MultiDict[str]:
    if request.content_type != "multipart/form-data":
        raise _Refusal(api.INVALID_PAYLOAD)
    form: MultiDict[str] = MultiDict()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            # A file upload (a filename) or a nested multipart is not a plain text field.
            if not isinstance(part, BodyPartReader) or part.filename is not None or not part.name:
                raise _Refusal(api.INVALID_PAYLOAD)
            content = await part.read()
            form.add(part.name, content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, AssertionError):
        raise _Refusal(api.INVALID_PAYLOAD) from None
    return form


def _error_response(error: api.DocumentedError) -> web.Response:
    # The vendor's guide files every errorCode under HTTP 400, processing_error included.
    return web.json_response({"errorCode": error.code, "message": error.message}, status=400)


def _decode_image(text: str) -> bytes:
    try:
        content = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise _Refusal(api.INVALID_PAYLOAD) from None
    if not (content.startswith(api.JPEG_MAGIC) or content.startswith(api.PNG_MAGIC)):
        raise _Refusal(api.INVALID_PAYLOAD)
    return content


@dataclass(frozen=True, slots=True)
class RunningMockServer:
    """A started mock server: where it listens and what it has received."""

    url: str
    received: Received


@asynccontextmanager
async def running_mock_server(
    config: MockConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[RunningMockServer]:
    """Serve on `host`:`port` (0 picks a free port) until the block ends; HTTPS with `tls`."""
    received = Received()
    runner = web.AppRunner(create_app(config, received), shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=tls, backlog=LISTEN_BACKLOG)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        scheme = "https" if tls is not None else "http"
        yield RunningMockServer(url=f"{scheme}://{url_host}:{bound_port}", received=received)
    finally:
        await runner.cleanup()


async def serve_until_stopped(
    config: MockConfig,
    *,
    host: str,
    port: int,
    tls: ssl.SSLContext | None = None,
    on_ready: Callable[[RunningMockServer], None],
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    async with running_mock_server(config, host=host, port=port, tls=tls) as server:
        on_ready(server)
        await stop.wait()
