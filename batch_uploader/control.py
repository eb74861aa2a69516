"""Stopping a run early: the reason, and waits that end when the run stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from batch_uploader.models import StopReason

T = TypeVar("T")
ABORT_MESSAGE = "batch-uploader run aborted"


class RunStoppedError(Exception):
    """Raised inside a worker when the run stopped while it waited or was about to send."""


class RunControl:
    """Stops a run from outside (signals) or inside (403, budgets).

    `stop` lets requests in flight finish and sends nothing new; `abort` also cuts the
    requests in flight. The first reason given is the one reported.
    """

    def __init__(self) -> None:
        self.reason: StopReason | None = None
        self.stopping = asyncio.Event()
        self.aborting = asyncio.Event()
        self._abortable: set[asyncio.Task[object]] = set()

    @property
    def stopped(self) -> bool:
        return self.stopping.is_set()

    def stop(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason
        self.stopping.set()

    def abort(self, reason: StopReason) -> None:
        self.stop(reason)
        self.aborting.set()
        for task in self._abortable:
            task.cancel(ABORT_MESSAGE)

    async def unless_stopped(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, or raise `RunStoppedError` as soon as the run stops."""
        return await _unless(self.stopping, awaitable)

    async def unless_aborted(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, or raise `RunStoppedError` as soon as the run is aborted.

        Awaited in the caller's own task (a request per row is the hot path), which
        `abort` cancels; that cancellation, and only that one, becomes `RunStoppedError`.
        """
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 (always called from a task)
        if self.aborting.is_set():
            _close(awaitable)
            raise RunStoppedError
        self._abortable.add(task)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self.aborting.is_set() and task.uncancel() == 0:
                raise RunStoppedError from None
            raise
        finally:
            self._abortable.discard(task)


def _close(awaitable: Awaitable[object]) -> None:
    if asyncio.iscoroutine(awaitable):
        awaitable.close()


async def _unless(event: asyncio.Event, awaitable: Awaitable[T]) -> T:
    if event.is_set():
        _close(awaitable)
        raise RunStoppedError
    work = asyncio.ensure_future(awaitable)
    interruption = asyncio.ensure_future(event.wait())
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
