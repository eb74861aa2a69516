"""Benchmark batch-uploader against the baselines a user would otherwise reach for.

    python bench/run.py [--rows 20000] [--image-kb 50] [--concurrency 32] [--latency-ms 20]
                        [--repeat 3]
    python bench/run.py --memory

One local server process (the mock server in --fast mode: it checks the key, reads the body
and accepts it) on loopback, one generated manifest and set of images, and five clients,
each in its own process so that its CPU time and peak RSS are its own:

1. sequential: the vendor's documented style, requests.put(..., files=...) in a loop
   (on a slice of the rows: its rate is what counts);
2. threads: the same in a ThreadPoolExecutor at the same concurrency;
3. ceiling: a bare aiohttp loop at the same concurrency sending bodies encoded in advance
   (no file reading, no validation, no report);
4. row_work: the ceiling plus the least a real row costs: the image read from its file and
   encoded per row, and a report line written and flushed (no checks, no retries, no
   accounting);
5. batch-uploader itself, through its console script.

Rows per second are rows over the client process's wall time, from start to exit, for every
client alike. It prints a table and writes JSON (--json). `--memory` instead measures
batch-uploader's peak RSS on a 2,000-row and a 200,000-row manifest, and with 8 MB images
at concurrency 16.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

API_KEY = "bench-key"
ENDPOINT = "/v3/submission/image"
ADMIN = "bench@example.com"
DISTINCT_IMAGES = 100
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
SCRIPT = Path(sys.executable).parent / "batch-uploader"


# The clients, each run in a child process: `python bench/run.py --client NAME ...`


def rows_of(manifest: Path, limit: int | None) -> list[tuple[str, Path]]:
    rows = []
    with manifest.open() as file:
        next(file)
        for line in file:
            submission_id, _, image = line.rstrip("\n").split(",")
            rows.append((submission_id, manifest.parent / image))
            if limit is not None and len(rows) == limit:
                break
    return rows


def put_with_requests(url: str, submission_id: str, image: Path) -> None:
    import requests  # noqa: PLC0415 (only the baselines need it)

    files = {
        "submissionId": (None, submission_id),
        "admin": (None, ADMIN),
        "selfieImage": (None, base64.b64encode(image.read_bytes()).decode()),
    }
    response = requests.put(url, headers={"x-api-key": API_KEY}, files=files, timeout=60)
    response.raise_for_status()


def client_sequential(url: str, rows: list[tuple[str, Path]], concurrency: int) -> None:
    for submission_id, image in rows:
        put_with_requests(url, submission_id, image)


def client_threads(url: str, rows: list[tuple[str, Path]], concurrency: int) -> None:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(put_with_requests, url, *row) for row in rows]:
            future.result()


BOUNDARY = b"benchmarkboundary0123456789"
# The form the baselines send around a row's submission id and its encoded image.
FORM_HEAD = b'--%s\r\nContent-Disposition: form-data; name="submissionId"\r\n\r\n' % BOUNDARY
FORM_MIDDLE = (
    b'\r\n--%s\r\nContent-Disposition: form-data; name="admin"\r\n\r\n%s'
    b'\r\n--%s\r\nContent-Disposition: form-data; name="selfieImage"\r\n\r\n'
    % (BOUNDARY, ADMIN.encode(), BOUNDARY)
)
FORM_END = b"\r\n--%s--\r\n" % BOUNDARY
FORM_HEADERS = {
    "x-api-key": API_KEY,
    "Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}",
}


def put_all(
    url: str,
    rows: list[tuple[str, Path]],
    concurrency: int,
    body_of: Callable[[str, Path], bytes],
    done: Callable[[str], None] | None = None,
) -> None:
    """A bare aiohttp loop: `concurrency` workers, each sending one row's body at a time."""
    import aiohttp  # noqa: PLC0415

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            queue = iter(rows)

            async def worker() -> None:
                for submission_id, image in queue:
                    body = body_of(submission_id, image)
                    async with session.put(url, data=body, headers=FORM_HEADERS) as response:
                        await response.read()
                        response.raise_for_status()
                    if done is not None:
                        done(submission_id)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())


def client_ceiling(url: str, rows: list[tuple[str, Path]], concurrency: int) -> None:
    # Everything but the submission id is encoded in advance, once per distinct image.
    tails = {
        path: FORM_MIDDLE + base64.b64encode(path.read_bytes()) + FORM_END
        for path in {row[1] for row in rows}
    }
    put_all(
        url,
        rows,
        concurrency,
        lambda submission_id, image: b"".join((FORM_HEAD, submission_id.encode(), tails[image])),
    )


