"""The run reacts to the API as a whole: a spent quota, throttling, outages, Retry-After,
and an API that cannot be reached. In virtual time: nothing here waits for real."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest

from batch_uploader import (
    Answer,
    ApiCondition,
    ApiState,
    RetryPolicy,
    RunObserver,
    RunSummary,
    Shard,
    Status,
    StopReason,
    upload_manifest,
)
from batch_uploader.control import RunControl
from batch_uploader.gate import OUTAGE_AFTER
from batch_uploader.mock.gateway import GatewayConfig, GatewayRefusal
from batch_uploader.settings import QuotaPolicy

from .fakes import GATEWAY_ANSWERS, OK, PROCESSING_ERROR, GatewayClient, VirtualClock, gateway
from .support import ImageMaker, run_settings, write_csv_manifest

QUOTA_SPENT = GATEWAY_ANSWERS[GatewayRefusal.QUOTA_SPENT]
THROTTLED = GATEWAY_ANSWERS[GatewayRefusal.RATE_LIMITED]
UNAVAILABLE = GATEWAY_ANSWERS[GatewayRefusal.OUTAGE]


class StateLog(RunObserver):
    """Keeps every API state the run told, and when."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock
        self.states: list[ApiState] = []
        self.times: list[float] = []

    def on_api_state(self, state: ApiState) -> None:
        self.states.append(state)
        self.times.append(self.clock() if self.clock else 0.0)

    @property
    def conditions(self) -> list[ApiCondition]:
        return [state.condition for state in self.states]


@pytest.fixture
def manifest(tmp_path: Path, make_image: ImageMaker) -> Path:
    make_image("s.png", size=300)
    return write_csv_manifest(tmp_path / "m.csv", ((f"sub-{n:04d}", "s.png") for n in range(2000)))


async def run(
    tmp_path: Path,
    manifest: Path,
    client: GatewayClient,
    clock: VirtualClock,
    *,
    observer: RunObserver | None = None,
    report: str = "r.csv",
    **settings: Any,
) -> RunSummary:
    settings.setdefault("retry", RetryPolicy())  # the real backoff, in virtual time
    upload = upload_manifest(
        manifest,
        run_settings(tmp_path / report, **settings),
        client=client,
        clock=clock,
        sleep=clock.sleep,
        observer=observer,
    )
    return await clock.run(upload)


def statuses(summary: RunSummary) -> dict[Status, int]:
    return {status: count for status, count in summary.rows_by_status.items() if count}


# A spent quota


async def test_a_spent_quota_stops_the_run_and_fails_no_row(tmp_path: Path, manifest: Path) -> None:
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, GatewayConfig(quota=500)))
    summary = await run(tmp_path, manifest, client, clock, concurrency=8)
    assert summary.stop_reason is StopReason.QUOTA_SPENT
    assert statuses(summary) == {Status.OK: 500, Status.CANCELLED: 1500}
    assert len(client.sent) <= 500 + 2 * 8
    assert summary.api.quota_refusals == client.count(QUOTA_SPENT)


