"""How the run reacts to the API as a whole, measured against the mock server on loopback.

    python bench/api_weather.py [--rows 2000] [--scenario NAME ...] [--json FILE]
                                [--baseline PATH --rounds 5]

Each scenario starts `batch-uploader mock-server` with a spent quota, a throttle, an outage
or an untrusted certificate, runs `batch-uploader run` as an operator would (2,000 rows of
small images, concurrency 8 unless said), and checks the figures issue 11 asks for. It
prints one line per check: what was asked, what was measured, and whether it holds.

`normal-weather` compares with another installation's console script (`--baseline`, e.g.
the previous commit installed in its own virtual environment) on 10 % processing_error:
the two alternate, `--rounds` times, and the medians are compared.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

API_KEY = "bench-key"
ADMIN = "bench@example.com"
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
SCRIPT = Path(sys.executable).parent / "batch-uploader"


@dataclass
class Check:
    scenario: str
    asked: str
    measured: str
    holds: bool


@dataclass
class Bench:
    folder: Path
    manifest: Path
    rows: int
    checks: list[Check] = field(default_factory=list)

    def check(self, scenario: str, asked: str, measured: object, holds: bool) -> None:
        self.checks.append(Check(scenario, asked, str(measured), holds))
        mark = "yes" if holds else "NO"
        print(f"  {asked:<55} {measured!s:<28} {mark}", flush=True)


@dataclass
class Finished:
    exit_code: int
    seconds: float
    stderr: str
    statuses: Counter[str]
    attempts: int


class MockServer:
    """`batch-uploader mock-server` in its own process, with the options given."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "mock-server", "--port", "0", "--api-key", API_KEY, *options],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        match = re.search(r"(https?://\S+)", self.process.stdout.readline())
        assert match, "the mock server did not start"
        self.url = match.group(1)

    def received(self) -> dict[str, object]:
        with urllib.request.urlopen(self.url + "/_mock/received", timeout=10) as response:  # noqa: S310 (loopback)
            document: dict[str, object] = json.load(response)
            return document

    def answers(self) -> Counter[str]:
        answers = self.received().get("answers", {})
        assert isinstance(answers, dict)
        return Counter({str(key): int(value) for key, value in answers.items()})

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)


@contextmanager
def mock_server(*options: str) -> Iterator[MockServer]:
    server = MockServer(*options)
    try:
        yield server
    finally:
        server.stop()


def make_manifest(folder: Path, rows: int) -> Path:
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for number in range(20):
        (images / f"{number}.jpg").write_bytes(JPEG_HEADER + os.urandom(2000))
    manifest = folder / "manifest.csv"
    with manifest.open("w") as file:
        file.write("submissionId,admin,selfieImage\n")
        for number in range(rows):
            file.write(f"weather-{number:06d},{ADMIN},images/{number % 20}.jpg\n")
    return manifest


