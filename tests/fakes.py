"""Recording fakes for the engine's seams: a virtual clock and an in-memory API client."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from batch_uploader import Answer, RunSettings, RunSummary, api, upload_manifest
from batch_uploader.mock.gateway import Gateway, GatewayConfig, GatewayRefusal
from batch_uploader.multipart import FormFields

T = TypeVar("T")
# Event-loop turns without progress after which the clock jumps to the next wake-up.
IDLE_ROUNDS = 20

OK = Answer(http_status=200, message="complete to update image.")
PROCESSING_ERROR = Answer(
    http_status=400, error_code="processing_error", message="Failed to put image."
)


class VirtualClock:
    """Time that passes only when every task waits on it: `run` drives it.

    `sleep` parks the caller until virtual time reaches its wake-up time; whenever the
    coroutine under `run` and its tasks have nothing else to do, time jumps to the next
    wake-up. Nothing waits in real time.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    async def run(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.ensure_future(awaitable)
        while not task.done():
            for _ in range(IDLE_ROUNDS):
                await asyncio.sleep(0)
            self._wake_next()
        return task.result()

    def _wake_next(self) -> None:
        while self._sleepers:
            when, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                self.now = max(self.now, when)
                wake.set_result(None)
                return


class FakeClient:
    """Answers every attempt from `decide(submissionId, attempt)`; records when each started."""

    def __init__(
        self,
        clock: Callable[[], float],
        decide: Callable[[str, int], Answer] = lambda submission_id, attempt: OK,
    ) -> None:
        self.clock = clock
        self.decide = decide
        self.starts: list[float] = []
        self.attempts: dict[str, int] = {}

    async def put_images(self, fields: FormFields) -> Answer:
        self.starts.append(self.clock())
        value = dict(fields)["submissionId"]
        assert isinstance(value, bytes)
        submission_id = value.decode()
        self.attempts[submission_id] = self.attempts.get(submission_id, 0) + 1
        await asyncio.sleep(0)
        return self.decide(submission_id, self.attempts[submission_id])


# What the gateway's own refusals look like once the client has read them.
GATEWAY_ANSWERS = {
    GatewayRefusal.IP_DENIED: Answer(
        http_status=403, error_code="http_403", message=api.GATEWAY_IP_DENIED
    ),
    GatewayRefusal.RATE_LIMITED: Answer(
        http_status=429, error_code="http_429", message=api.GATEWAY_THROTTLED
    ),
    GatewayRefusal.QUOTA_SPENT: Answer(
        http_status=429, error_code="http_429", message=api.GATEWAY_QUOTA_SPENT
    ),
    GatewayRefusal.OUTAGE: Answer(
        http_status=503, error_code="http_503", message="HTTP 503 Service Unavailable"
    ),
}


class GatewayClient:
    """The mock server's gateway (throttle, quota, outage) in virtual time, without HTTP.

    Each request takes `latency` virtual seconds, half before the gateway decides and half
    after; `behind` decides the answers the gateway lets through. Records every request's
    start time and the answer it got.
    """

    def __init__(
        self,
        clock: VirtualClock,
        gateway: Gateway,
        *,
        latency: float = 0.004,
        behind: Callable[[str, int], Answer] = lambda submission_id, attempt: OK,
    ) -> None:
        self.clock = clock
        self.gateway = gateway
        self.latency = latency
        self.behind = FakeClient(clock, behind)
        self.sent: list[tuple[float, Answer]] = []

    async def put_images(self, fields: FormFields) -> Answer:
        started = self.clock()
        await self.clock.sleep(self.latency / 2)
        refusal = self.gateway.refusal()
        answer = GATEWAY_ANSWERS[refusal] if refusal else await self.behind.put_images(fields)
        await self.clock.sleep(self.latency / 2)
        self.sent.append((started, answer))
        return answer

    def count(self, answer: Answer) -> int:
        return sum(1 for _, got in self.sent if got == answer)


def gateway(clock: VirtualClock, config: GatewayConfig) -> Gateway:
    """The mock server's gateway on virtual time (its quota windows too)."""
    return Gateway(config, clock=clock, wall_clock=clock)


async def upload_with_fake_client(
    manifest: Path, settings: RunSettings, *, clock: VirtualClock | None = None
) -> RunSummary:
    """`upload_manifest` with a `FakeClient` that accepts everything, on virtual time."""
    clock = clock or VirtualClock()
    return await upload_manifest(
        manifest, settings, client=FakeClient(clock), clock=clock, sleep=clock.sleep
    )
