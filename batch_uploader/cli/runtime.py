"""How a command runs an upload: on the fast event loop, under signal handling, with problems
logged and progress shown, and the cycle collector running less often."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from batch_uploader.cli.garbage_collection import collecting_less_often
from batch_uploader.cli.output import LoggingObserver
from batch_uploader.cli.progress import Progress
from batch_uploader.cli.row_count import count_in_child
from batch_uploader.control import RunControl
from batch_uploader.eventloop import run_on_fast_loop
from batch_uploader.events import Observers, RunObserver
from batch_uploader.manifest import Manifest
from batch_uploader.results import StopReason
from batch_uploader.sharding import Shard
from batch_uploader.stats import RunSummary

if TYPE_CHECKING:
    # prometheus_client is imported only by a run that writes metrics.
    from batch_uploader.cli.metrics_output import MetricsPublisher

logger = logging.getLogger("batch_uploader")

SIGNAL_REASONS = {signal.SIGINT: StopReason.INTERRUPTED, signal.SIGTERM: StopReason.TERMINATED}

Upload = Callable[[RunObserver, RunControl], Awaitable[RunSummary]]


def run_with_signals_and_progress(
    manifest: Manifest,
    progress: Progress,
    upload: Upload,
    *,
    shard: Shard | None = None,
    metrics: MetricsPublisher | None = None,
) -> RunSummary:
    """Run `upload` to its end on the fast event loop, the cycle collector running less
    often; see `stop_on_signals_and_show_progress`."""
    with collecting_less_often():
        return run_on_fast_loop(
            stop_on_signals_and_show_progress(
                manifest, progress, upload, shard=shard, metrics=metrics
            )
        )


async def stop_on_signals_and_show_progress(
    manifest: Manifest,
    progress: Progress,
    upload: Upload,
    *,
    shard: Shard | None = None,
    metrics: MetricsPublisher | None = None,
) -> RunSummary:
    """Run `upload` under signal handling, logging and progress; count rows meanwhile
    (those of `shard` only, when the run has one); publish `metrics` every 10 s.

    The first SIGINT or SIGTERM stops taking rows and lets requests in flight finish; every
    row then gets its report line. A second one cuts the requests off and ends the run
    within a second: a huge manifest's last rows may be left without a line, for `--resume`.
    """
    control = RunControl()
    loop = asyncio.get_running_loop()
    for signal_number, reason in SIGNAL_REASONS.items():
        loop.add_signal_handler(signal_number, _on_signal, control, reason)

    async def count(path: Path) -> None:
        total = await count_in_child(path, shard)
        if total is not None:
            progress.set_total(total)

    background = [asyncio.create_task(progress.print_lines())]
    # The count costs a pass over the manifest; only progress uses it, and a stream (standard
    # input) can be read only once.
    if progress.mode != "off" and isinstance(manifest, Path):
        background.append(asyncio.create_task(count(manifest)))
    logging_observer = LoggingObserver()
    observers: list[RunObserver] = [logging_observer, progress]
    if metrics is not None:
        observers.append(metrics.metrics)
        background.append(asyncio.create_task(metrics.publish_every()))
    try:
        with progress.showing():
            summary = await upload(Observers(*observers), control)
            progress.finish(completed=summary.stop_reason is None)
            return summary
    finally:
        logging_observer.log_repeats()
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