def client_row_work(url: str, rows: list[tuple[str, Path]], concurrency: int) -> None:
    """The ceiling plus the least a real row costs: its image read from its file and encoded
    (pybase64, as batch-uploader does), and one report line written and flushed."""
    import pybase64  # noqa: PLC0415

    def body_of(submission_id: str, image: Path) -> bytes:
        encoded = pybase64.b64encode(image.read_bytes())
        return b"".join((FORM_HEAD, submission_id.encode(), FORM_MIDDLE, encoded, FORM_END))

    with tempfile.TemporaryFile("w") as report:

        def done(submission_id: str) -> None:
            report.write(f"{submission_id},ok\n")
            report.flush()

        put_all(url, rows, concurrency, body_of, done)


CLIENTS = {
    "sequential": client_sequential,
    "threads": client_threads,
    "ceiling": client_ceiling,
    "row_work": client_row_work,
}


def run_client(name: str, url: str, manifest: Path, limit: int | None, concurrency: int) -> None:
    rows = rows_of(manifest, limit)
    started = time.perf_counter()
    CLIENTS[name](url + ENDPOINT, rows, concurrency)
    print(json.dumps({"rows": len(rows), "seconds": time.perf_counter() - started}))


# The parent: data, server, measurements, table


def make_data(folder: Path, *, rows: int, image_bytes: int) -> Path:
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    distinct = min(rows, DISTINCT_IMAGES)
    for number in range(distinct):
        path = images / f"{number}.jpg"
        if not path.exists() or path.stat().st_size != image_bytes:
            path.write_bytes(JPEG_HEADER + os.urandom(image_bytes - len(JPEG_HEADER)))
    manifest = folder / f"manifest-{rows}.csv"
    with manifest.open("w") as file:
        file.write("submissionId,admin,selfieImage\n")
        for number in range(rows):
            file.write(f"bench-{number:07d},{ADMIN},images/{number % distinct}.jpg\n")
    return manifest


