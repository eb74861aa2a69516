"""The mock server answers like API.md says Argos does: every errorCode in its situation only."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import requests

from batch_uploader.mock.faults import Fault, random_faults
from batch_uploader.mock.server import MockConfig, RunningMockServer, running_mock_server
from batch_uploader.multipart import build_form

from .support import API_KEY, JPEG_HEADER, PNG_HEADER

ENDPOINT = "/v3/submission/image"
JPEG = base64.b64encode(JPEG_HEADER + b"front of the card").decode()
PNG = base64.b64encode(PNG_HEADER + b"a selfie").decode()
VALID = {
    "submissionId": "sub-1",
    "admin": "ops@example.com",
    "idType": "passport",
    "idImage": JPEG,
    "selfieImage": PNG,
}
OK_BODY = {"message": "complete to update image."}
StartServer = Callable[[MockConfig], RunningMockServer]


def strict_config(**overrides: object) -> MockConfig:
    settings: dict[str, object] = {
        "api_key": API_KEY,
        "admins": frozenset({"ops@example.com"}),
        "submissions": frozenset({"sub-1", "sub-2"}),
    }
    settings.update(overrides)
    return MockConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[RunningMockServer]:
    async with running_mock_server(strict_config()) as running:
        yield running


async def put(
    server: RunningMockServer,
    fields: dict[str, str],
    *,
    key: str | None = API_KEY,
    data: object = None,
) -> tuple[int, dict[str, str]]:
    headers = {"x-api-key": key} if key is not None else {}
    body = data if data is not None else build_form([(k, v.encode()) for k, v in fields.items()])
    async with (
        aiohttp.ClientSession() as session,
        session.put(server.url + ENDPOINT, data=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in VALID.items() if key != name}


def with_(**changes: str) -> dict[str, str]:
    return {**VALID, **changes}


REFUSALS = [
    ("no submissionId", without("submissionId"), "missing_data", "Required input data is missing."),
    ("no admin", without("admin"), "missing_data", "Required input data is missing."),
    (
        "idImage without idType",
        without("idType"),
        "missing_data",
        "The idType is required when submit idImage or idBackImage.",
    ),
    (
        "no image",
        {"submissionId": "sub-1", "admin": "ops@example.com", "idType": "passport"},
        "invalid_data",
        "At least one image parameter is required.",
    ),
    ("unknown idType", with_(idType="drvlic"), "invalid_idType", "Invalid IdType."),
    (
        "bad Base64",
        with_(selfieImage="not base64!"),
        "invalid_payload",
        "Fail to parse the input data.",
    ),
    (
        "unpadded Base64",
        with_(selfieImage=PNG.rstrip("=")[:-1]),
        "invalid_payload",
        "Fail to parse the input data.",
    ),
    (
        "bytes that are not JPEG or PNG",
        with_(selfieImage=base64.b64encode(b"GIF89a....").decode()),
        "invalid_payload",
        "Fail to parse the input data.",
    ),
    ("unknown admin", with_(admin="eve@example.com"), "invalid_admin", "Invalid admin."),
    (
        "unknown submission",
        with_(submissionId="sub-9"),
        "invalid_submission",
        "Invalid submission.",
    ),
]


async def test_a_valid_request_is_accepted_and_recorded(server: RunningMockServer) -> None:
    assert await put(server, VALID) == (200, OK_BODY)
    accepted = server.received.accepted["sub-1"]
    assert set(accepted) == {"idImage", "selfieImage"}
    assert server.received.answers == {"ok": 1}


@pytest.mark.parametrize(
    ("fields", "error_code", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
async def test_each_documented_error_in_its_situation_only(
    server: RunningMockServer, fields: dict[str, str], error_code: str, message: str
) -> None:
    status, body = await put(server, fields)
    assert (status, body) == (400, {"errorCode": error_code, "message": message})
    assert server.received.answers == {error_code: 1}
    assert server.received.accepted == {}


async def test_wrong_or_missing_key_is_forbidden(server: RunningMockServer) -> None:
    assert await put(server, VALID, key="wrong") == (403, {"message": "Forbidden"})
    assert await put(server, VALID, key=None) == (403, {"message": "Forbidden"})
    assert server.received.accepted == {}


async def test_inactive_project_is_invalid_project() -> None:
    async with running_mock_server(strict_config(inactive_project=True)) as server:
        status, body = await put(server, VALID)
    assert (status, body["errorCode"]) == (400, "invalid_project")


async def test_file_upload_part_is_invalid_payload(server: RunningMockServer) -> None:
    form = aiohttp.FormData()
    for name, value in without("selfieImage").items():
        form.add_field(name, value)
    form.add_field("selfieImage", PNG.encode(), filename="selfie.png")
    status, body = await put(server, {}, data=form)
    assert (status, body["errorCode"]) == (400, "invalid_payload")


async def test_urlencoded_body_is_invalid_payload(server: RunningMockServer) -> None:
    status, body = await put(server, {}, data=aiohttp.FormData(VALID))
    assert (status, body["errorCode"]) == (400, "invalid_payload")


async def test_faults_answer_as_the_gateway_would() -> None:
    kinds = {
        "s-processing": Fault.PROCESSING_ERROR,
        "s-throttled": Fault.THROTTLED,
        "s-gateway": Fault.BAD_GATEWAY,
        "s-unavailable": Fault.UNAVAILABLE,
        "s-drop": Fault.DROP,
    }
    config = MockConfig(
        api_key=API_KEY, faults=lambda submission, attempt: kinds[submission], retry_after_seconds=4
    )
    async with running_mock_server(config) as server, aiohttp.ClientSession() as session:
        seen: dict[str, tuple[int, str, str | None]] = {}
        for submission in list(kinds)[:-1]:
            form = build_form([(k, v.encode()) for k, v in with_(submissionId=submission).items()])
            async with session.put(
                server.url + ENDPOINT, data=form, headers={"x-api-key": API_KEY}
            ) as response:
                seen[submission] = (
                    response.status,
                    (await response.text())[:40],
                    response.headers.get("Retry-After"),
                )
        form = build_form([(k, v.encode()) for k, v in with_(submissionId="s-drop").items()])
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.put(server.url + ENDPOINT, data=form, headers={"x-api-key": API_KEY})
    assert seen["s-processing"][:2] == (400, '{"errorCode": "processing_error", "messa')
    assert seen["s-throttled"][0::2] == (429, "4")
    assert seen["s-gateway"][:2] == (502, "<html><body><h1>502 Bad Gateway</h1></bo")
    assert seen["s-unavailable"][:2] == (503, "")
    assert server.received.accepted == {}


def test_random_faults_are_seeded_order_free_and_near_their_rate() -> None:
    plan = random_faults({Fault.PROCESSING_ERROR: 0.1, Fault.DROP: 0.05}, seed=1)
    draws = [plan(f"sub-{index}", 1) for index in range(10_000)]
    assert 800 < draws.count(Fault.PROCESSING_ERROR) < 1200
    assert 350 < draws.count(Fault.DROP) < 650
    again = random_faults({Fault.PROCESSING_ERROR: 0.1, Fault.DROP: 0.05}, seed=1)
    assert [again(f"sub-{index}", 1) for index in reversed(range(10_000))] == draws[::-1]
    other_seed = random_faults({Fault.PROCESSING_ERROR: 0.1, Fault.DROP: 0.05}, seed=2)
    assert [other_seed(f"sub-{index}", 1) for index in range(10_000)] != draws


def test_random_fault_rates_over_one_are_refused() -> None:
    with pytest.raises(ValueError, match="add up to at most 1"):
        random_faults({Fault.PROCESSING_ERROR: 0.7, Fault.DROP: 0.4})


# The vendor's own documented clients (API.md), sent to the mock server.


def test_vendor_python_requests_example_is_accepted(
    server_in_thread: StartServer,
) -> None:
    server = server_in_thread(strict_config())
    response = requests.put(
        server.url + ENDPOINT,
        headers={"x-api-key": API_KEY},
        files={name: (None, value) for name, value in VALID.items()},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, OK_BODY)
    assert set(server.received.accepted["sub-1"]) == {"idImage", "selfieImage"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_vendor_curl_example_is_accepted(server_in_thread: StartServer, tmp_path: Path) -> None:
    server = server_in_thread(strict_config())
    command = ["curl", "--silent", "--show-error", "--request", "PUT"]
    command += [server.url + ENDPOINT, "--header", f"x-api-key: {API_KEY}"]
    for name, value in VALID.items():
        command += ["--form", f"{name}={value}"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
    assert result.stdout == '{"message": "complete to update image."}'
    assert set(server.received.accepted["sub-1"]) == {"idImage", "selfieImage"}


async def test_no_answer_outlives_the_server_after_its_client_has_gone() -> None:
    # A client gives up on a slow answer (a timeout) while its handler still waits; the
    # server then shuts down. aiohttp's shutdown left such a handler running; with 3.11.0,
    # the floor, it then outlived the event loop ("Task was destroyed but it is pending!").
    reached = asyncio.Event()

    def slow_answer(submission_id: str, attempt: int) -> Fault:
        reached.set()
        return Fault.SLOW

    config = strict_config(faults=slow_answer, slow_seconds=600.0)
    form = build_form([(k, v.encode()) for k, v in VALID.items()])
    async with running_mock_server(config) as server, aiohttp.ClientSession() as session:

        async def send() -> None:
            await session.put(server.url + ENDPOINT, data=form, headers={"x-api-key": API_KEY})

        request = asyncio.create_task(send())
        await reached.wait()
        request.cancel()  # the client's side of the connection closes
        with contextlib.suppress(asyncio.CancelledError):
            await request
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    assert left == []
