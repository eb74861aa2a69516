"""`--metrics-file` and `--pushgateway`: the run's figures, read back with prometheus_client's
own parser from real runs against the mock server."""

from __future__ import annotations

import asyncio
import base64
import csv
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from batch_uploader.cli import cli
from batch_uploader.cli.metrics_output import MetricsPublisher, MetricsTargets
from batch_uploader.client import Answer
from batch_uploader.events import ApiCondition, ApiState, RequestEvent, RetryEvent
from batch_uploader.manifest import ManifestRow
from batch_uploader.metrics import RunMetrics
from batch_uploader.mock.faults import Fault
from batch_uploader.mock.server import MockConfig, RunningMockServer

from .fakes import VirtualClock
from .support import API_KEY

EXAMPLE = Path(__file__).resolve().parent.parent / "manifests" / "example.csv"
StartServer = Callable[[MockConfig], RunningMockServer]
# The Authorization header of each push the stand-in Pushgateway received, newest last.
AUTHORIZATIONS: list[str | None] = []
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def invoke(*args: str) -> Result:
    env = {"ARGOS_API_KEY": API_KEY, "ARGOS_BASE_URL": None, "ARGOS_ADMIN": None}
    return CliRunner().invoke(cli, list(args), env=env)


def run_example(url: str, report: Path, *options: str) -> Result:
    """`run` on the example manifest against `url`, writing `report`."""
    return invoke("run", str(EXAMPLE), "--base-url", url, "--report", str(report), *options)


def samples(text: str) -> Samples:
    """Every sample by name and labels, the report and shard labels left out."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k not in {"report", "shard"}}
            found[(sample.name, frozenset(labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def second_attempts_fail(submission_id: str, attempt: int) -> Fault | None:
    """Every row's first attempt gets processing_error; the retry succeeds."""
    return Fault.PROCESSING_ERROR if attempt == 1 else None


