"""Running a command's coroutine on the fastest event loop this machine has."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TypeVar

T = TypeVar("T")


def run_on_fast_loop(coroutine: Coroutine[object, object, T]) -> T:
    """Run `coroutine` to its end, on uvloop where it is installed (not on Windows).

    uvloop runs aiohttp's client and server markedly faster than asyncio's own loop.
    """
    try:
        import uvloop  # noqa: PLC0415 (optional: absent on Windows)
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)
