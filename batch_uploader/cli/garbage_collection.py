"""How often Python's cycle collector runs while a command uploads."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Net allocations of tracked objects between two collections of the youngest generation
# (CPython's default is 700).
RUN_YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def collecting_less_often() -> Iterator[None]:
    """Run the body with the cycle collector's youngest generation collected every
    `RUN_YOUNG_THRESHOLD` allocations, and the objects alive now (modules, classes,
    settings) left out of every collection; the previous settings come back after.

    Each request in flight keeps hundreds of objects alive (aiohttp's request, response and
    connection state, the coroutines' frames) for the API's latency. At CPython's default
    pace the young generation is collected every ~35 rows, so those objects are walked
    again and again before they die, and the start-up's ~43,000 objects at every full
    collection: 18 % of the CPU of a run at concurrency 1024. A run makes few reference
    cycles (~1,500 objects collected over 20,000 rows), so collecting less often keeps
    little garbage longer.
    """
    previous = gc.get_threshold()
    # A caller that froze objects itself keeps them frozen: unfreezing is all or nothing.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        # Garbage left so far goes first: frozen, it would stay for the whole run (~12 ms).
        gc.collect()
        gc.freeze()
    gc.set_threshold(max(previous[0], RUN_YOUNG_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        if freeze:
            gc.unfreeze()
