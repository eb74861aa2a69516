"""The worker pool behind `run`: manifest rows in, report lines out.

A reader task feeds a bounded queue (so a huge manifest never sits in memory) and
`concurrency` workers each take a row, check and encode it in a thread, send it with
retries, and write its report line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import aiohttp

from batch_uploader.client import ArgosClient, open_session
from batch_uploader.manifest import open_manifest
from batch_uploader.models import (
    DOCUMENTED_ID_TYPES,
    ID_TYPE,
    Answer,
    InvalidRowError,
    ManifestRow,
    RowResult,
    Status,
)
from batch_uploader.multipart import FormFields
from batch_uploader.prepare import load_row, plan_row
from batch_uploader.report import ReportWriter, default_report_path, open_report
from batch_uploader.retry import RetryEvent, send_with_retries
from batch_uploader.settings import RunSettings
from batch_uploader.stats import RunStats, RunSummary

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class RunObserver(Protocol):
    """Told about rows and retries as they happen: logging and progress subscribe here."""

    def on_row_finished(self, result: RowResult) -> None: ...

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None: ...


class NullObserver:
    """An observer that ignores everything: the library default."""

    def on_row_finished(self, result: RowResult) -> None:
        pass

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        pass


async def upload_manifest(
    manifest_path: Path,
    settings: RunSettings,
    *,
    observer: RunObserver | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> RunSummary:
    """Upload every row of a manifest and write the report; return the run's summary.

    Raises a `BatchUploaderError` before anything is sent when the manifest, the report
    path or the settings cannot work.
    """
    report_path = settings.report_path or default_report_path(manifest_path)
    started = clock()
    with (
        open_manifest(manifest_path) as rows,
        open_report(report_path, overwrite=settings.overwrite) as report,
    ):
        async with open_session(concurrency=settings.concurrency) as session:
            run = _Run(
                settings=settings,
                manifest_dir=manifest_path.parent,
                client=_client(session, settings),
                report=report,
                observer=observer or NullObserver(),
                sleep=sleep,
                clock=clock,
            )
            await run.execute(rows)
    return run.stats.summary(elapsed_seconds=clock() - started, report_path=report_path)


def _client(session: aiohttp.ClientSession, settings: RunSettings) -> ArgosClient:
    return ArgosClient(
        session, base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout
    )


class _Run:
    """The state of one run: shared by its reader and workers."""

    def __init__(
        self,
        *,
        settings: RunSettings,
        manifest_dir: Path,
        client: ArgosClient,
        report: ReportWriter,
        observer: RunObserver,
        sleep: Sleep,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.manifest_dir = manifest_dir
        self.client = client
        self.report = report
        self.observer = observer
        self.sleep = sleep
        self.clock = clock
        self.stats = RunStats()
        self.warned_id_types: set[str] = set()
        self.queue: asyncio.Queue[ManifestRow | None] = asyncio.Queue(
            maxsize=2 * settings.concurrency
        )

    async def execute(self, rows: Iterator[ManifestRow]) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._feed(rows))
            for _ in range(self.settings.concurrency):
                group.create_task(self._work())

    async def _feed(self, rows: Iterator[ManifestRow]) -> None:
        try:
            for row in rows:
                await self.queue.put(row)
        finally:
            for _ in range(self.settings.concurrency):
                await self.queue.put(None)

    async def _work(self) -> None:
        while (row := await self.queue.get()) is not None:
            result = await self._process(row)
            self.report.write(result)
            self.stats.add_result(result)
            self.observer.on_row_finished(result)

    async def _process(self, row: ManifestRow) -> RowResult:
        rules = self.settings.rules
        try:
            plan = plan_row(row, rules, manifest_dir=self.manifest_dir)
            self._warn_unknown_id_type(row)
            fields = await asyncio.to_thread(load_row, plan, rules)
        except InvalidRowError as rejection:
            return _result(row, Status.INVALID, rejection.problem.code, rejection.problem.message)
        started = self.clock()
        attempts = await send_with_retries(
            lambda: self._send(fields),
            self.settings.retry,
            sleep=self.sleep,
            on_retry=lambda event: self._on_retry(row, event),
        )
        answer = attempts.answer
        return RowResult(
            row=row.row,
            submission_id=row.submission_id,
            fields=row.image_fields,
            status=Status.OK if answer.accepted else Status.FAILED,
            http_status=answer.http_status,
            error_code=answer.error_code,
            message=answer.message,
            attempts=attempts.count,
            elapsed_ms=round((self.clock() - started) * 1000),
            finished_at=datetime.now(UTC),
        )

    async def _send(self, fields: FormFields) -> Answer:
        started = self.clock()
        answer = await self.client.put_images(fields)
        self.stats.add_request(self.clock() - started)
        return answer

    def _on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        self.stats.retries += 1
        self.observer.on_retry(row, event)

    def _warn_unknown_id_type(self, row: ManifestRow) -> None:
        id_type = row.values.get(ID_TYPE)
        if id_type and id_type not in DOCUMENTED_ID_TYPES and id_type not in self.warned_id_types:
            self.warned_id_types.add(id_type)
            logger.warning(
                "idType %r (first at row %d) is not in the vendor's documented list; "
                "sending it anyway",
                id_type,
                row.row,
            )


def _result(row: ManifestRow, status: Status, code: str, message: str) -> RowResult:
    return RowResult(
        row=row.row,
        submission_id=row.submission_id,
        fields=row.image_fields,
        status=status,
        error_code=code,
        message=message,
        finished_at=datetime.now(UTC),
    )
