"""The benchmark script still runs end to end (its figures are for people, not asserted)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .processes import REPO, command_env

# Runs the installed command in child processes: left out of the quick loop (-m "not slow").
pytestmark = pytest.mark.slow


def test_the_benchmark_runs_every_client_on_every_row(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--rows", "20", "--sequential-rows",
         "5", "--repeat", "2", "--workdir", str(tmp_path), "--json", str(output)],
        check=True,
        capture_output=True,
        env=command_env(),
        timeout=120,
    )  # fmt: skip
    report = json.loads(output.read_text())
    runs = report["runs"]
    assert {name: [run["rows"] for run in measured] for name, measured in runs.items()} == {
        "sequential": [5, 5],
        "threads": [20, 20],
        "ceiling": [20, 20],
        "row_work": [20, 20],
        "batch-uploader": [20, 20],
    }
    every_run = [run for measured in runs.values() for run in measured]
    assert all(run["seconds"] > 0 and run["cpu"] > 0 for run in every_run)
    baselines = ("sequential", "threads", "ceiling", "row_work")
    assert set(report["ratio_rounds"]) == {
        *(f"batch-uploader / {name}" for name in baselines),
        *(f"CPU per row, batch-uploader / {name}" for name in baselines),
    }
    assert all(len(rounds) == 2 for rounds in report["ratio_rounds"].values())
    with (tmp_path / "report.csv").open(newline="") as file:
        assert [line["status"] for line in csv.DictReader(file)] == ["ok"] * 20


def test_the_own_work_benchmark_runs_every_row_to_ok(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, str(REPO / "bench" / "own_work.py"), "--rows", "20", "--repeat", "2",
         "--workdir", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        env=command_env(),
        timeout=120,
    )  # fmt: skip
    match = re.fullmatch(
        r"([\d.]+) us of CPU a row  \(rounds: ([\d.]+), ([\d.]+)\)\n", finished.stdout
    )
    assert match is not None, finished.stdout
    assert all(float(value) > 0 for value in match.groups())
    with (tmp_path / "own-work.report.csv").open(newline="") as file:
        assert [line["status"] for line in csv.DictReader(file)] == ["ok"] * 20


def test_the_api_weather_benchmark_runs_and_its_checks_hold(tmp_path: Path) -> None:
    """Two of its scenarios, on a small manifest, so that the script cannot rot."""
    output = tmp_path / "weather.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "api_weather.py"), "--rows", "600",
         "--scenario", "quota-stop", "--scenario", "tls-untrusted", "--json", str(output)],
        check=True,
        capture_output=True,
        env=command_env(),
        timeout=120,
    )  # fmt: skip
    checks = json.loads(output.read_text())
    assert {check["scenario"] for check in checks} == {"quota-stop", "tls-untrusted"}
    assert len(checks) == 9
    assert all(check["holds"] for check in checks), checks