class Server:
    """`batch-uploader mock-server --fast` in its own process."""

    def __init__(self, latency_ms: int) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "mock-server", "--fast", "--port", "0", "--api-key", API_KEY,
             "--latency-ms", str(latency_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        match = re.search(r"(http://\S+)", self.process.stdout.readline())
        assert match, "the mock server did not start"
        self.url = match.group(1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)


def measure(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run a command; its wall time, CPU seconds and peak RSS, and what it printed."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    output = process.stdout.read().decode() if process.stdout else ""
    if process.stdout:
        process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:3]} failed with {os.waitstatus_to_exitcode(status)}")
    reported = json.loads(output.strip().splitlines()[-1]) if output.strip() else {}
    # Every client is timed by the same clock, its process from start to exit, start-up
    # included; a baseline's own timer (without start-up) is kept for reference.
    measured = {
        "seconds": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    if "seconds" in reported:
        measured["in_process_seconds"] = float(reported["seconds"])
    return measured


def batch_uploader(
    manifest: Path, url: str, concurrency: int, report: Path, *extra: str
) -> dict[str, float]:
    env = {**os.environ, "ARGOS_API_KEY": API_KEY}
    command = [str(SCRIPT), "run", str(manifest), "--base-url", url]
    command += ["--concurrency", str(concurrency), "--report", str(report)]
    command += ["--overwrite", "--quiet", *extra]
    return measure(command, env)


def compare(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    manifest = make_data(folder, rows=args.rows, image_bytes=args.image_kb * 1024)
    server = Server(args.latency_ms)
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        # Rounds interleave the clients, so a slow spell on the machine hits them alike.
        for _ in range(args.repeat):
            for name in args.clients:
                limit = args.sequential_rows if name == "sequential" else None
                command = [sys.executable, __file__, "--client", name, "--url", server.url]
                command += ["--manifest", str(manifest), "--concurrency", str(args.concurrency)]
                if limit is not None:
                    command += ["--limit", str(limit)]
                result = measure(command)
                result["rows"] = min(limit or args.rows, args.rows)
                runs.setdefault(name, []).append(result)
            result = batch_uploader(manifest, server.url, args.concurrency, folder / "report.csv")
            result["rows"] = args.rows
            runs.setdefault("batch-uploader", []).append(result)
    finally:
        server.stop()
    results: dict[str, dict[str, float]] = {}
    for name, measured in runs.items():
        for result in measured:
            result["rows_per_second"] = result["rows"] / result["seconds"]
            result["cpu_per_1000_rows"] = result["cpu"] / result["rows"] * 1000
        # The median run by rate stands for the client.
        results[name] = sorted(measured, key=lambda run: run["rows_per_second"])[len(measured) // 2]
    # Ratios are taken within each round (the clients of a round ran back to back) and the
    # median round's stands: a slow spell then shifts both sides of a ratio alike.
    ratio_rounds = {
        f"batch-uploader / {name}": [
            ours["rows_per_second"] / theirs["rows_per_second"]
            for ours, theirs in zip(runs["batch-uploader"], measured, strict=True)
        ]
        for name, measured in runs.items()
        if name != "batch-uploader"
    }
    # CPU per row, ours over theirs, also within each round.
    ratio_rounds |= {
        f"CPU per row, batch-uploader / {name}": [
            (ours["cpu"] / ours["rows"]) / (theirs["cpu"] / theirs["rows"])
            for ours, theirs in zip(runs["batch-uploader"], measured, strict=True)
        ]
        for name, measured in runs.items()
        if name != "batch-uploader"
    }
    ratios = {name: statistics.median(rounds) for name, rounds in ratio_rounds.items()}
    return {
        "settings": vars(args),
        "results": results,
        "runs": runs,
        "ratios": ratios,
        "ratio_rounds": ratio_rounds,
    }


def memory(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    server = Server(0)
    try:
        small = make_data(folder / "small", rows=2_000, image_bytes=50 * 1024)
        large = make_data(folder / "small", rows=200_000, image_bytes=50 * 1024)
        rss_small = batch_uploader(small, server.url, 32, folder / "r1.csv")
        rss_large = batch_uploader(large, server.url, 32, folder / "r2.csv")
        big = make_data(folder / "big", rows=64, image_bytes=8 * 1024 * 1024)
        # Base64 makes 8 MB about 10.7 MB: over the gateway's default limit, so raised here.
        rss_big = batch_uploader(
            big, server.url, 16, folder / "r3.csv", "--max-request-bytes", "20000000"
        )
    finally:
        server.stop()
    return {
        "2,000 rows, 50 KB images, concurrency 32": rss_small,
        "200,000 rows, 50 KB images, concurrency 32": rss_large,
        "growth 2,000 -> 200,000 rows": rss_large["peak_rss_mb"] / rss_small["peak_rss_mb"] - 1,
        "64 rows, 8 MB images, concurrency 16": rss_big,
    }


def print_table(report: dict[str, object]) -> None:
    results = report["results"]
    assert isinstance(results, dict)
    print(f"{'client':<16}{'rows':>8}{'rows/s':>10}{'CPU s/1000 rows':>17}{'peak RSS MB':>13}")
    for name, result in results.items():
        print(
            f"{name:<16}{result['rows']:>8.0f}{result['rows_per_second']:>10.1f}"
            f"{result['cpu_per_1000_rows']:>17.2f}{result['peak_rss_mb']:>13.1f}"
        )
    ratios = report["ratios"]
    ratio_rounds = report["ratio_rounds"]
    assert isinstance(ratios, dict)
    assert isinstance(ratio_rounds, dict)
    for name, ratio in ratios.items():
        rounds = ", ".join(f"{value:.2f}" for value in ratio_rounds[name])
        print(f"{name}: {ratio:.2f}x  (rounds: {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--sequential-rows", type=int, default=300)
    parser.add_argument("--image-kb", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of all clients; the median counts"
    )
    parser.add_argument(
        "--clients",
        type=lambda text: [name for name in text.split(",") if name],
        default=list(CLIENTS),
        help="baselines to run beside batch-uploader, comma-separated (default: all)",
    )
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--memory", action="store_true", help="measure the memory bounds")
    parser.add_argument("--workdir", type=Path, help="keep generated data here")
    parser.add_argument("--client", choices=sorted(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args.client, args.url, args.manifest, args.limit, args.concurrency)
        return
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="batch-uploader-bench-"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; server: mock-server --fast on loopback")
    if args.memory:
        report: dict[str, object] = {"machine": machine, "memory": memory(args, folder)}
        print(json.dumps(report["memory"], indent=2))
    else:
        report = {"machine": machine, **compare(args, folder)}
        print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
