"""The worker pool behind `run`: manifest rows in, report lines out.

`concurrency` workers take rows one at a time; each sends its row with retries and writes
its report line. A reader ahead of them checks the next rows and reads and encodes their
images, a batch at a time, into a small bounded buffer (`read_ahead`); a worker that finds
it empty takes a row from the manifest reader and prepares it itself. Rows are read as fast
as they are sent, so a huge manifest never sits in memory. When the run stops early every
row not finished, those read ahead included, still gets a `cancelled` line, so the report
always holds one line per row in scope.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

from batch_uploader.api import undocumented_id_type
from batch_uploader.client import Answer, ArgosClient, open_session
from batch_uploader.control import RunControl
from batch_uploader.errors import (
    DescriptorsExhaustedError,
    InvalidRowError,
    ManifestError,
    ReadWouldWait,
    ReportWriteError,
    RunStoppedError,
    SettingError,
)
from batch_uploader.events import (
    NullObserver,
    RequestEvent,
    RetryEvent,
    RunObserver,
    SkipReason,
)
from batch_uploader.gate import ApiGate
from batch_uploader.manifest import (
    Manifest,
    ManifestReader,
    ManifestRow,
    ManifestStream,
    ReadingTally,
    RowBrief,
    manifest_folder,
    open_manifest,
)
from batch_uploader.multipart import FormFields
from batch_uploader.prepare import RowPlan, load_row, load_row_in_thread, plan_row
from batch_uploader.proxies import proxy_for
from batch_uploader.read_ahead import ReadAhead
from batch_uploader.report import ReportWriter, default_report_path
from batch_uploader.report_file import EarlierOkRows, ReportMode, open_report, same_file
from batch_uploader.results import RowResult, Status, StopReason
from batch_uploader.retry import is_retryable, send_with_retries
from batch_uploader.settings import RunSettings
from batch_uploader.stats import RunStats, RunSummary

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
# After a stop, rows never read from the manifest are marked cancelled in batches this big,
# yielding to the event loop in between.
CANCEL_BATCH = 5000
# After an abort (a second signal), how long the rows never started still get their lines.
ABORT_GRACE_SECONDS = 0.5
# Out of file descriptors, a row waits this long for one, then the run stops.
DESCRIPTOR_FIRST_WAIT = 0.05
DESCRIPTOR_MAX_WAIT = 1.0
DESCRIPTOR_WAIT_LIMIT = 60.0
# Rows outside the run's scope passed over before the reader lets the loop run.
PASS_OVER_BATCH = 2000
# Rows read and encoded ahead of the workers (see `read_ahead`): at most this many, holding
# at most this many bytes of request fields, made at most this many at a time. A batch of 16
# 50 KB rows holds the loop ~2 ms: longer batches made answers wait (0.93x the ceiling at
# 20 ms with batches of 32), shorter ones lost the warm caches (0.65x without latency with
# batches of 8, against 0.76x).
READ_AHEAD_ROWS = 64
READ_AHEAD_BYTES = 4 * 1024 * 1024
READ_AHEAD_BATCH = 16


class UploadClient(Protocol):
    """What the engine needs of a client: one attempt, one answer."""

    async def put_images(self, fields: FormFields) -> Answer: ...


async def upload_manifest(
    manifest_path: Manifest,
    settings: RunSettings,
    *,
    observer: RunObserver | None = None,
    control: RunControl | None = None,
    client: UploadClient | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> RunSummary:
    """Upload every row of a manifest and write the report; return the run's summary.

    Raises a `BatchUploaderError` before anything is sent when the manifest, the report
    path or the settings cannot work. `control` stops the run from outside; `client`
    replaces the HTTP client (tests).
    """
    report_path = settings.report_path or default_report_path(manifest_path)
    if isinstance(manifest_path, ManifestStream) and settings.resume:
        raise SettingError(
            "resume", None, "needs a manifest in a file: a stream cannot be read again"
        )
    control = control or RunControl()
    started = clock()
    async with AsyncExitStack() as stack:
        tally = ReadingTally()
        rows = stack.enter_context(open_manifest(manifest_path, tally))
        if client is None:
            session = await stack.enter_async_context(
                open_session(
                    concurrency=settings.concurrency,
                    ca_bundle=settings.ca_bundle,
                    tls=settings.base_url.lower().startswith("https:"),
                )
            )
            client = ArgosClient(
                session,
                base_url=settings.base_url,
                api_key=settings.api_key,
                timeout=settings.timeout,
                proxy=proxy_for(settings.base_url, settings.proxy),
            )
        _refuse_report_on_manifest(report_path, manifest_path)
        report = stack.enter_context(open_report(report_path, _report_mode(settings)))
        run = _Run(
            settings=settings,
            manifest_dir=manifest_folder(manifest_path),
            client=client,
            report=report.writer,
            earlier=report.earlier_ok,
            observer=observer or NullObserver(),
            control=control,
            sleep=sleep,
            clock=clock,
        )
        await run.execute(rows)
    return run.stats.summary(
        elapsed_seconds=clock() - started,
        report_path=report_path,
        stop_reason=control.reason,
        stop_detail=control.detail,
        blank_rows=tally.blank_rows,
    )


def _refuse_report_on_manifest(report_path: Path, manifest_path: Manifest) -> None:
    """Writing the report over the manifest would destroy it and feed the run its own lines."""
    if not isinstance(manifest_path, ManifestStream) and same_file(report_path, manifest_path):
        raise SettingError(
            "report_path", report_path, "is the manifest itself; name another file for the report"
        )


def _report_mode(settings: RunSettings) -> ReportMode:
    if settings.resume:
        return ReportMode.RESUME
    return ReportMode.OVERWRITE if settings.overwrite else ReportMode.NEW


@dataclass(slots=True)
class _ReadyRow:
    """A row checked and, when its images were in the page cache, read and encoded."""

    row: ManifestRow
    plan: RowPlan
    fields: FormFields | None  # None: its images are read in a thread when it is sent
    shortage: DescriptorsExhaustedError | None = None  # out of file descriptors when read


def _fields_size(fields: FormFields | None) -> int:
    size = 0
    for _, value in fields or ():
        if isinstance(value, bytes):
            size += len(value)
    return size


class _Rows(Enum):
    ENDED = "no more rows in this run's scope"


@dataclass
class _Attempts:
    """The HTTP attempts one row has made so far."""

    count: int = 0
    charged: int = 0  # the attempts that count against max_attempts
    last: Answer | None = None


class _Run:
    """The state of one run, shared by its reader and workers."""

    def __init__(
        self,
        *,
        settings: RunSettings,
        manifest_dir: Path,
        client: UploadClient,
        report: ReportWriter,
        earlier: EarlierOkRows,
        observer: RunObserver,
        control: RunControl,
        sleep: Sleep,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.manifest_dir = manifest_dir
        self.client = client
        self.report = report
        self.earlier = earlier
        self.observer = observer
        self.control = control
        self.sleep = sleep
        self.clock = clock
        self.stats = RunStats()
        self.requests_started = 0
        self.gate = ApiGate(
            settings,
            control=control,
            observer=observer,
            tally=self.stats.api,
            clock=clock,
            sleep=sleep,
        )
        self.warned_id_types: set[str] = set()
        self.warned_descriptors = False
        self.manifest_broken: str | None = None
        self.ready: ReadAhead[_ReadyRow] = ReadAhead(
            max_items=READ_AHEAD_ROWS, max_bytes=READ_AHEAD_BYTES
        )

    async def execute(self, rows: ManifestReader) -> None:
        if self.earlier.count:
            self.observer.on_resuming(self.earlier.count)
        # Workers and the reader ahead take rows straight from the manifest reader, with only
        # the small buffer ahead between them: the manifest is read as fast as rows are sent
        # and never held in memory.
        to_send = self._rows_to_send(rows) if self._passes_some_over() else iter(rows)
        try:
            async with asyncio.TaskGroup() as group:
                workers = [
                    group.create_task(self._work(to_send)) for _ in range(self.settings.concurrency)
                ]
                # Made after the workers: each sends its first row at once, read by itself.
                group.create_task(self._read_ahead(to_send))
                self.control.cancel_on_abort(workers)
        except* ReportWriteError as failures:
            # Without a report nothing more can be recorded: every task has been cancelled.
            raise failures.exceptions[0] from None
        finally:
            self.gate.close()
        for ready in self.ready.drain():
            self._finish(self._cancelled(ready.row, _Attempts()))
        await self._cancel_unsent(rows)

    def _passes_some_over(self) -> bool:
        """Whether some rows are not this run's to send: another shard's, or ok earlier."""
        return self.settings.shard is not None or self.earlier.count > 0

    def _rows_to_send(self, rows: Iterator[ManifestRow]) -> Iterator[ManifestRow | None]:
        """The rows in scope; None after every `PASS_OVER_BATCH` rows passed over in a row.

        Passing over is only a hash and a lookup, so a resumed run would otherwise spend
        seconds inside one `next()`, holding the event loop (signals, progress) meanwhile.
        """
        shard = self.settings.shard
        earlier = self.earlier if self.earlier.count else None
        passed_over = 0
        for row in rows:
            if shard is not None and not shard.holds(row.submission_id):
                self.observer.on_row_skipped(row, SkipReason.OUTSIDE_SHARD)
            elif earlier is not None and (row.row, row.submission_id) in earlier:
                self.stats.add_earlier_ok()
                self.observer.on_row_skipped(row, SkipReason.EARLIER_OK)
            else:
                passed_over = 0
                yield row
                continue
            passed_over += 1
            if passed_over % PASS_OVER_BATCH == 0:
                yield None

    async def _work(self, rows: Iterator[ManifestRow | None]) -> None:
        try:
            while not self.control.stopped:
                ready = self.ready.take()
                if ready is None:
                    row = self._next_row(rows)
                    if row is _Rows.ENDED:
                        if self.manifest_broken is not None:
                            self.control.stop(StopReason.MANIFEST_UNREADABLE, self.manifest_broken)
                        return
                    if row is None or (ready := self._prepare(row)) is None:
                        # Rows passed over, or one invalid: a row that waits for nothing. A
                        # long stretch of them (images on a missing mount) would hold the
                        # loop, and signals and progress with it, so each worker steps aside
                        # once per such row (a few microseconds).
                        await asyncio.sleep(0)
                        continue
                self._finish(await self._send_ready(ready))
        finally:
            # A worker stops only when the rows have ended or the run has stopped (or failed):
            # either way the reader ahead has nothing left to do.
            self.ready.close()

    async def _read_ahead(self, rows: Iterator[ManifestRow | None]) -> None:
        """Keep rows ready for the workers, a batch at a time (see `read_ahead`)."""
        while True:
            await self.ready.wanted()
            if self.ready.closed or self.control.stopped:
                return
            for _ in range(READ_AHEAD_BATCH):
                if self.ready.full:
                    break
                row = self._next_row(rows)
                if row is _Rows.ENDED:
                    return
                if row is None:
                    break
                ready = self._prepare(row)
                if ready is None:
                    break  # an invalid row: as a worker does, step aside after it
                self.ready.add(ready, _fields_size(ready.fields))
            await asyncio.sleep(0)

    def _next_row(self, rows: Iterator[ManifestRow | None]) -> ManifestRow | _Rows | None:
        """The next row in scope; None to let the loop run (see `_rows_to_send`)."""
        try:
            return next(rows)
        except StopIteration:
            return _Rows.ENDED
        except ManifestError as error:
            # A streamed YAML manifest can turn out broken after its first rows. Those read
            # before are still sent; the run stops when a worker finds no row left.
            self.manifest_broken = str(error)
            return _Rows.ENDED

    async def _cancel_unsent(self, rows: ManifestReader) -> None:
        """After a stop, every row not yet taken gets its `cancelled` line, in bulk.

        Lines go out `CANCEL_BATCH` at a time with one flush each, and the loop gets a turn
        in between, so that a second signal (an abort) is heard. After an abort the lines
        get `ABORT_GRACE_SECONDS` more, then the run ends: a huge manifest's last rows are
        left without a line, and `--resume` sends them.
        """
        message = _cancelled_message(self.control.reason)
        deadline: float | None = None
        briefs = self._briefs_in_scope(rows.briefs())
        while deadline is None or self.clock() < deadline:
            batch = list(itertools.islice(briefs, CANCEL_BATCH))
            if not batch:
                return
            self.report.write_cancelled(batch, message=message, finished_at=datetime.now(UTC))
            self.stats.add_cancelled(len(batch))
            self.observer.on_unsent_cancelled(len(batch))
            await asyncio.sleep(0)
            if deadline is None and self.control.aborting.is_set():
                deadline = self.clock() + ABORT_GRACE_SECONDS
        self.stats.report_cut_off = True

    def _briefs_in_scope(self, briefs: Iterator[RowBrief]) -> Iterator[RowBrief]:
        """`_rows_to_send`'s choice, on briefs: rows passed over here are not told to the
        observer (they have no `ManifestRow`); those ok earlier are still counted."""
        shard = self.settings.shard
        earlier = self.earlier if self.earlier.count else None
        for brief in briefs:
            row, submission_id, _ = brief
            if shard is not None and not shard.holds(submission_id):
                continue
            if earlier is not None and (row, submission_id) in earlier:
                self.stats.add_earlier_ok()
                continue
            yield brief

    def _finish(self, result: RowResult) -> None:
        self.report.write(result)
        self.stats.add_result(result)
        self.observer.on_row_finished(result)
        limit = self.settings.max_failures
        if (
            limit is not None
            and result.status is Status.FAILED
            and self.stats.rows_by_status[Status.FAILED] >= limit
        ):
            self.control.stop(StopReason.MAX_FAILURES)

    def _prepare(self, row: ManifestRow) -> _ReadyRow | None:
        """Check a row and read its images if the page cache holds them; None when the row
        is invalid (its line is written now)."""
        rules = self.settings.rules
        try:
            plan = plan_row(row, rules, manifest_dir=self.manifest_dir)
            self._warn_unknown_id_type(row)
            # Small images are read and encoded right here (a worker thread per row would
            # cost more than the work); large ones stream from their files later.
            try:
                return _ReadyRow(row, plan, load_row(plan, rules, may_wait=False))
            except ReadWouldWait:
                # Not in the page cache (a cold disk, a network mount): a thread will wait.
                return _ReadyRow(row, plan, None)
            except DescriptorsExhaustedError as shortage:
                return _ReadyRow(row, plan, None, shortage)
        except InvalidRowError as rejection:
            self._finish(_row_result(row, Status.INVALID, _Attempts(), rejection=rejection))
            return None

    async def _send_ready(self, ready: _ReadyRow) -> RowResult:
        row, attempts = ready.row, _Attempts()
        try:
            fields = ready.fields
            if fields is None:
                fields = await self._load_waiting(ready)
        except InvalidRowError as rejection:
            return _row_result(row, Status.INVALID, attempts, rejection=rejection)
        except RunStoppedError:
            return self._cancelled(row, attempts)
        except asyncio.CancelledError:
            if not self.control.absorb_abort():
                raise
            return self._cancelled(row, attempts)
        started = self.clock()
        try:
            answer = await self._send(row.row, fields, attempts)
            # Most rows end with their first attempt: the retry loop is set up for the others.
            if is_retryable(answer):
                answer = await self._retry(row, fields, attempts, answer)
        except RunStoppedError:
            status = Status.CANCELLED
        except asyncio.CancelledError:
            if not self.control.absorb_abort():
                raise
            status = Status.CANCELLED
        else:
            status = Status.OK if answer.accepted else Status.FAILED
        return _row_result(
            row,
            status,
            attempts,
            elapsed_ms=self._elapsed_ms(started),
            stop_reason=self.control.reason,
        )

    async def _retry(
        self, row: ManifestRow, fields: FormFields, attempts: _Attempts, first: Answer
    ) -> Answer:
        """Send a row again until its answer is final or its attempts are spent."""
        return await send_with_retries(
            lambda: self._send(row.row, fields, attempts),
            self.settings.retry,
            sleep=lambda seconds: self.control.unless_stopped(self.sleep(seconds)),
            on_retry=lambda event: self._on_retry(row, event),
            attempts_charged=lambda: attempts.charged,
            retry_after_cap=self.settings.max_outage,
            first=first,
        )

    def _cancelled(self, row: ManifestRow, attempts: _Attempts) -> RowResult:
        return _row_result(row, Status.CANCELLED, attempts, stop_reason=self.control.reason)

    async def _load_waiting(self, ready: _ReadyRow) -> FormFields:
        """Read the images of a row that could not be read on the loop, in a thread."""
        shortage = ready.shortage
        if shortage is None:
            try:
                return await load_row_in_thread(ready.plan, self.settings.rules)
            except DescriptorsExhaustedError as error:
                shortage = error
        return await self._load_when_descriptors_free(ready.plan, shortage)

    async def _load_when_descriptors_free(
        self, plan: RowPlan, shortage: DescriptorsExhaustedError
    ) -> FormFields:
        """The process is out of file descriptors: a shortage of the moment (other requests
        close theirs as they finish), never the row's fault. Wait for one to come free; stop
        the run if none does for `DESCRIPTOR_WAIT_LIMIT` seconds."""
        if not self.warned_descriptors:
            self.warned_descriptors = True
            logger.warning(
                "out of open files (%s, at row %d): rows wait for other requests to close "
                "theirs; raise the limit (ulimit -n) or lower --concurrency",
                shortage,
                plan.row.row,
            )
        waited, delay = 0.0, DESCRIPTOR_FIRST_WAIT
        while waited < DESCRIPTOR_WAIT_LIMIT:
            await self.control.unless_stopped(self.sleep(delay))
            waited += delay
            delay = min(delay * 2, DESCRIPTOR_MAX_WAIT)
            try:
                return await load_row_in_thread(plan, self.settings.rules)
            except DescriptorsExhaustedError:
                continue
        self.control.stop(
            StopReason.OUT_OF_FILES,
            f"no file descriptor came free for {DESCRIPTOR_WAIT_LIMIT:g} s ({shortage})",
        )
        raise RunStoppedError

    async def _send(self, row: int, fields: FormFields, attempts: _Attempts) -> Answer:
        """One attempt, when the API's state, the pace and the run's budget allow it."""
        ticket = await self.gate.admit(row)
        try:
            self._take_from_budget()
            # Counted as sent, not as answered: a request cut off by an abort was made.
            if attempts.count:
                self.stats.retries += 1
            attempts.count += 1
            answer = await self.client.put_images(fields)
        except BaseException:
            self.gate.release(ticket)
            raise
        seconds = self.clock() - ticket.sent_at
        self.stats.add_request(seconds)
        self.observer.on_request(RequestEvent(answer, seconds, fields))
        attempts.last = answer
        attempts.charged += self.gate.record(ticket, answer)
        return answer

    def _take_from_budget(self) -> None:
        """Count one more request, or stop the run when the budget (or the run) is over."""
        budget = self.settings.max_requests
        if budget is not None and self.requests_started >= budget:
            self.control.stop(StopReason.MAX_REQUESTS)
        if self.control.stopped:
            raise RunStoppedError
        self.requests_started += 1

    def _elapsed_ms(self, started: float) -> int:
        return round((self.clock() - started) * 1000)

    def _on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        if self.control.stopped:
            return  # the wait ends at once: no retry follows
        self.observer.on_retry(row, event)

    def _warn_unknown_id_type(self, row: ManifestRow) -> None:
        id_type = undocumented_id_type(row.values)
        if id_type is not None and id_type not in self.warned_id_types:
            self.warned_id_types.add(id_type)
            logger.warning(
                "idType %r (first at row %d) is not in the vendor's documented list; "
                "sending it anyway",
                id_type,
                row.row,
            )


def _cancelled_message(stop_reason: StopReason | None) -> str:
    return f"not finished: the run stopped early ({stop_reason or 'stopped'})"


def _row_result(
    row: ManifestRow,
    status: Status,
    attempts: _Attempts,
    *,
    elapsed_ms: int = 0,
    rejection: InvalidRowError | None = None,
    stop_reason: StopReason | None = None,
) -> RowResult:
    """The one place a row's result is made: from its last answer, or why it has none."""
    last = attempts.last
    if rejection is not None:
        error_code, message = rejection.code, rejection.message
    elif last is not None:
        error_code, message = last.error_code, last.message
    else:
        error_code, message = "", ""
    if status is Status.CANCELLED:
        message = _cancelled_message(stop_reason)
    return RowResult(
        row=row.row,
        submission_id=row.submission_id,
        fields=row.image_fields,
        status=status,
        http_status=last.http_status if last else None,
        error_code=error_code,
        message=message,
        attempts=attempts.count,
        elapsed_ms=elapsed_ms,
        finished_at=datetime.now(UTC),
        problem_path=rejection.path if rejection is not None else None,
    )
