"""The HTTP path alone: batch-uploader's `put_images` against a bare `session.put`.

    python bench/http_path.py [--requests 4000] [--concurrency 32] [--image-kb 50] [--repeat 5]

Both run in this one process, on one session each, on uvloop, against `batch-uploader
mock-server --fast` in another process, with the same 50 KB image encoded once in advance:
no file reading, no checks, no report. Rounds alternate the two; it prints the CPU time of
this process per request, the median round's and every round's. What is left of the
difference between batch-uploader and the ceiling in `bench/run.py` is then the client's
own work per row, not its use of aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pybase64
import uvloop
from run import (  # bench/run.py: the mock server in its own process, the ceiling's form
    API_KEY,
    FORM_END,
    FORM_HEAD,
    FORM_HEADERS,
    FORM_MIDDLE,
    Server,
)

from batch_uploader.client import ArgosClient, open_session

ENDPOINT = "/v3/submission/image"
ADMIN = b"bench@example.com"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"

Send = Callable[[int], Awaitable[None]]


def ceiling_send(session: aiohttp.ClientSession, url: str, encoded: bytes) -> Send:
    """bench/run.py's ceiling: one joined body per request, the bare minimum of options."""
    tail = FORM_MIDDLE + encoded + FORM_END

    async def send(number: int) -> None:
        body = b"".join((FORM_HEAD, b"bench-%07d" % number, tail))
        async with session.put(url + ENDPOINT, data=body, headers=FORM_HEADERS) as response:
            await response.read()
            response.raise_for_status()

    return send


def our_send(session: aiohttp.ClientSession, url: str, encoded: bytes) -> Send:
    client = ArgosClient(session, base_url=url, api_key=API_KEY, timeout=60)

    async def send(number: int) -> None:
        fields = [("submissionId", b"bench-%07d" % number), ("admin", ADMIN)]
        answer = await client.put_images([*fields, ("selfieImage", encoded)])
        assert answer.accepted, answer

    return send


CLIENTS = {"batch-uploader": our_send, "ceiling": ceiling_send}


async def cpu_per_request(
    name: str, url: str, encoded: bytes, *, requests: int, concurrency: int
) -> float:
    session = open_session(concurrency=concurrency, tls=False)
    send = CLIENTS[name](session, url, encoded)
    numbers = iter(range(requests))

    async def worker() -> None:
        for number in numbers:
            await send(number)

    started = time.process_time()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await session.close()
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--image-kb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    encoded = pybase64.b64encode(JPEG + os.urandom(args.image_kb * 1024 - len(JPEG)))
    server = Server(latency_ms=0)
    try:
        rounds: dict[str, list[float]] = {name: [] for name in CLIENTS}
        for _ in range(args.repeat):
            for name in CLIENTS:
                measure = cpu_per_request(
                    name,
                    server.url,
                    encoded,
                    requests=args.requests,
                    concurrency=args.concurrency,
                )
                rounds[name].append(uvloop.run(measure))
    finally:
        server.stop()
    for name, measured in rounds.items():
        every = ", ".join(f"{value:.0f}" for value in measured)
        print(f"{name:15s} {statistics.median(measured):6.1f} µs of CPU a request ({every})")
    ratios = [ours / theirs for ours, theirs in zip(*rounds.values(), strict=True)]
    every = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    print(
        f"batch-uploader / ceiling, within each round: {statistics.median(ratios):.2f}x ({every})"
    )


if __name__ == "__main__":
    main()