def test_metrics_file_counts_rows_requests_retries_and_bytes(
    server_in_thread: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = server_in_thread(MockConfig(api_key=API_KEY, faults=second_attempts_fail))
    monkeypatch.chdir(tmp_path)
    metrics_file = tmp_path / "upload.prom"
    result = invoke(
        "run", str(EXAMPLE), "--base-url", server.url, "--metrics-file", str(metrics_file)
    )
    assert result.exit_code == 0, result.output
    found = samples(metrics_file.read_text())
    with (tmp_path / "example.report.csv").open(newline="") as file:
        report_rows = list(csv.DictReader(file))
    assert value(found, "batch_uploader_rows_total", status="ok") == len(report_rows)
    assert value(found, "batch_uploader_rows_total", status="failed") == 0
    assert value(found, "batch_uploader_requests_total", outcome="accepted") == len(report_rows)
    assert value(found, "batch_uploader_requests_total", outcome="row_retryable") == len(
        report_rows
    )
    assert value(found, "batch_uploader_request_errors_total", error_code="processing_error") == (
        len(report_rows)
    )
    assert value(found, "batch_uploader_retries_total") == len(report_rows)
    assert value(found, "batch_uploader_sent_bytes_total") == server.received.body_bytes > 0
    assert value(found, "batch_uploader_request_duration_seconds_count") == server.received.requests
    assert value(found, "batch_uploader_exit_code") == 0
    assert value(found, "batch_uploader_run_finished") == 1
    assert ("batch_uploader_last_success_timestamp_seconds", frozenset()) in found
    assert value(found, "batch_uploader_api_condition", condition="normal") == 1
    # Written atomically: no temporary file is left beside it.
    assert [path.name for path in tmp_path.glob("upload.prom*")] == ["upload.prom"]


def test_a_failed_run_has_its_exit_code_and_no_last_success(
    server_in_thread: StartServer, tmp_path: Path
) -> None:
    server = server_in_thread(
        MockConfig(api_key=API_KEY, faults=lambda sid, attempt: Fault.PROCESSING_ERROR)
    )
    metrics_file = tmp_path / "upload.prom"
    report = tmp_path / "r.csv"
    result = run_example(
        server.url, report, "--max-attempts", "2", "--metrics-file", str(metrics_file)
    )
    assert result.exit_code == 1, result.output
    found = samples(metrics_file.read_text())
    assert value(found, "batch_uploader_rows_total", status="failed") == 6
    assert value(found, "batch_uploader_exit_code") == 1
    assert ("batch_uploader_last_success_timestamp_seconds", frozenset()) not in found


def test_a_metrics_file_that_cannot_be_written_stops_the_run_before_sending(
    server_in_thread: StartServer, tmp_path: Path
) -> None:
    server = server_in_thread(MockConfig(api_key=API_KEY))
    result = run_example(
        server.url,
        tmp_path / "r.csv",
        "--metrics-file",
        str(tmp_path / "no-such-folder" / "m.prom"),
    )
    assert result.exit_code == 2
    assert "cannot write the metrics file" in result.stderr
    assert "no-such-folder" in result.stderr
    assert server.received.requests == 0


class _Gateway(BaseHTTPRequestHandler):
    pushes: list[tuple[str, str, bytes]]
    authorizations: list[str | None]

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.pushes.append(("PUT", self.path, body))
        self.authorizations.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what was pushed."""


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A local stand-in for a Pushgateway on loopback, recording every push."""
    pushes: list[tuple[str, str, bytes]] = []
    handler = type("Gateway", (_Gateway,), {"pushes": pushes, "authorizations": AUTHORIZATIONS})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", pushes
    httpd.shutdown()
    thread.join()
    httpd.server_close()


def test_pushgateway_receives_the_final_figures_grouped_by_job_report_and_shard(
    server_in_thread: StartServer,
    tmp_path: Path,
    pushgateway: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    server = server_in_thread(MockConfig(api_key=API_KEY))
    url, pushes = pushgateway
    result = run_example(
        server.url,
        tmp_path / "s1.csv",
        "--shard",
        "1/1",
        "--pushgateway",
        url,
        "--pushgateway-job",
        "nightly",
    )
    assert result.exit_code == 0, result.output
    assert pushes, "nothing was pushed"
    method, path, body = pushes[-1]
    # The shard's "/" is Base64-encoded in the path, as the Pushgateway's API asks.
    assert (method, path) == ("PUT", "/metrics/job/nightly/report/s1.csv/shard@base64/MS8x")
    found = samples(body.decode())
    assert value(found, "batch_uploader_rows_total", status="ok") == 6
    assert value(found, "batch_uploader_exit_code") == 0


def test_an_unreachable_pushgateway_is_a_warning_not_a_failed_run(
    server_in_thread: StartServer, tmp_path: Path
) -> None:
    server = server_in_thread(MockConfig(api_key=API_KEY))
    result = run_example(
        server.url, tmp_path / "r.csv", "--pushgateway", "http://user:secret@127.0.0.1:9"
    )
    assert result.exit_code == 0, result.output
    assert "metrics: cannot push to http://user:***@127.0.0.1:9" in result.stderr
    assert "secret" not in result.stderr


def test_time_in_each_api_condition_is_counted_by_the_injected_clock() -> None:
    clock = VirtualClock()
    metrics = RunMetrics(clock=clock, wall_clock=lambda: 1_000.0)
    clock.now += 5
    metrics.on_api_state(ApiState(condition=ApiCondition.OUTAGE))
    clock.now += 30
    metrics.on_api_state(ApiState(condition=ApiCondition.NORMAL, rate_limit=4.0))
    clock.now += 2
    metrics.on_request(RequestEvent(Answer(http_status=200), 0.2, [("submissionId", b"s1")]))
    found = samples(generate_latest(metrics.registry()).decode())
    assert value(found, "batch_uploader_api_condition_seconds_total", condition="outage") == 30
    assert value(found, "batch_uploader_api_condition_seconds_total", condition="normal") == 7
    assert value(found, "batch_uploader_api_condition_entered_total", condition="outage") == 1
    assert value(found, "batch_uploader_rate_limit") == 4.0
    assert value(found, "batch_uploader_last_accepted_timestamp_seconds") == 1_000.0
    assert value(found, "batch_uploader_request_duration_seconds_bucket", le="0.25") == 1
    assert value(found, "batch_uploader_request_duration_seconds_bucket", le="0.1") == 0
    assert value(found, "batch_uploader_run_duration_seconds") == 37


async def test_the_file_is_replaced_every_interval_while_the_run_goes_on(tmp_path: Path) -> None:
    metrics_file = tmp_path / "m.prom"
    publisher = MetricsPublisher(
        MetricsTargets(file=metrics_file), report=Path("r.csv"), shard=None
    )
    seen: list[float] = []

    async def one_interval(seconds: float) -> None:
        assert seconds == 10
        if metrics_file.exists():
            seen.append(value(samples(metrics_file.read_text()), "batch_uploader_retries_total"))
        if len(seen) == 3:
            raise asyncio.CancelledError
        publisher.metrics.on_retry(
            ManifestRow(row=1, line=2, values={}), RetryEvent(1, 0.0, Answer(http_status=None))
        )

    with pytest.raises(asyncio.CancelledError):
        await publisher.publish_every(sleep=one_interval)
    assert seen == [1, 2, 3]


def test_the_metrics_file_may_not_be_the_report(tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    result = run_example("http://127.0.0.1:9", report, "--metrics-file", str(report))
    assert result.exit_code == 2
    assert "is the report" in result.stderr
    assert not report.exists()


def test_a_run_refused_after_the_first_write_leaves_its_exit_code_not_a_running_run(
    server_in_thread: StartServer, tmp_path: Path
) -> None:
    """The report exists (no --resume, no --overwrite): exit 2, and the metrics file, first
    written before the report was opened, says so instead of showing a run in progress."""
    server = server_in_thread(MockConfig(api_key=API_KEY))
    report = tmp_path / "r.csv"
    report.write_text("")
    metrics_file = tmp_path / "m.prom"
    result = run_example(server.url, report, "--metrics-file", str(metrics_file))
    assert result.exit_code == 2
    found = samples(metrics_file.read_text())
    assert value(found, "batch_uploader_run_finished") == 1
    assert value(found, "batch_uploader_exit_code") == 2
    assert server.received.requests == 0


def test_the_printed_resume_command_hides_the_pushgateways_password(
    server_in_thread: StartServer, tmp_path: Path
) -> None:
    server = server_in_thread(
        MockConfig(api_key=API_KEY, faults=lambda sid, attempt: Fault.PROCESSING_ERROR)
    )
    result = run_example(
        server.url,
        tmp_path / "r.csv",
        "--max-attempts",
        "1",
        "--pushgateway",
        "http://user:secret@127.0.0.1:9",
    )
    assert result.exit_code == 1
    assert "--pushgateway 'http://user:***@127.0.0.1:9'" in result.stderr
    assert "secret" not in result.stderr


def test_a_pushgateway_behind_basic_auth_gets_the_credentials_of_its_url(
    server_in_thread: StartServer,
    tmp_path: Path,
    pushgateway: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    server = server_in_thread(MockConfig(api_key=API_KEY))
    url, pushes = pushgateway
    with_credentials = url.replace("http://", "http://pusher:s3cret@")
    result = run_example(server.url, tmp_path / "r.csv", "--pushgateway", with_credentials)
    assert result.exit_code == 0, result.output
    assert pushes, "nothing was pushed"
    assert AUTHORIZATIONS[-1] == "Basic " + base64.b64encode(b"pusher:s3cret").decode()
    assert "s3cret" not in result.stderr
