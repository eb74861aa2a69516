"""The engine's own work per row: `upload_manifest` with a client that answers at once.

    python bench/own_work.py [--rows 2000] [--concurrency 32] [--image-kb 50] [--repeat 5]
    python bench/own_work.py --instructions

Everything a row costs besides aiohttp, the sockets and the server: the manifest, the
checks, the image's read and encoding, the request body, the gate, the retry decision, the
result, the report line and its flush. The client builds the body (`form_body`), lets the
loop turn once and answers 200, on uvloop, with the cycle collector set as `run` sets it.

By default it prints CPU microseconds a row, the median round's and every round's. With
`--instructions` it runs itself under valgrind (`cachegrind`) on the manifest and on its
first row alone, and prints user-space instructions a row: start-up cancels out, and the
count is the same to 0.1 % from one run to the next, where CPU time on a shared machine
moves by tens of percent.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop
from run import make_data  # bench/run.py: the same manifest and images

from batch_uploader.cli.garbage_collection import collecting_less_often
from batch_uploader.client import Answer
from batch_uploader.engine import upload_manifest
from batch_uploader.multipart import FormFields
from batch_uploader.request_body import form_body
from batch_uploader.results import Status
from batch_uploader.settings import RunSettings

ACCEPTED = Answer(http_status=200, message="complete to update image.")


class AnswersAtOnce:
    """A client that makes the request's body, as `ArgosClient` does, and sends nothing."""

    async def put_images(self, fields: FormFields) -> Answer:
        form_body(fields)
        await asyncio.sleep(0)
        return ACCEPTED


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(manifest: Path, concurrency: int, report: Path) -> float:
    """Upload the manifest with the client above; the CPU seconds it took."""
    settings = RunSettings(
        api_key="bench-key",
        base_url="http://127.0.0.1:9",
        concurrency=concurrency,
        report_path=report,
        overwrite=True,
    )
    started = cpu_seconds()
    with collecting_less_often(), asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        summary = runner.run(upload_manifest(manifest, settings, client=AnswersAtOnce()))
    spent = cpu_seconds() - started
    not_ok = sum(count for status, count in summary.rows_by_status.items() if status != Status.OK)
    if not_ok:
        raise SystemExit(f"{not_ok} rows did not end ok: {summary.rows_by_status}")
    return spent


def instructions(manifest: Path, concurrency: int, report: Path) -> int:
    """User-space instructions of one whole run of this script on `manifest`."""
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--manifest", str(manifest)]
    command += ["--concurrency", str(concurrency), "--report", str(report)]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    match = re.search(r"I\s+refs:\s+([\d,]+)", finished.stderr)
    if match is None:
        raise SystemExit("valgrind printed no instruction count")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--image-kb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="count with valgrind")
    parser.add_argument("--workdir", type=Path, help="keep generated data here")
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.manifest:  # one run, as a child of --instructions
        one_run(args.manifest, args.concurrency, args.report)
        return
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="batch-uploader-own-work-"))
    manifest = make_data(folder, rows=args.rows, image_bytes=args.image_kb * 1024)
    report = folder / "own-work.report.csv"
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind on the PATH")
        first_row = folder / "first-row.csv"
        first_row.write_text("".join(manifest.read_text().splitlines(keepends=True)[:2]))
        every_row = instructions(manifest, args.concurrency, report)
        start_up = instructions(first_row, args.concurrency, report)
        per_row = (every_row - start_up) / (args.rows - 1)
        print(f"{per_row:,.0f} instructions a row ({args.rows:,} rows minus 1)")
        return
    rounds = [
        one_run(manifest, args.concurrency, report) / args.rows * 1e6 for _ in range(args.repeat)
    ]
    listed = ", ".join(f"{value:.1f}" for value in rounds)
    print(f"{statistics.median(rounds):.1f} us of CPU a row  (rounds: {listed})")


if __name__ == "__main__":
    main()
