"""The API key, image bytes and their Base64 never reach the output, report or a traceback."""

from __future__ import annotations

import base64
import stat
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batch_uploader import RunSettings, engine
from batch_uploader.cli import cli
from batch_uploader.mock.faults import Fault
from batch_uploader.mock.server import MockConfig, RunningMockServer

from .support import API_KEY, ImageMaker

StartServer = Callable[[MockConfig], RunningMockServer]
FAULTS = {"s2": Fault.PROCESSING_ERROR, "s3": Fault.BAD_GATEWAY, "s4": Fault.DROP}


@pytest.fixture
def images(tmp_path: Path, make_image: ImageMaker) -> list[bytes]:
    return [make_image(f"{name}.png", size=4000) for name in ("a", "b", "c", "d")]


@pytest.fixture
def manifest(tmp_path: Path, images: list[bytes]) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(
        "submissionId,selfieImage\ns1,a.png\ns2,b.png\ns3,c.png\ns4,d.png\ns5,missing.png\n"
    )
    return path


@pytest.fixture
def server(server_in_thread: StartServer) -> RunningMockServer:
    return server_in_thread(
        MockConfig(api_key=API_KEY, faults=lambda submission, attempt: FAULTS.get(submission))
    )


def run(manifest: Path, server: RunningMockServer, report: Path, *extra: str) -> Result:
    args = ["run", str(manifest), "--base-url", server.url, "--admin", "a@x.io"]
    args += ["--max-attempts", "2", "--report", str(report), "--timeout", "2", *extra]
    return CliRunner().invoke(cli, args, env={"ARGOS_API_KEY": API_KEY})


def assert_no_secret(text: str, images: list[bytes]) -> None:
    assert API_KEY not in text
    for content in images:
        encoded = base64.b64encode(content).decode()
        runs = {encoded[start : start + 40] for start in range(0, len(encoded) - 40, 8)}
        assert not any(run in text for run in runs), "Base64 of an image leaked"
        raw = content.decode("latin-1")
        assert not any(raw[start : start + 24] in text for start in range(0, len(raw) - 24, 64))


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_success_failures_and_invalid_rows_leak_nothing(
    manifest: Path, server: RunningMockServer, tmp_path: Path, images: list[bytes], log_format: str
) -> None:
    report = tmp_path / f"r-{log_format}.jsonl"
    result = run(manifest, server, report, "--log-format", log_format)
    assert result.exit_code == 1, result.output
    assert "s1" in report.read_text()
    assert_no_secret(result.stdout + result.stderr + report.read_text(), images)
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


def test_a_forced_internal_error_shows_a_traceback_without_secrets(
    manifest: Path,
    server: RunningMockServer,
    tmp_path: Path,
    images: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_finish(self: object, result: object) -> None:
        raise RuntimeError("forced internal error")

    monkeypatch.setattr(engine._Run, "_finish", broken_finish)
    report = tmp_path / "r.csv"
    result = run(manifest, server, report)
    assert result.exc_info is not None
    trace = "".join(traceback.format_exception(*result.exc_info))
    assert "forced internal error" in trace
    assert_no_secret(trace + result.stdout + result.stderr + report.read_text(), images)


def test_settings_never_show_the_key() -> None:
    assert API_KEY not in repr(RunSettings(api_key=API_KEY))
