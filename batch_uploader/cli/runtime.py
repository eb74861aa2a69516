"""How a command runs an upload: on the fast event loop, under signal handling, with problems
logged and progress shown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from batch_uploader.cli.output import LoggingObserver
from batch_uploader.cli.progress import Progress
from batch_uploader.control import RunControl
from batch_uploader.errors import BatchUploaderError
from batch_uploader.eventloop import run_on_fast_loop
from batch_uploader.events import Observers, RunObserver
from batch_uploader.manifest import Manifest, count_rows
from batch_uploader.results import StopReason
from batch_uploader.stats import RunSummary

logger = logging.getLogger("batch_uploader")

SIGNAL_REASONS = {signal.SIGINT: StopReason.INTERRUPTED, signal.SIGTERM: StopReason.TERMINATED}

Upload = Callable[[RunObserver, RunControl], Awaitable[RunSummary]]


def run_with_signals_and_progress(
    manifest: Manifest, progress: Progress, upload: Upload
) -> RunSummary:
    """Run `upload` to its end on the fast event loop; see `stop_on_signals_and_show_progress`."""
    return run_on_fast_loop(stop_on_signals_and_show_progress(manifest, progress, upload))


async def stop_on_signals_and_show_progress(
    manifest: Manifest, progress: Progress, upload: Upload
) -> RunSummary:
    """Run `upload` under signal handling, logging and progress; count rows meanwhile.

    The first SIGINT or SIGTERM stops taking rows and lets requests in flight finish; a
    second one cuts them off. Either way every row gets its report line.
    """
    control = RunControl()
    loop = asyncio.get_running_loop()
    for signal_number, reason in SIGNAL_REASONS.items():
        loop.add_signal_handler(signal_number, _on_signal, control, reason)

    async def count(path: Path) -> None:
        # The upload reports the same problem if the manifest cannot be read.
        with contextlib.suppress(BatchUploaderError):
            progress.set_total(await asyncio.to_thread(count_rows, path))

    background = [asyncio.create_task(progress.print_lines())]
    # The count costs a pass over the manifest; only progress uses it, and a stream (standard
    # input) can be read only once.
    if progress.mode != "off" and isinstance(manifest, Path):
        background.append(asyncio.create_task(count(manifest)))
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
