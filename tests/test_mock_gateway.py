"""The mock server's gateway: throttle, quota, outage and IP deny, as API Gateway answers.

The rules are tested on a hand-moved clock; the answers through HTTP, as a client sees them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from batch_uploader.api import ENDPOINT
from batch_uploader.client import open_session
from batch_uploader.mock.gateway import Gateway, GatewayConfig, GatewayRefusal
from batch_uploader.mock.server import MockConfig, RunningMockServer, running_mock_server
from batch_uploader.request_body import form_body

from .client_harness import client
from .fakes import VirtualClock
from .support import API_KEY
from .tls import make_certificates

FIELDS = [("submissionId", b"s1"), ("admin", b"a@x.io"), ("selfieImage", b"iVBORw0KGgo=")]


def answers(gateway: Gateway, count: int) -> list[GatewayRefusal | None]:
    return [gateway.refusal() for _ in range(count)]


def test_the_throttle_lets_a_burst_through_then_the_rate() -> None:
    clock = VirtualClock()
    gateway = Gateway(GatewayConfig(rate_limit=10, burst=5), clock=clock, wall_clock=clock)
    assert answers(gateway, 6) == [None] * 5 + [GatewayRefusal.RATE_LIMITED]
    clock.now = 0.1  # one token back
    assert answers(gateway, 2) == [None, GatewayRefusal.RATE_LIMITED]
    clock.now = 10.0  # the bucket holds no more than the burst
    assert answers(gateway, 6) == [None] * 5 + [GatewayRefusal.RATE_LIMITED]


def test_the_quota_resets_at_each_period_aligned_to_the_epoch() -> None:
    clock = VirtualClock()
    clock.now = 86_400.0 * 3 + 86_399.0  # one second before 00:00 UTC
    gateway = Gateway(GatewayConfig(quota=2), clock=clock, wall_clock=clock)
    assert answers(gateway, 3) == [None, None, GatewayRefusal.QUOTA_SPENT]
    clock.now += 1.0
    assert answers(gateway, 3) == [None, None, GatewayRefusal.QUOTA_SPENT]


def test_throttled_requests_do_not_use_the_quota() -> None:
    clock = VirtualClock()
    config = GatewayConfig(quota=3, rate_limit=1, burst=1)
    gateway = Gateway(config, clock=clock, wall_clock=clock)
    assert answers(gateway, 3) == [None, GatewayRefusal.RATE_LIMITED, GatewayRefusal.RATE_LIMITED]
    clock.now = 1.0
    assert answers(gateway, 1) == [None]


def test_the_outage_starts_after_n_requests_and_lasts_its_seconds() -> None:
    clock = VirtualClock()
    config = GatewayConfig(outage_after=2, outage_seconds=30)
    gateway = Gateway(config, clock=clock, wall_clock=clock)
    assert answers(gateway, 3) == [None, None, GatewayRefusal.OUTAGE]
    clock.now = 29.9
    assert answers(gateway, 1) == [GatewayRefusal.OUTAGE]
    clock.now = 30.0
    assert answers(gateway, 2) == [None, None]


Start = Callable[[GatewayConfig], RunningMockServer]


@pytest.fixture
def start(server_in_thread: Callable[[MockConfig], RunningMockServer]) -> Start:
    return lambda gateway: server_in_thread(MockConfig(api_key=API_KEY, gateway=gateway))


async def put(url: str, *, key: str = API_KEY) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.put(url + ENDPOINT, data=form_body(FIELDS), headers={"x-api-key": key}) as reply,
    ):
        return reply.status, await reply.text()


@pytest.mark.parametrize(
    ("gateway", "status", "body"),
    [
        (GatewayConfig(quota=0), 429, '{"message": "Limit Exceeded"}'),
        (
            GatewayConfig(rate_limit=1, burst=1, quota=1),
            200,
            '{"message": "complete to update image."}',
        ),
        (GatewayConfig(ip_denied=True), 403, "explicit deny"),
        (GatewayConfig(outage_after=0, outage_seconds=60), 503, ""),
    ],
)
async def test_the_gateway_answers_as_api_gateway_does(
    start: Start, gateway: GatewayConfig, status: int, body: str
) -> None:
    server = start(gateway)
    got_status, got_body = await put(server.url)
    assert got_status == status
    assert body in got_body


async def test_a_throttled_request_gets_too_many_requests(start: Start) -> None:
    server = start(GatewayConfig(rate_limit=0.001, burst=1))
    await put(server.url)
    assert await put(server.url) == (429, '{"message": "Too Many Requests"}')
    assert server.received.answers == {"ok": 1, "rate_limited": 1}


async def test_a_wrong_key_is_refused_before_the_gateway_counts_it(start: Start) -> None:
    server = start(GatewayConfig(quota=1))
    assert (await put(server.url, key="wrong"))[0] == 403
    assert (await put(server.url))[0] == 200


async def test_an_outage_can_drop_connections(start: Start) -> None:
    server = start(GatewayConfig(outage_after=0, outage_seconds=60, outage_drops=True))
    async with open_session(concurrency=1) as session:
        answer = await client(session, server.url, api_key=API_KEY).put_images(FIELDS)
    assert (answer.http_status, answer.error_code) == (None, "network_error")
    assert server.received.answers == {"outage": 1}


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[tuple[RunningMockServer, Path]]:
    certificates = make_certificates(tmp_path)
    config = MockConfig(api_key=API_KEY)
    async with running_mock_server(config, tls=certificates.server) as server:
        yield server, certificates.ca_bundle


async def test_an_untrusted_certificate_is_refused_naming_host_and_reason(
    https_server: tuple[RunningMockServer, Path],
) -> None:
    server, _ = https_server
    assert server.url.startswith("https://127.0.0.1:")
    async with open_session(concurrency=1) as session:
        answer = await client(session, server.url, api_key=API_KEY).put_images(FIELDS)
    assert answer.error_code == "tls_error"
    assert answer.message.startswith("the TLS certificate of 127.0.0.1 does not verify: ")
    assert "issuer" in answer.message or "self" in answer.message
    assert server.received.requests == 0


async def test_a_ca_bundle_makes_the_certificate_trusted(
    https_server: tuple[RunningMockServer, Path],
) -> None:
    server, ca_bundle = https_server
    async with open_session(concurrency=1, ca_bundle=ca_bundle) as session:
        answer = await client(session, server.url, api_key=API_KEY).put_images(FIELDS)
    assert answer.accepted
    assert server.received.accepted == {
        "s1": {"selfieImage": server.received.accepted["s1"]["selfieImage"]}
    }