async def test_waiting_for_the_quota_finishes_every_row_in_one_run(
    tmp_path: Path, manifest: Path
) -> None:
    """500 requests per 20 s: the run pauses, probes every 5 s, and carries on by itself."""
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, GatewayConfig(quota=500, quota_period=20)))
    log = StateLog()
    summary = await run(
        tmp_path,
        manifest,
        client,
        clock,
        observer=log,
        concurrency=8,
        on_quota=QuotaPolicy.WAIT,
        quota_probe_interval=5,
        # A quota answer never uses up a row's attempts.
        retry=RetryPolicy(max_attempts=1),
    )
    assert summary.all_ok
    assert statuses(summary) == {Status.OK: 2000}
    periods = int(clock.now // 20) + 1
    refused_by_period: dict[int, int] = {}
    for started, answer in client.sent:
        if answer == QUOTA_SPENT:
            period = int(started // 20)
            refused_by_period[period] = refused_by_period.get(period, 0) + 1
    assert len(refused_by_period) <= periods
    assert max(refused_by_period.values()) <= 2 * 8 + 1
    assert ApiCondition.QUOTA_SPENT in log.conditions
    paused = next(state for state in log.states if state.condition is ApiCondition.QUOTA_SPENT)
    assert paused.next_probe_in == 5
    assert summary.api.quota_wait_seconds > 0


class StopAfterStates(StateLog):
    """Stops the run, as a signal would, once `count` states of `condition` were told."""

    def __init__(self, control: RunControl, condition: ApiCondition, count: int) -> None:
        super().__init__()
        self.control = control
        self.condition = condition
        self.count = count

    def on_api_state(self, state: ApiState) -> None:
        super().on_api_state(state)
        if self.conditions.count(self.condition) == self.count:
            self.control.stop(StopReason.INTERRUPTED)


async def test_while_the_quota_is_spent_one_probe_goes_out_per_interval(
    tmp_path: Path, manifest: Path
) -> None:
    clock = VirtualClock()
    # The day's quota is spent after 10 requests and does not come back during the test.
    client = GatewayClient(clock, gateway(clock, GatewayConfig(quota=10)))
    control = RunControl()
    log = StopAfterStates(control, ApiCondition.QUOTA_SPENT, 4)
    upload = upload_manifest(
        manifest,
        run_settings(
            tmp_path / "r.csv",
            concurrency=8,
            on_quota=QuotaPolicy.WAIT,
            quota_probe_interval=60,
            max_outage=30,  # a quota wait is no outage, however long
        ),
        client=client,
        clock=clock,
        sleep=clock.sleep,
        observer=log,
        control=control,
    )
    summary = await clock.run(upload)
    assert summary.stop_reason is StopReason.INTERRUPTED
    refused = [started for started, answer in client.sent if answer == QUOTA_SPENT]
    first_pause = refused[0]
    probes = [started for started in refused if started > first_pause + 1]
    assert len(probes) == 3
    assert [round(later - earlier) for earlier, later in itertools.pairwise(probes)] == [60, 60]
    assert statuses(summary) == {Status.OK: 10, Status.CANCELLED: 1990}


# Throttling


async def test_a_throttled_run_slows_to_the_limit_and_keeps_near_it(
    tmp_path: Path, manifest: Path
) -> None:
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, GatewayConfig(rate_limit=50, burst=50)))
    log = StateLog()
    summary = await run(
        tmp_path,
        manifest,
        client,
        clock,
        observer=log,
        concurrency=32,
        retry=RetryPolicy(max_attempts=2),
    )
    assert statuses(summary) == {Status.OK: 2000}
    throttled = client.count(THROTTLED)
    assert throttled <= 0.10 * len(client.sent)
    assert 2000 / clock.now >= 0.85 * 50
    assert summary.api.throttled == throttled
    assert any(state.rate_limit is not None for state in log.states)


async def test_two_shards_on_one_key_settle_on_their_shares(tmp_path: Path, manifest: Path) -> None:
    clock = VirtualClock()
    shared = gateway(clock, GatewayConfig(rate_limit=50, burst=50))
    clients = [GatewayClient(clock, shared), GatewayClient(clock, shared)]
    uploads = [
        upload_manifest(
            manifest,
            run_settings(
                tmp_path / f"shard-{index}.csv",
                concurrency=32,
                shard=Shard(index, 2),
                retry=RetryPolicy(),
            ),
            client=client,
            clock=clock,
            sleep=clock.sleep,
        )
        for index, client in enumerate(clients, start=1)
    ]
    summaries = await clock.run(asyncio.gather(*uploads))
    assert sum(summary.rows_by_status[Status.OK] for summary in summaries) == 2000
    sent = sum(len(client.sent) for client in clients)
    throttled = sum(client.count(THROTTLED) for client in clients)
    assert throttled <= 0.10 * sent
    assert 2000 / clock.now >= 0.85 * 50


# Outages


def outage_after(requests: int, seconds: float) -> GatewayConfig:
    return GatewayConfig(outage_after=requests, outage_seconds=seconds)


async def test_an_outage_costs_few_requests_and_no_row(tmp_path: Path, manifest: Path) -> None:
    """30 s of 503s in the middle: the run probes, then goes on at full speed."""
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, outage_after(1000, 30)))
    log = StateLog()
    summary = await run(
        tmp_path,
        manifest,
        client,
        clock,
        observer=log,
        concurrency=8,
        # Attempts that met the outage are not charged: two attempts are plenty.
        retry=RetryPolicy(max_attempts=2),
    )
    assert statuses(summary) == {Status.OK: 2000}
    assert client.count(UNAVAILABLE) <= 30
    assert log.conditions[0] is ApiCondition.OUTAGE
    assert log.conditions[-1] is ApiCondition.NORMAL
    assert 29 <= summary.api.outage_seconds <= 40


async def test_a_permanent_outage_stops_the_run_after_max_outage(
    tmp_path: Path, manifest: Path
) -> None:
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, outage_after(500, 10**6)))
    summary = await run(tmp_path, manifest, client, clock, concurrency=8, max_outage=20)
    assert summary.stop_reason is StopReason.API_UNAVAILABLE
    assert summary.stop_detail == "the API has not answered for 20 s"
    outage_began = next(started for started, answer in client.sent if answer == UNAVAILABLE)
    assert clock.now - outage_began <= 40
    assert client.count(UNAVAILABLE) <= 50
    assert set(statuses(summary)) <= {Status.OK, Status.CANCELLED}


