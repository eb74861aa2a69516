"""Huge runs, tried as an operator would: stopping, missing files, descriptors, memory.

    python bench/huge_runs.py [--rows 1000000] [--scenario NAME ...] [--workdir DIR]

Each scenario runs the `batch-uploader` console script in its own process against
`batch-uploader mock-server --fast` on loopback, and prints what issue 13 asks to measure:

- sigterm: SIGTERM after --sigterm-after seconds; seconds from the signal to the exit, the
  exit status, report lines against rows, peak RSS.
- sigint-twice: SIGINT, then SIGINT again half a second later; seconds from the second
  signal to the exit; then `--resume` to the end (rows ok at the end), with the peak RSS of
  each run.
- missing: every image on a missing mount; seconds from SIGINT to the exit, lines of log.
- descriptors: `ulimit -n 256`, `--concurrency 300`, 2,000 rows: statuses and the warning.
- validate: peak RSS of `validate` on the whole manifest.
- yaml: a 200,000-row YAML manifest: seconds to the first request, peak RSS.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "batch-uploader"
API_KEY = "bench-key"
ADMIN = "ops@example.com"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000)
Scenario = Callable[[argparse.Namespace, Path, str], dict[str, object]]


def write_csv(path: Path, rows: int, image: Callable[[int], str]) -> Path:
    if not path.exists():
        with path.open("w") as file:
            file.write("submissionId,admin,selfieImage\n")
            for number in range(rows):
                file.write(f"sub-{number:08d},{ADMIN},{image(number)}\n")
    return path


def images(folder: Path) -> Path:
    (folder / "img").mkdir(exist_ok=True)
    for number in range(10):
        (folder / "img" / f"{number}.jpg").write_bytes(JPEG)
    return folder


class Run:
    """One `batch-uploader` process, its stderr kept in a file, timed and measured."""

    def __init__(self, args: list[str], folder: Path, *, shell_prefix: str = "") -> None:
        self.stderr_path = folder / f"stderr-{time.monotonic_ns()}.log"
        command = [str(SCRIPT), *args]
        env = {**os.environ, "ARGOS_API_KEY": API_KEY}
        with self.stderr_path.open("w") as stderr:
            if shell_prefix:
                line = f"{shell_prefix}; exec {' '.join(command)}"
                self.process = subprocess.Popen(
                    ["/bin/bash", "-c", line], cwd=folder, env=env, stderr=stderr
                )
            else:
                self.process = subprocess.Popen(command, cwd=folder, env=env, stderr=stderr)
        self.started = time.monotonic()

    def signal(self, number: signal.Signals) -> float:
        self.process.send_signal(number)
        return time.monotonic()

    def seconds_until_logged(self, text: str, since: float, timeout: float = 30.0) -> float | None:
        """Seconds from `since` until a log line containing `text` appears."""
        while time.monotonic() - since < timeout:
            if any(text in line for line in self.log):
                return round(time.monotonic() - since, 3)
            if self.process.poll() is not None:
                return None
            time.sleep(0.01)
        return None

    def wait(self) -> tuple[int, float, float]:
        """Exit status, the moment it came, and peak RSS in MB."""
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return self.process.returncode, time.monotonic(), usage.ru_maxrss / 1024

    @property
    def log(self) -> list[str]:
        return self.stderr_path.read_text().splitlines()


class Server:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "mock-server", "--fast", "--port", "0", "--api-key", API_KEY],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        match = re.search(r"(http://\S+)", self.process.stdout.readline())
        assert match, "the mock server did not start"
        self.url = match.group(1)

    def received(self) -> int:
        with urllib.request.urlopen(f"{self.url}/_mock/received") as answer:  # noqa: S310 (loopback)
            return int(json.load(answer)["requests"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)


def report_tally(report: Path) -> dict[str, object]:
    """Lines, distinct rows and statuses of a report, read without keeping it: a child's
    peak RSS starts from this process's size when it is forked."""
    lines = 0
    rows = bytearray()
    statuses: collections.Counter[str] = collections.Counter()
    with report.open(newline="") as file:
        for line in csv.DictReader(file):
            lines += 1
            row = int(line["row"])
            if row >= len(rows):
                rows.extend(bytes(row + 1 - len(rows)))
            rows[row] = 1
            statuses[line["status"]] += 1
    return {"lines": lines, "distinct_rows": sum(rows), "statuses": dict(statuses)}


def sigterm(args: argparse.Namespace, folder: Path, url: str) -> dict[str, object]:
    manifest = write_csv(folder / "rows.csv", args.rows, lambda n: f"img/{n % 10}.jpg")
    report = folder / "sigterm.report.csv"
    report.unlink(missing_ok=True)
    run = Run(["run", str(manifest), "--base-url", url, "--report", str(report)], folder)
    time.sleep(args.sigterm_after)
    signalled = run.signal(signal.SIGTERM)
    handled = run.seconds_until_logged("terminated: no new requests", signalled)
    status, ended, rss = run.wait()
    return {
        "exit": status,
        "seconds_to_handle_signal": handled,
        "seconds_to_exit": round(ended - signalled, 2),
        "peak_rss_mb": round(rss, 1),
        **report_tally(report),
        "log_lines": len(run.log),
    }


