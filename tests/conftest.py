"""Shared fixtures: image files with real magic numbers, manifests, a mock server in a thread."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from batch_uploader.mock.server import MockConfig, RunningMockServer, running_mock_server

from .support import JPEG_HEADER, PNG_HEADER, ImageMaker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the soak tests out unless `-m` names them, whatever else `-m` selects."""
    if "soak" in config.getoption("markexpr"):
        return
    soak = [item for item in items if item.get_closest_marker("soak") is not None]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item.get_closest_marker("soak") is None]


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's or CI's proxy settings must not send the tests' loopback traffic away;
    the proxy tests set their own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(autouse=True)
def restore_the_package_logger() -> Iterator[None]:
    """An in-process command configures the package's logger; the next test gets it back
    as it was (pytest before 8.4 cannot capture a logger that stopped propagating)."""
    logger = logging.getLogger("batch_uploader")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers = handlers
    logger.propagate = propagate
    logger.setLevel(level)


# What asyncio (and aiohttp, through it) logs when the garbage collector meets an object left
# unfinished: in whichever test runs then, so these are checked over the whole session
# (collecting after every test instead costs 25 s).
LOGGED_WHEN_COLLECTED = (
    "Task was destroyed but it is pending!",
    "Task exception was never retrieved",
    "Future exception was never retrieved",
    "Unclosed client session",
    "Unclosed connector",
)


def _asyncio_errors(records: list[logging.LogRecord]) -> list[str]:
    return [
        record.getMessage()
        for record in records
        if record.name == "asyncio" and record.levelno >= logging.ERROR
    ]


@pytest.fixture(autouse=True)
def no_error_left_on_an_event_loop(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test during which asyncio logged an error (an exception in a callback, say):
    such an error fails no test by itself, pytest only captures it."""
    yield
    records = [
        record for when in ("setup", "call", "teardown") for record in caplog.get_records(when)
    ]
    errors = [
        error.splitlines()[0]
        for error in _asyncio_errors(records)
        if not error.startswith(LOGGED_WHEN_COLLECTED)
    ]
    assert not errors, f"asyncio logged errors: {errors}"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True, scope="session")
def nothing_left_unfinished() -> Iterator[None]:
    """Fail the session if a test left a task pending, an exception unread or a session
    open when its event loop closed."""
    records = _Records()
    logger = logging.getLogger("asyncio")
    logger.addHandler(records)
    yield
    gc.collect()
    logger.removeHandler(records)
    left = [
        error
        for error in _asyncio_errors(records.records)
        if error.startswith(LOGGED_WHEN_COLLECTED)
    ]
    assert not left, f"left unfinished by the session's tests: {left}"


@pytest.fixture
def make_image(tmp_path: Path) -> ImageMaker:
    """Write an image file under tmp_path: a real JPEG/PNG header and random bytes after it."""

    def make(name: str, *, size: int = 3000, kind: str | None = None) -> bytes:
        kind = kind or ("png" if name.lower().endswith(".png") else "jpeg")
        header = PNG_HEADER if kind == "png" else JPEG_HEADER
        content = header + os.urandom(max(size - len(header), 0))
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return content

    return make


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write manifest text to tmp_path/NAME and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


class ServerThread:
    """The mock server on its own event loop in a thread, for tests that call asyncio.run."""

    def __init__(self, config: MockConfig) -> None:
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._started: Future[RunningMockServer] = Future()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),))

    async def _serve(self) -> None:
        async with running_mock_server(self._config) as server:
            self._started.set_result(server)
            await self._stop.wait()

    def __enter__(self) -> RunningMockServer:
        self._thread.start()
        return self._started.result(timeout=10)

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def server_in_thread() -> Iterator[Callable[[MockConfig], RunningMockServer]]:
    """Start mock servers in threads; all stop when the test ends."""
    threads: list[ServerThread] = []

    def start(config: MockConfig) -> RunningMockServer:
        thread = ServerThread(config)
        threads.append(thread)
        return thread.__enter__()

    yield start
    for thread in threads:
        thread.__exit__()
