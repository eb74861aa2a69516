"""The `batch-uploader` command in-process: exit codes, messages, and what it never prints."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from batch_uploader.cli import cli
from batch_uploader.cli.run import run
from batch_uploader.mock.faults import Fault
from batch_uploader.mock.server import MockConfig, RunningMockServer

from .support import API_KEY, ImageMaker

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "manifests"
StartServer = Callable[[MockConfig], RunningMockServer]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    environment = {"ARGOS_API_KEY": API_KEY, "ARGOS_BASE_URL": "", "ARGOS_ADMIN": ""}
    environment.update(env or {})
    # An empty value unsets the variable for click.
    unset = {name: None for name, value in environment.items() if not value}
    return CliRunner().invoke(cli, list(args), env={**environment, **unset})


@pytest.fixture
def server(server_in_thread: StartServer) -> RunningMockServer:
    return server_in_thread(MockConfig(api_key=API_KEY))


@pytest.mark.parametrize("command", [[], ["run"], ["validate"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output
    assert len(result.output.splitlines()) > 5


def test_python_dash_m_is_the_same_program() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batch_uploader", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "validate" in result.stdout


def test_run_uploads_the_example_manifest(
    server: RunningMockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("run", str(EXAMPLES / "example.csv"), "--base-url", server.url)
    assert result.exit_code == 0, result.output
    report = tmp_path / "example.report.csv"
    with report.open(newline="") as file:
        lines = list(csv.DictReader(file))
    assert [line["status"] for line in lines] == ["ok"] * 6
    assert "6 rows: 6 ok, 0 failed, 0 invalid, 0 cancelled" in result.stderr
    assert "Report: example.report.csv" in result.stderr
    assert len(server.received.accepted) == 6


def test_yaml_example_with_defaults_uploads_too(server: RunningMockServer, tmp_path: Path) -> None:
    report = tmp_path / "yaml.jsonl"
    result = invoke(
        "run", str(EXAMPLES / "example.yaml"), "--base-url", server.url, "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert len(report.read_text().splitlines()) == 6


def test_failed_or_invalid_rows_exit_1(
    server_in_thread: StartServer, tmp_path: Path, make_image: ImageMaker
) -> None:
    server = server_in_thread(
        MockConfig(api_key=API_KEY, faults=lambda submission, attempt: Fault.PROCESSING_ERROR)
    )
    make_image("s.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("submissionId,selfieImage\ns1,s.png\ns2,missing.png\n")
    result = invoke(
        "run", str(manifest), "--base-url", server.url, "--admin", "a@x.io",
        "--max-attempts", "2", "--report", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "row 1 (s1): failed processing_error: Failed to put image." in result.stderr
    assert "row 2 (s2): invalid file_not_found" in result.stderr
    assert "attempt 1 got processing_error; retrying" in result.stderr


def test_missing_api_key_exits_2_and_sends_nothing(
    server: RunningMockServer, tmp_path: Path
) -> None:
    result = invoke(
        "run", str(EXAMPLES / "example.csv"), "--base-url", server.url,
        "--report", str(tmp_path / "r.csv"), env={"ARGOS_API_KEY": ""},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no API key: set ARGOS_API_KEY or pass --api-key-file" in result.stderr
    assert server.received.requests == 0
    assert not (tmp_path / "r.csv").exists()


def test_api_key_file_first_line_is_the_key(server: RunningMockServer, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"{API_KEY}\nsecond line ignored\n")
    result = invoke(
        "run", str(EXAMPLES / "example.csv"), "--base-url", server.url,
        "--api-key-file", str(key_file), "--report", str(tmp_path / "r.csv"),
        env={"ARGOS_API_KEY": "wrong-key"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "base_url",
    ["http://rest-api.argosidentity.com", "http://10.0.0.5:8080", "ftp://127.0.0.1", "argos"],
)
def test_clear_text_base_url_is_refused(base_url: str, tmp_path: Path) -> None:
    result = invoke(
        "run", str(EXAMPLES / "example.csv"), "--base-url", base_url,
        "--report", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "use https://" in result.stderr
    assert not (tmp_path / "r.csv").exists()


def test_existing_report_is_kept_unless_overwrite(
    server: RunningMockServer, tmp_path: Path
) -> None:
    report = tmp_path / "r.csv"
    report.write_text("earlier run\n")
    args = ["run", str(EXAMPLES / "example.csv"), "--base-url", server.url, "--report", str(report)]
    refused = invoke(*args)
    assert refused.exit_code == 2
    assert "--overwrite to replace it" in refused.stderr
    assert report.read_text() == "earlier run\n"
    assert server.received.requests == 0
    assert invoke(*args, "--overwrite").exit_code == 0
    assert "earlier run" not in report.read_text()


def test_resume_and_overwrite_together_are_refused(tmp_path: Path) -> None:
    result = invoke("run", str(EXAMPLES / "example.csv"), "--resume", "--overwrite")
    assert result.exit_code == 2
    assert "--resume and --overwrite contradict each other" in result.stderr


def test_setting_errors_name_the_flag_and_value(tmp_path: Path) -> None:
    """The library names settings (`shard`); the command line names its flags."""
    result = invoke("run", str(EXAMPLES / "example.csv"), "--shard", "4/3")
    assert result.exit_code == 2
    assert "--shard 4/3: K must be between 1 and N" in result.stderr


def test_unreadable_manifest_exits_2_naming_file_and_line(
    server: RunningMockServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("submissionId,selfie\ns1,a.png\n")
    result = invoke(
        "run", str(manifest), "--base-url", server.url, "--report", str(tmp_path / "r.csv")
    )
    assert result.exit_code == 2
    assert f"{manifest}, line 1: unknown column 'selfie'" in result.stderr
    assert not (tmp_path / "r.csv").exists()
    assert server.received.requests == 0


def test_validate_accepts_the_examples() -> None:
    for name in ("example.csv", "example.yaml"):
        result = invoke("validate", str(EXAMPLES / name))
        assert result.exit_code == 0, result.output
        assert "6 rows: 6 valid, 0 invalid, 0 warnings" in result.output


def test_validate_lists_problems_and_warnings_by_row(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("a.jpg")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "submissionId,admin,idType,idImage\n"
        "s1,a@x.io,drvlic,a.jpg\n"
        "s1,a@x.io,passport,a.jpg\n"
        "s3,a@x.io,passport,gone.jpg\n"
        "s4,,passport,a.jpg\n"
    )
    result = invoke("validate", str(manifest))
    assert result.exit_code == 1
    out = result.output
    assert "row 1 (line 2, s1): warning: idType 'drvlic' is not in the vendor's documented" in out
    assert "row 2 (line 3, s1): warning: idImage of s1 is also set in row 1" in out
    assert "row 3 (line 4, s3): invalid file_not_found:" in out
    assert "row 4 (line 5, s4): invalid missing_admin:" in out
    assert "4 rows: 2 valid, 2 invalid, 2 warnings" in out


def test_validate_exits_2_for_a_file_that_is_not_a_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("submissions: 3\n")
    result = invoke("validate", str(manifest))
    assert result.exit_code == 2
    assert "line 1: 'submissions' must be a list" in result.stderr


def test_every_run_option_can_come_from_an_argos_variable() -> None:
    names = {param.name: param.envvar for param in run.params if isinstance(param, click.Option)}
    assert names["max_attempts"] == "ARGOS_MAX_ATTEMPTS"
    assert names["report_path"] == "ARGOS_REPORT"
    assert names["base_url"] == "ARGOS_BASE_URL"
    assert all(isinstance(envvar, str) and envvar.startswith("ARGOS_") for envvar in names.values())
    help_text = " ".join(invoke("run", "--help").output.split())
    assert "[env var: ARGOS_CONCURRENCY; default: 8" in help_text


def test_options_from_the_environment_are_used_as_given_on_the_command_line(
    server: RunningMockServer, tmp_path: Path
) -> None:
    report = tmp_path / "from-env.jsonl"
    result = invoke(
        "run",
        str(EXAMPLES / "example.csv"),
        env={
            "ARGOS_BASE_URL": server.url,
            "ARGOS_REPORT": str(report),
            "ARGOS_CONCURRENCY": "2",
            "ARGOS_QUIET": "1",
        },
    )
    assert result.exit_code == 0, result.output
    assert len(report.read_text().splitlines()) == 6
    assert server.received.peak_in_flight <= 2
    assert "rows/s" in result.stderr  # the summary; --quiet turns off progress only


def test_a_bad_value_from_the_environment_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("run", str(EXAMPLES / "example.csv"), env={"ARGOS_CONCURRENCY": "many"})
    assert result.exit_code == 2
    assert "'many' is not a valid integer" in result.stderr


def test_shell_completion_offers_commands_and_options() -> None:
    runner = CliRunner()
    env = {
        "_BATCH_UPLOADER_COMPLETE": "bash_complete",
        "COMP_WORDS": "batch-uploader re",
        "COMP_CWORD": "1",
    }
    result = runner.invoke(cli, [], env=env, prog_name="batch-uploader")
    assert result.output.split() == ["plain,report"]
    env |= {"COMP_WORDS": "batch-uploader run --max-a", "COMP_CWORD": "2"}
    result = runner.invoke(cli, [], env=env, prog_name="batch-uploader")
    assert result.output.split() == ["plain,--max-attempts"]
    env |= {"_BATCH_UPLOADER_COMPLETE": "zsh_source"}
    assert "compdef" in runner.invoke(cli, [], env=env, prog_name="batch-uploader").output


def test_the_command_alone_shows_its_help_without_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batch_uploader"], capture_output=True, text=True, check=False
    )
    assert "Traceback" not in result.stderr
    assert "Usage: batch-uploader" in result.stdout + result.stderr


def test_shell_completion_works_through_the_console_entry_point() -> None:
    """Completion runs the program with no arguments: main() must hand it to click."""
    env = {
        **os.environ,
        "_BATCH_UPLOADER_COMPLETE": "bash_complete",
        "COMP_WORDS": "batch-uploader report m",
        "COMP_CWORD": "2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "batch_uploader"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.stderr == ""
    assert result.stdout.split() == ["plain,merge"]
