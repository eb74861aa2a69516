"""The progress total: the manifest's rows in scope, counted in a child process.

The count is a second pass over the whole manifest. In a thread of the run's own process it
held the GIL away from the event loop in 5 ms slices: a run of invalid rows (no I/O to
wait on) fell from 13,000 to 300 rows a second until the count was done. A child process
counts on another core and is killed when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

from batch_uploader.errors import BatchUploaderError
from batch_uploader.manifest import count_rows
from batch_uploader.sharding import Shard


async def count_in_child(path: Path, shard: Shard | None) -> int | None:
    """The rows of the manifest in `shard` (all of them without one); None if it could not
    be counted (the run itself reports an unreadable manifest)."""
    arguments = [str(path), *([str(shard)] if shard is not None else [])]
    # Popen, not asyncio's subprocess: its transport outlived a run that ended while the child
    # started. Popen returns as soon as the child exists.
    child = subprocess.Popen(  # noqa: S603, ASYNC220 (this module, run by this Python)
        [sys.executable, "-m", __name__, *arguments],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        # A thread waits on the child; if the run ends first, the child is killed and that
        # thread's wait returns at once.
        output, _ = await asyncio.to_thread(child.communicate)
    finally:
        if child.poll() is None:
            child.kill()
    text = output.decode().strip()
    return int(text) if child.returncode == 0 and text.isdigit() else None


def main(arguments: list[str]) -> int:
    # The upload comes first: the count takes what CPU is left.
    with contextlib.suppress(OSError):
        os.nice(10)
    shard = Shard.parse(arguments[1]) if len(arguments) > 1 else None
    try:
        print(count_rows(Path(arguments[0]), None if shard is None else shard.holds))
    except BatchUploaderError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