def start(script: Path, *args: str, report: Path) -> tuple[subprocess.Popen[str], float]:
    report.unlink(missing_ok=True)
    env = {**os.environ, "ARGOS_API_KEY": API_KEY}
    command = [str(script), "run", *args, "--report", str(report), "--quiet"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    return process, time.perf_counter()


def finish(process: subprocess.Popen[str], started: float, report: Path) -> Finished:
    _, stderr = process.communicate(timeout=900)
    seconds = time.perf_counter() - started
    statuses: Counter[str] = Counter()
    attempts = 0
    if report.exists():
        with report.open(newline="") as file:
            for line in csv.DictReader(file):
                statuses[line["status"]] += 1
                attempts += int(line["attempts"])
    return Finished(process.returncode, seconds, stderr, statuses, attempts)


def run(
    bench: Bench, url: str, *extra: str, report: str = "r.csv", script: Path = SCRIPT
) -> Finished:
    path = bench.folder / report
    process, started = start(script, str(bench.manifest), "--base-url", url, *extra, report=path)
    return finish(process, started, path)


def only(statuses: Counter[str], *allowed: str) -> bool:
    return set(statuses) <= set(allowed)


# The scenarios


def quota_stop(bench: Bench) -> None:
    name = "quota-stop"
    with mock_server("--quota", "500") as server:
        first = run(bench, server.url, "--on-quota", "stop")
        requests = int(str(server.received()["requests"]))
    bench.check(name, "exit 4", first.exit_code, first.exit_code == 4)
    bench.check(name, "requests <= 500 + 2 x 8", requests, requests <= 516)
    bench.check(
        name,
        "500 ok, the rest cancelled",
        dict(first.statuses),
        first.statuses == {"ok": 500, "cancelled": bench.rows - 500},
    )
    said = "resets it at 00:00 UTC" in first.stderr and "quota is spent" in first.stderr
    bench.check(name, "says the quota is spent, resets 00:00 UTC", said, said)
    command = first.stderr.split("To continue: ", 1)[1].splitlines()[0]
    # A new server stands for the next period: a fresh quota of 500 each time.
    runs = 1
    last = first
    while last.exit_code == 4 and runs < 10:
        with mock_server("--quota", "500") as server:
            words = shlex.split(command.replace(first_url(command), server.url))
            path = bench.folder / "r.csv"
            env = {**os.environ, "ARGOS_API_KEY": API_KEY}
            process = subprocess.Popen(
                [str(SCRIPT), *words[1:]], stderr=subprocess.PIPE, text=True, env=env
            )
            last = finish(process, time.perf_counter(), path)
            runs += 1
    bench.check(
        name,
        "the printed command, run each period, finishes",
        f"exit {last.exit_code} after {runs} runs, {dict(last.statuses)}",
        last.exit_code == 0 and last.statuses == {"ok": bench.rows},
    )


def first_url(command: str) -> str:
    match = re.search(r"--base-url (\S+)", command)
    assert match
    return match.group(1)


def quota_wait(bench: Bench) -> None:
    name = "quota-wait"
    with mock_server("--quota", "500", "--quota-period", "20") as server:
        done = run(bench, server.url, "--on-quota", "wait", "--quota-probe-interval", "5")
        by_period = server.received()["quotaRefusalsByPeriod"]
    assert isinstance(by_period, dict)
    bench.check(
        name,
        "exit 0, all ok",
        f"exit {done.exit_code}, {dict(done.statuses)}",
        done.exit_code == 0 and done.statuses == {"ok": bench.rows},
    )
    worst = max(by_period.values(), default=0)
    bench.check(
        name,
        "refused <= 2 x 8 + 1 per period",
        f"{sorted(by_period.values())} ({done.seconds:.0f} s)",
        worst <= 17,
    )


def throttle(bench: Bench) -> None:
    name = "throttle"
    with mock_server("--rate-limit", "50", "--burst", "50") as server:
        done = run(bench, server.url, "--concurrency", "32")
        answers = server.answers()
        requests = int(str(server.received()["requests"]))
    throttled = answers["rate_limited"]
    bench.check(name, "all ok", dict(done.statuses), done.statuses == {"ok": bench.rows})
    bench.check(
        name,
        "429s <= 10 % of requests",
        f"{throttled}/{requests} = {throttled / requests:.1%}",
        throttled <= 0.10 * requests,
    )
    rate = bench.rows / done.seconds
    bench.check(name, ">= 85 % of 50 rows/s (42.5)", f"{rate:.1f} rows/s", rate >= 42.5)


def throttle_shards(bench: Bench) -> None:
    name = "throttle-2-shards"
    with mock_server("--rate-limit", "50", "--burst", "50") as server:
        started = time.perf_counter()
        runs = [
            start(
                SCRIPT,
                str(bench.manifest),
                "--base-url",
                server.url,
                "--concurrency",
                "32",
                "--shard",
                f"{index}/2",
                report=bench.folder / f"shard-{index}.csv",
            )
            for index in (1, 2)
        ]
        done = [
            finish(process, began, bench.folder / f"shard-{index}.csv")
            for index, (process, began) in enumerate(runs, start=1)
        ]
        seconds = time.perf_counter() - started
        answers = server.answers()
        requests = int(str(server.received()["requests"]))
    ok = sum(finished.statuses["ok"] for finished in done)
    throttled = answers["rate_limited"]
    bench.check(name, "all ok, both shards", ok, ok == bench.rows)
    bench.check(
        name,
        "429s <= 10 % of requests (sum)",
        f"{throttled}/{requests} = {throttled / requests:.1%}",
        throttled <= 0.10 * requests,
    )
    rate = bench.rows / seconds
    bench.check(name, ">= 85 % of 50 rows/s (sum)", f"{rate:.1f} rows/s", rate >= 42.5)


def outage(bench: Bench) -> None:
    name = "outage-30s"
    half = str(bench.rows // 2)
    with mock_server("--outage-after", half, "--outage-seconds", "30") as server:
        done = run(bench, server.url)
        answers = server.answers()
    bench.check(
        name, "every row ok, none failed", dict(done.statuses), done.statuses == {"ok": bench.rows}
    )
    during = answers["outage"]
    bench.check(name, "<= 30 requests during the outage", during, during <= 30)


def outage_permanent(bench: Bench) -> None:
    name = "outage-permanent"
    with mock_server("--outage-after", "500", "--outage-seconds", "1000000") as server:
        done = run(bench, server.url, "--max-outage", "20")
        answers = server.answers()
    bench.check(name, "exit 5", done.exit_code, done.exit_code == 5)
    bench.check(name, "within 40 s (whole run)", f"{done.seconds:.1f} s", done.seconds <= 40)
    bench.check(name, "<= 50 requests in the outage", answers["outage"], answers["outage"] <= 50)
    bench.check(
        name,
        "every row ok or cancelled",
        dict(done.statuses),
        only(done.statuses, "ok", "cancelled"),
    )
    printed = "To continue: " in done.stderr and "--resume" in done.stderr
    bench.check(name, "the resume command printed", printed, printed)


def tls(bench: Bench) -> None:
    import trustme  # noqa: PLC0415 (a test extra)

    name = "tls-untrusted"
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    pem = bench.folder / "server.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_bundle = bench.folder / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_bundle))
    with mock_server("--tls-cert", str(pem), "--tls-key", str(pem)) as server:
        refused = run(bench, server.url)
        trusted = run(bench, server.url, "--ca-bundle", str(ca_bundle), report="trusted.csv")
    bench.check(
        name,
        "exit 5 within 5 s",
        f"exit {refused.exit_code}, {refused.seconds:.1f} s",
        refused.exit_code == 5 and refused.seconds <= 5,
    )
    bench.check(name, "at most concurrency (8) attempts", refused.attempts, refused.attempts <= 8)
    named = "TLS certificate of 127.0.0.1 does not verify" in refused.stderr
    reason = re.search(r"does not verify: ([^.]+)", refused.stderr)
    bench.check(
        name, "host and reason in the message", reason.group(1) if reason else "missing", named
    )
    bench.check(
        name,
        "with --ca-bundle: all ok",
        dict(trusted.statuses),
        trusted.statuses == {"ok": bench.rows},
    )


def normal_weather(bench: Bench, baseline: Path | None, rounds: int) -> None:
    name = "normal-weather"
    if baseline is None:
        print("  (skipped: --baseline PATH to another installation's batch-uploader)")
        return
    figures: dict[str, list[tuple[float, int]]] = {"this": [], "baseline": []}
    for round_number in range(rounds):
        order = [("this", SCRIPT), ("baseline", baseline)]
        if round_number % 2:
            order.reverse()
        for label, script in order:
            with mock_server(
                "--processing-error-rate", "0.1", "--seed", str(round_number)
            ) as server:
                done = run(bench, server.url, script=script, report=f"{label}.csv")
                requests = int(str(server.received()["requests"]))
            assert done.statuses == {"ok": bench.rows}, (label, done.stderr[-500:])
            figures[label].append((bench.rows / done.seconds, requests))
    for label, values in figures.items():
        print(
            f"  {label}: rows/s {[round(rate) for rate, _ in values]}, "
            f"requests {[requests for _, requests in values]}"
        )
    ratios = [
        this[0] / base[0] for this, base in zip(figures["this"], figures["baseline"], strict=True)
    ]
    ratio = statistics.median(ratios)
    bench.check(
        name,
        "rows/s within 5 % of the baseline (median)",
        f"{ratio:.3f} (rounds {', '.join(f'{r:.2f}' for r in ratios)})",
        abs(ratio - 1) <= 0.05,
    )
    this_requests = statistics.median(requests for _, requests in figures["this"])
    base_requests = statistics.median(requests for _, requests in figures["baseline"])
    bench.check(
        name,
        "requests within 5 % of the baseline",
        f"{this_requests:.0f} vs {base_requests:.0f}",
        abs(this_requests / base_requests - 1) <= 0.05,
    )


SCENARIOS: dict[str, Callable[[Bench], None]] = {
    "quota-stop": quota_stop,
    "quota-wait": quota_wait,
    "throttle": throttle,
    "throttle-2-shards": throttle_shards,
    "outage-30s": outage,
    "outage-permanent": outage_permanent,
    "tls-untrusted": tls,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--scenario", action="append", choices=[*SCENARIOS, "normal-weather"])
    parser.add_argument("--baseline", type=Path, help="another installation's batch-uploader")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the checks here")
    arguments = parser.parse_args()
    chosen = arguments.scenario or [*SCENARIOS, "normal-weather"]
    with tempfile.TemporaryDirectory(prefix="api-weather-") as folder:
        bench = Bench(Path(folder), make_manifest(Path(folder), arguments.rows), arguments.rows)
        for scenario in chosen:
            print(f"{scenario}:", flush=True)
            if scenario == "normal-weather":
                normal_weather(bench, arguments.baseline, arguments.rounds)
            else:
                SCENARIOS[scenario](bench)
    if arguments.json:
        arguments.json.write_text(json.dumps([check.__dict__ for check in bench.checks], indent=2))
    failed = [check for check in bench.checks if not check.holds]
    print(f"{len(bench.checks) - len(failed)} of {len(bench.checks)} checks hold")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
