"""Helpers for tests that run the installed `batch-uploader` command as a user would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .support import API_KEY

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "manifests" / "example.csv"
SCRIPT = Path(sys.executable).parent / "batch-uploader"


def command_env(**extra: str) -> dict[str, str]:
    """The environment for a child command: no ARGOS_ settings and no proxy but `extra`'s."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ARGOS_") and not k.lower().endswith("_proxy")
    }
    env.update(extra)
    return env


class MockServerProcess:
    """`batch-uploader mock-server` in a child process, on a free loopback port."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "mock-server", "--port", "0", "--api-key", API_KEY, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=command_env(),
        )
        assert self.process.stdout is not None
        first_line = self.process.stdout.readline()
        match = re.search(r"listening on (https?://127\.0\.0\.1:\d+)", first_line)
        assert match, f"unexpected first line {first_line!r}"
        self.url = match.group(1)

    def received(self) -> dict[str, object]:
        with urllib.request.urlopen(self.url + "/_mock/received", timeout=10) as response:  # noqa: S310 (loopback http)
            document: dict[str, object] = json.load(response)
            return document

    def requests_by_submission(self) -> dict[str, int]:
        sent = self.received()["requestsBySubmission"]
        assert isinstance(sent, dict)
        return sent

    def stop(self, signal_number: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signal_number)
        stdout, _ = self.process.communicate(timeout=10)
        return self.process.returncode, stdout


def run_command(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=command_env(**env),
        timeout=120,
        check=False,
    )


def start_command(
    *args: str, cwd: Path, preexec_fn: Callable[[], None] | None = None, **env: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=command_env(**env),
        preexec_fn=preexec_fn,  # noqa: PLW1509 (tests set resource limits on the child)
    )


def wait_until(condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Poll a condition another process makes true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def lines_past(report: Path, count: int) -> bool:
    """Whether the report has more than `count` complete lines (for `wait_until`)."""
    return len(report_lines(report)) > count


def lines_reached_or_exited(report: Path, count: int, process: subprocess.Popen[str]) -> bool:
    """Whether the report has `count` complete lines, or the process ended first."""
    return len(report_lines(report)) >= count or process.poll() is not None


def report_lines(path: Path) -> list[str]:
    """Complete lines of a report (a line still being written is left out)."""
    if not path.exists():
        return []
    text = path.read_text()
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
