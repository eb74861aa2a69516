"""With --log-format json, every line the command writes to stderr is a JSON object, its
errors included: a log pipeline never meets a line of plain text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .processes import EXAMPLE, run_command
from .support import API_KEY

# Runs the installed command in child processes: left out of the quick loop (-m "not slow").
pytestmark = pytest.mark.slow


def json_lines(stderr: str) -> list[dict[str, object]]:
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(line, dict) for line in parsed)
    return parsed


@pytest.mark.parametrize("spelling", [["--log-format", "json"], ["--log-format=json"]])
def test_a_mistake_in_the_options_is_a_json_error(tmp_path: Path, spelling: list[str]) -> None:
    result = run_command(
        "run", str(EXAMPLE), "--concurrency", "0", *spelling, cwd=tmp_path, ARGOS_API_KEY=API_KEY
    )
    assert result.returncode == 2
    [line] = json_lines(result.stderr)
    assert line["level"] == "error"
    assert line["exitCode"] == 2
    assert "--concurrency" in str(line["message"])


def test_a_configuration_error_is_a_json_error(tmp_path: Path) -> None:
    (tmp_path / "example.report.csv").write_text("an earlier report\n")
    result = run_command(
        "run", str(EXAMPLE), "--log-format", "json", cwd=tmp_path, ARGOS_API_KEY=API_KEY
    )
    assert result.returncode == 2
    [line] = json_lines(result.stderr)
    assert "exists already; pass --resume" in str(line["message"])


def test_warnings_before_the_run_are_json_too(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY)
    key_file.chmod(0o644)
    result = run_command(
        "run", str(EXAMPLE), "--api-key-file", str(key_file), "--base-url", "http://127.0.0.1:9",
        "--max-outage", "0.5", "--log-format", "json", cwd=tmp_path,
    )  # fmt: skip
    lines = json_lines(result.stderr)
    assert lines[0]["level"] == "warning"
    assert "can be read by other users" in str(lines[0]["message"])
    assert lines[-1]["event"] == "summary"


def test_text_stays_text_without_the_option(tmp_path: Path) -> None:
    result = run_command(
        "run", str(EXAMPLE), "--concurrency", "0", cwd=tmp_path, ARGOS_API_KEY=API_KEY
    )
    assert result.returncode == 2
    assert "Invalid value for '--concurrency'" in result.stderr
    assert not result.stderr.lstrip().startswith("{")
