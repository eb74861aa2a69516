"""Images not in the page cache: does any read hold the event loop?

    python bench/cold_reads.py [--rows 400] [--image-kb 1024] [--concurrency 32]

Writes `--rows` distinct images, syncs them and evicts them from the page cache
(posix_fadvise DONTNEED), then uploads them with `upload_manifest` in this process against
`batch-uploader mock-server --fast` in another. Meanwhile it measures:

- the longest a read made on the event loop took (each `preadv(RWF_NOWAIT)` call: it
  returns at once from the cache, or fails with EAGAIN and the read goes to a thread);
- the longest gap between two turns of a task that does nothing but yield, which is the
  longest the loop was busy with anything (encoding, sending, the report), once rows are
  finishing, and apart from it the longest at start-up (the manifest, the report, the
  session);
- how many reads the cache answered and how many went to threads.

`--warm` skips the eviction, for comparison. Linux only (RWF_NOWAIT, posix_fadvise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batch_uploader import RowResult, RowRules, RunObserver, RunSettings, Status, upload_manifest
from batch_uploader import file_reads as reads

SCRIPT = Path(sys.executable).parent / "batch-uploader"
API_KEY = "bench-key"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def write_images(folder: Path, rows: int, size: int) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    manifest = folder / "cold.csv"
    with manifest.open("w") as file:
        file.write("submissionId,admin,selfieImage\n")
        for number in range(rows):
            path = folder / "images" / f"{number}.jpg"
            if not path.exists() or path.stat().st_size != size:
                path.write_bytes(JPEG + os.urandom(size - len(JPEG)))
            file.write(f"cold-{number},ops@example.com,images/{number}.jpg\n")
    return manifest


def evict(folder: Path) -> None:
    """Drop the images from the page cache: written back first, then let go."""
    os.sync()
    for path in (folder / "images").iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


class ReadTimes:
    """Wraps the loop's non-waiting read to time each call and count its outcome."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.cached = 0
        self.to_thread = 0
        self._real = reads._read_if_cached  # the bench times the real one

    def __call__(self, fd: int, view: memoryview, offset: int) -> int | None:
        started = time.perf_counter()
        count = self._real(fd, view, offset)
        self.longest = max(self.longest, time.perf_counter() - started)
        if count is None:
            self.to_thread += 1
        else:
            self.cached += 1
        return count


class LoopGaps(RunObserver):
    """The longest gaps between two turns of a task that only yields: before the first row
    finished (start-up: the manifest, the report, the session) and after it."""

    def __init__(self) -> None:
        self.running = False
        self.longest = {"start_up": 0.0, "running": 0.0}

    def on_row_finished(self, result: RowResult) -> None:
        self.running = True

    async def watch(self, stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            phase = "running" if self.running else "start_up"
            self.longest[phase] = max(self.longest[phase], now - last)
            last = now


async def upload(manifest: Path, url: str, concurrency: int, report: Path) -> dict[str, object]:
    times = ReadTimes()
    reads._read_if_cached = times
    settings = RunSettings(
        api_key=API_KEY,
        base_url=url,
        rules=RowRules(admin="ops@example.com"),
        concurrency=concurrency,
        report_path=report,
        overwrite=True,
    )
    stop, gaps = asyncio.Event(), LoopGaps()
    watching = asyncio.create_task(gaps.watch(stop))
    started = time.perf_counter()
    summary = await upload_manifest(manifest, settings, observer=gaps)
    seconds = time.perf_counter() - started
    stop.set()
    await watching
    return {
        "rows": summary.rows,
        "ok": summary.rows_by_status[Status.OK],
        "all_ok": summary.all_ok,
        "seconds": round(seconds, 2),
        "longest_read_on_loop_ms": round(times.longest * 1000, 3),
        "longest_loop_gap_ms": round(gaps.longest["running"] * 1000, 2),
        "longest_loop_gap_at_start_up_ms": round(gaps.longest["start_up"] * 1000, 2),
        "reads_from_cache": times.cached,
        "reads_sent_to_threads": times.to_thread,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--image-kb", type=int, default=1024)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warm", action="store_true", help="leave the page cache as it is")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="cold-reads-"))
    manifest = write_images(folder, args.rows, args.image_kb * 1024)
    if not args.warm:
        evict(folder)
    server = subprocess.Popen(
        [str(SCRIPT), "mock-server", "--fast", "--port", "0", "--api-key", API_KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        match = re.search(r"(http://\S+)", server.stdout.readline())
        assert match, "the mock server did not start"
        result = asyncio.run(upload(manifest, match.group(1), args.concurrency, folder / "r.csv"))
    finally:
        server.terminate()
        server.communicate(timeout=10)
    print(json.dumps({"cache": "warm" if args.warm else "evicted", **result}))


if __name__ == "__main__":
    main()