async def test_an_api_down_from_the_start_gets_max_outage_too(
    tmp_path: Path, manifest: Path
) -> None:
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, outage_after(0, 10**6)))
    summary = await run(tmp_path, manifest, client, clock, concurrency=8, max_outage=20)
    assert summary.stop_reason is StopReason.API_UNAVAILABLE
    assert 20 <= clock.now <= 21
    assert statuses(summary) == {Status.CANCELLED: 2000}


async def test_normal_weather_does_not_look_like_an_outage(tmp_path: Path, manifest: Path) -> None:
    """10 % processing_error and the odd 503: the run neither pauses nor slows down."""
    clock = VirtualClock()

    def weather(submission_id: str, attempt: int) -> Answer:
        number = int(submission_id.removeprefix("sub-"))
        if attempt == 1 and number % 10 == 0:
            return PROCESSING_ERROR
        if attempt == 1 and number % 97 == 0:
            return UNAVAILABLE
        return OK

    client = GatewayClient(clock, gateway(clock, GatewayConfig()), behind=weather)
    log = StateLog()
    summary = await run(tmp_path, manifest, client, clock, observer=log, concurrency=8)
    assert statuses(summary) == {Status.OK: 2000}
    assert log.states == []
    assert summary.api.outage_seconds == 0


async def test_a_row_failing_alone_is_charged_and_a_second_row_makes_an_outage(
    tmp_path: Path, manifest: Path
) -> None:
    """Concurrency 1: the first row in the outage cannot tell it from a fault of its own and
    fails after its five attempts; the next row's failure makes six in a row, from two
    rows, and the run probes until the API is back."""
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, outage_after(100, 20)))
    log = StateLog(clock)
    summary = await run(tmp_path, manifest, client, clock, observer=log, concurrency=1)
    assert statuses(summary) == {Status.OK: 1999, Status.FAILED: 1}
    outage_told_at = log.times[log.conditions.index(ApiCondition.OUTAGE)]
    failed = [started for started, answer in client.sent if answer == UNAVAILABLE]
    before = [started for started in failed if started < outage_told_at]
    assert len(before) == OUTAGE_AFTER + 1
    probes = [started for started in failed if started >= outage_told_at]
    assert probes
    assert all(later - earlier >= 1 for earlier, later in itertools.pairwise(probes))
    assert log.conditions[-1] is ApiCondition.NORMAL


# Retry-After


async def test_retry_after_pauses_the_whole_run_capped_at_max_outage(
    tmp_path: Path, manifest: Path
) -> None:
    clock = VirtualClock()
    asks_for_a_day = dataclasses.replace(UNAVAILABLE, retry_after=86_400.0)

    def once(submission_id: str, attempt: int) -> Answer:
        return asks_for_a_day if submission_id == "sub-0100" and attempt == 1 else OK

    client = GatewayClient(clock, gateway(clock, GatewayConfig()), behind=once)
    log = StateLog()
    summary = await run(
        tmp_path, manifest, client, clock, observer=log, concurrency=8, max_outage=45
    )
    assert statuses(summary) == {Status.OK: 2000}
    asked_at = next(started for started, answer in client.sent if answer == asks_for_a_day)
    later = [started for started, _ in client.sent if started > asked_at + 0.1]
    assert later
    assert min(later) >= asked_at + 45
    assert ApiCondition.PAUSED in log.conditions
    assert 44 <= summary.api.paused_seconds <= 46


# An API that cannot be reached


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            Answer(
                http_status=None,
                error_code="tls_error",
                message="the TLS certificate of h does not verify: self-signed certificate",
            ),
            StopReason.TLS_NOT_TRUSTED,
        ),
        (
            Answer(
                http_status=None,
                error_code="dns_error",
                message="the host name h does not resolve: Name or service not known",
            ),
            StopReason.NAME_NOT_RESOLVED,
        ),
    ],
)
async def test_an_unreachable_api_stops_the_run_at_once(
    tmp_path: Path, manifest: Path, answer: Answer, reason: StopReason
) -> None:
    clock = VirtualClock()
    client = GatewayClient(clock, gateway(clock, GatewayConfig()), behind=lambda *_: answer)
    summary = await run(tmp_path, manifest, client, clock, concurrency=8)
    assert summary.stop_reason is reason
    assert summary.stop_detail == answer.message
    assert len(client.sent) <= 8
    assert statuses(summary) == {Status.CANCELLED: 2000}
