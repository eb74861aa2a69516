"""What many tests build: the test key, image headers, manifests, run settings, a body sink."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from batch_uploader import RetryPolicy, RowRules, RunSettings

API_KEY = "test-key-5f0c2a9e71d84b36"
ADMIN = "a@x.io"
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
SELFIE_COLUMNS = ("submissionId", "selfieImage")
ADMIN_SELFIE_COLUMNS = ("submissionId", "admin", "selfieImage")
# A loopback port nothing listens on: settings that must never reach a server use it.
UNUSED_URL = "http://127.0.0.1:9"

ImageMaker = Callable[..., bytes]


def write_csv_manifest(
    path: Path, rows: Iterable[Sequence[str]], *, columns: Sequence[str] = SELFIE_COLUMNS
) -> Path:
    """Write a CSV manifest with a header of `columns` and one line per row of cells."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def report_lines(path: Path) -> list[dict[str, str]]:
    """A CSV report's lines, each as its columns."""
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def run_settings(report_path: Path, *, admin: str = ADMIN, **overrides: Any) -> RunSettings:
    """Settings for a test run: the test key, an admin, no waits between attempts.

    `overrides` are `RunSettings` fields (`base_url`, `concurrency`, `retry`, `rules`, ...).
    """
    settings = RunSettings(
        api_key=API_KEY,
        base_url=UNUSED_URL,
        rules=RowRules(admin=admin),
        report_path=report_path,
        retry=RetryPolicy(initial_wait=0),
    )
    return dataclasses.replace(settings, **overrides)


def mime_parts(content_type: str, body: bytes) -> list[Message]:
    """The parts of a multipart body, as the standard library's MIME parser reads them."""
    message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    payload = message.get_payload()
    assert isinstance(payload, list), "not a multipart body"
    parts = [part for part in payload if isinstance(part, Message)]
    assert len(parts) == len(payload)
    return parts


def part_name(part: Message) -> str | None:
    name = part.get_param("name", header="content-disposition")
    return name if isinstance(name, str) else None


def part_bytes(part: Message) -> bytes:
    content = part.get_payload(decode=True)
    assert isinstance(content, bytes)
    return content


class BodyCollector:
    """Stands in for aiohttp's stream writer and keeps every byte written to it."""

    def __init__(self) -> None:
        self.body = b""

    async def write(self, data: bytes) -> None:
        self.body += data
