"""Stopping a run early: the reason, and waits that end when the run stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from batch_uploader.errors import RunStoppedError
from batch_uploader.results import StopReason

T = TypeVar("T")
ABORT_MESSAGE = "batch-uploader run aborted"


class RunControl:
    """Stops a run from outside (signals) or inside (403, budgets).

    `stop` lets requests in flight finish and sends nothing new; `abort` also cuts the
    requests in flight, by cancelling the worker tasks handed to `cancel_on_abort`. The
    first reason given is the one reported.
    """

    def __init__(self) -> None:
        self.reason: StopReason | None = None
        self.detail: str | None = None
        self._stopping = asyncio.Event()
        self.aborting = asyncio.Event()
        # `_stopping.is_set()` as a plain attribute: every request asks, several times.
        self.stopped = False
        self._workers: list[asyncio.Task[None]] = []

    def stop(self, reason: StopReason, detail: str | None = None) -> None:
        """Send nothing new; `detail` says what happened, where the reason alone does not."""
        if self.reason is None:
            self.reason = reason
            self.detail = detail
        self.stopped = True
        self._stopping.set()

    def abort(self, reason: StopReason) -> None:
        self.stop(reason)
        if self.aborting.is_set():
            # A second cancel of a worker would outlive `absorb_abort` and end the worker
            # without its row's line: a third Ctrl-C in the same tick lost rows.
            return
        self.aborting.set()
        for task in self._workers:
            task.cancel(ABORT_MESSAGE)

    def cancel_on_abort(self, workers: Iterable[asyncio.Task[None]]) -> None:
        """`abort` cancels these tasks wherever they wait (a worker per task, set up once)."""
        self._workers.extend(workers)
        if self.aborting.is_set():
            for task in self._workers:
                task.cancel(ABORT_MESSAGE)

    def absorb_abort(self) -> bool:
        """Called on CancelledError in a worker: true if `abort` caused it, which ends there.

        A cancellation from anywhere else (the task group, the caller) must propagate.
        """
        task = asyncio.current_task()
        return self.aborting.is_set() and task is not None and task.uncancel() == 0

    async def unless_stopped(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, or raise `RunStoppedError` as soon as the run stops."""
        if self.stopped:
            _close(awaitable)
            raise RunStoppedError
        work = asyncio.ensure_future(awaitable)
        interruption = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({work, interruption}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, interruption):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if work.done() and not work.cancelled():
            return work.result()
        raise RunStoppedError


def _close(awaitable: Awaitable[object]) -> None:
    if asyncio.iscoroutine(awaitable):
        awaitable.close()
