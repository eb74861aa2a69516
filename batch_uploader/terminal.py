"""Running an upload as a command does: signals handled, problems logged, progress shown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TypeVar

from batch_uploader.control import RunControl
from batch_uploader.engine import RunObserver
from batch_uploader.errors import BatchUploaderError
from batch_uploader.manifest import count_rows
from batch_uploader.models import StopReason
from batch_uploader.output import LoggingObserver
from batch_uploader.progress import Observers, Progress
from batch_uploader.stats import RunSummary

logger = logging.getLogger("batch_uploader")

T = TypeVar("T")
SIGNAL_REASONS = {signal.SIGINT: StopReason.INTERRUPTED, signal.SIGTERM: StopReason.TERMINATED}

Upload = Callable[[RunObserver, RunControl], Awaitable[RunSummary]]


def run_on_fast_loop(coroutine: Coroutine[object, object, T]) -> T:
    """Run a command's coroutine, on uvloop where it is installed (not on Windows).

    uvloop runs aiohttp's client and server markedly faster than asyncio's own loop.
    """
    try:
        import uvloop  # noqa: PLC0415 (optional: absent on Windows)
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def watched(manifest: Path, progress: Progress, upload: Upload) -> RunSummary:
    """Run `upload` under signal handling, logging and progress; count rows meanwhile.

    The first SIGINT or SIGTERM stops taking rows and lets requests in flight finish; a
    second one cuts them off. Either way every row gets its report line.
    """
    control = RunControl()
    loop = asyncio.get_running_loop()
    for signal_number, reason in SIGNAL_REASONS.items():
        loop.add_signal_handler(signal_number, _on_signal, control, reason)

    async def count() -> None:
        # The upload reports the same problem if the manifest cannot be read.
        with contextlib.suppress(BatchUploaderError):
            progress.set_total(await asyncio.to_thread(count_rows, manifest))

    background = [asyncio.create_task(progress.print_lines())]
    if progress.mode != "off":  # the count costs a pass over the manifest; only progress uses it
        background.append(asyncio.create_task(count()))
    try:
        with progress.showing():
            return await upload(Observers(LoggingObserver(), progress), control)
    finally:
        for signal_number in SIGNAL_REASONS:
            loop.remove_signal_handler(signal_number)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


def _on_signal(control: RunControl, reason: StopReason) -> None:
    if control.stopped:
        logger.warning("%s again: cutting off the requests in flight", reason.value)
        control.abort(reason)
        return
    logger.warning(
        "%s: no new requests; finishing those in flight (a second signal stops at once)",
        reason.value,
    )
    control.stop(reason)