def sigint_twice(args: argparse.Namespace, folder: Path, url: str) -> dict[str, object]:
    manifest = write_csv(folder / "rows.csv", args.rows, lambda n: f"img/{n % 10}.jpg")
    report = folder / "twice.report.csv"
    report.unlink(missing_ok=True)
    options = ["--base-url", url, "--report", str(report)]
    run = Run(["run", str(manifest), *options], folder)
    time.sleep(args.sigterm_after)
    run.signal(signal.SIGINT)
    time.sleep(0.5)
    second = run.signal(signal.SIGINT)
    status, ended, rss = run.wait()
    interrupted = {
        "exit": status,
        "seconds_from_second_signal": round(ended - second, 2),
        "peak_rss_mb": round(rss, 1),
        **report_tally(report),
    }
    resumed = Run(["run", str(manifest), *options, "--resume"], folder)
    status, ended, rss = resumed.wait()
    return {
        "interrupted": interrupted,
        "resume": {
            "exit": status,
            "seconds": round(ended - resumed.started, 1),
            "peak_rss_mb": round(rss, 1),
            **report_tally(report),
        },
    }


def missing(args: argparse.Namespace, folder: Path, url: str) -> dict[str, object]:
    manifest = write_csv(
        folder / "missing.csv", args.rows, lambda n: f"nfs/missing/{n % 1000}/{n}.jpg"
    )
    report = folder / "missing.report.csv"
    report.unlink(missing_ok=True)
    run = Run(["run", str(manifest), "--base-url", url, "--report", str(report)], folder)
    time.sleep(args.missing_after)
    signalled = run.signal(signal.SIGINT)
    handled = run.seconds_until_logged("interrupted: no new requests", signalled)
    status, ended, rss = run.wait()
    log = run.log
    return {
        "exit": status,
        "seconds_to_handle_signal": handled,
        "seconds_to_exit": round(ended - signalled, 2),
        "peak_rss_mb": round(rss, 1),
        "log_lines": len(log),
        "last_log_lines": log[-6:],
        **report_tally(report),
    }


def descriptors(args: argparse.Namespace, folder: Path, url: str) -> dict[str, object]:
    manifest = write_csv(folder / "rows2000.csv", 2000, lambda n: f"img/{n % 10}.jpg")
    report = folder / "descriptors.report.csv"
    report.unlink(missing_ok=True)
    run = Run(
        ["run", str(manifest), "--base-url", url, "--report", str(report), "--concurrency", "300"],
        folder,
        shell_prefix="ulimit -n 256",
    )
    status, _, rss = run.wait()
    return {
        "exit": status,
        "peak_rss_mb": round(rss, 1),
        **report_tally(report),
        "warnings": [line for line in run.log if "WARNING" in line][:3],
    }


def validate(args: argparse.Namespace, folder: Path, url: str) -> dict[str, object]:
    manifest = write_csv(folder / "rows.csv", args.rows, lambda n: f"img/{n % 10}.jpg")
    started = time.monotonic()
    run = Run(["validate", str(manifest)], folder)
    status, ended, rss = run.wait()
    return {"exit": status, "seconds": round(ended - started, 1), "peak_rss_mb": round(rss, 1)}


def yaml_manifest(args: argparse.Namespace, folder: Path, url: str) -> dict[str, object]:
    manifest = folder / "rows.yaml"
    if not manifest.exists():
        with manifest.open("w") as file:
            file.write(f"defaults:\n  admin: {ADMIN}\nsubmissions:\n")
            for number in range(args.yaml_rows):
                file.write(f"  - submissionId: sub-{number:08d}\n")
                file.write(f"    selfieImage: img/{number % 10}.jpg\n")
    report = folder / "yaml.report.csv"
    report.unlink(missing_ok=True)
    server = Server()  # its own server: its count of requests starts at zero
    try:
        run = Run(["run", str(manifest), "--base-url", server.url, "--report", str(report)], folder)
        first_request = None
        while run.process.poll() is None and first_request is None:
            if server.received() > 0:
                first_request = time.monotonic() - run.started
            else:
                time.sleep(0.02)
        status, ended, rss = run.wait()
    finally:
        server.stop()
    return {
        "exit": status,
        "seconds_to_first_request": None if first_request is None else round(first_request, 2),
        "seconds": round(ended - run.started, 1),
        "peak_rss_mb": round(rss, 1),
        **report_tally(report),
    }


SCENARIOS: dict[str, Scenario] = {
    "sigterm": sigterm,
    "sigint-twice": sigint_twice,
    "missing": missing,
    "descriptors": descriptors,
    "validate": validate,
    "yaml": yaml_manifest,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--yaml-rows", type=int, default=200_000)
    parser.add_argument("--sigterm-after", type=float, default=30.0)
    parser.add_argument("--missing-after", type=float, default=10.0)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--workdir", type=Path, help="keep generated manifests here")
    args = parser.parse_args()
    # Each run may hold many files; the descriptors scenario sets its own lower limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="huge-runs-"))
    folder.mkdir(parents=True, exist_ok=True)
    images(folder)
    server = Server()
    try:
        for name in args.scenario or sorted(SCENARIOS):
            result = SCENARIOS[name](args, folder, server.url)
            print(json.dumps({"scenario": name, **result}), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
