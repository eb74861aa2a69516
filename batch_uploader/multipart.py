"""The multipart/form-data body of one request: plain text fields, no filenames."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TypeAlias

from aiohttp import MultipartWriter, hdrs
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload, Payload

from batch_uploader.images import StreamedImage

TextFields: TypeAlias = Sequence[tuple[str, bytes]]
FieldValue: TypeAlias = bytes | StreamedImage
FormFields: TypeAlias = Sequence[tuple[str, FieldValue]]


def build_form(fields: TextFields) -> MultipartWriter:
    """A form whose parts look like `curl --form name=value`: a name, no filename, no type."""
    form = MultipartWriter("form-data")
    for name, value in fields:
        part = BytesPayload(value)
        del part.headers[hdrs.CONTENT_TYPE]
        part.set_content_disposition("form-data", name=name)
        form.append_payload(part)
    return form


class _Collector:
    """Takes what a MultipartWriter writes, so the body can go out in one piece."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(bytes(chunk))


class FormBody(Payload):
    """A whole multipart body: aiohttp's framing around our values, with a known length.

    Values in memory go out with the framing in as few writes as possible; streamed images
    are read and encoded chunk by chunk as they are written.
    """

    def __init__(self, pieces: Sequence[FieldValue], *, content_type: str) -> None:
        merged: list[FieldValue] = []
        for piece in pieces:
            if merged and isinstance(piece, bytes) and isinstance(merged[-1], bytes):
                merged[-1] += piece
            else:
                merged.append(piece)
        super().__init__(merged, content_type=content_type)
        self._pieces = merged
        self._size = sum(
            len(piece) if isinstance(piece, bytes) else piece.encoded_length for piece in merged
        )

    async def write(self, writer: AbstractStreamWriter) -> None:
        for piece in self._pieces:
            if isinstance(piece, bytes):
                await writer.write(piece)
            else:
                async for chunk in piece.chunks():
                    await writer.write(chunk)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        await self.write(writer)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a form body is bytes, not text")


async def form_body(fields: FormFields) -> FormBody:
    """The request body for these fields, its framing and Content-Type made by aiohttp.

    aiohttp frames the form around placeholder values, which are then swapped for ours; one
    buffer (or a few pieces, when images stream) instead of a dozen small socket writes.
    """
    placeholders = [b"\x00batch-uploader-value-%d\x00" % index for index in range(len(fields))]
    form = build_form([(name, mark) for (name, _), mark in zip(fields, placeholders, strict=True)])
    collector = _Collector()
    await form.write(collector)  # type: ignore[arg-type]
    rest = b"".join(collector.chunks)
    pieces: list[FieldValue] = []
    for (_, value), placeholder in zip(fields, placeholders, strict=True):
        before, _, rest = rest.partition(placeholder)
        pieces += [before, value]
    pieces.append(rest)
    return FormBody(pieces, content_type=form.headers[hdrs.CONTENT_TYPE])


def form_size(text_fields: TextFields, image_lengths: Sequence[tuple[str, int]]) -> int:
    """Exact body size of a form with these text fields and images of these encoded lengths.

    Part headers do not depend on the values, so the size is the framing's (cached by the
    field names) plus the values' lengths: images are sized without encoding them.
    """
    names = tuple(name for name, _ in (*text_fields, *image_lengths))
    values = sum(len(value) for _, value in text_fields)
    return _framing_size(names) + values + sum(length for _, length in image_lengths)


@functools.lru_cache(maxsize=64)
def _framing_size(names: tuple[str, ...]) -> int:
    size = build_form([(name, b"") for name in names]).size
    assert size is not None  # noqa: S101 (every part is bytes, so the size is known)
    return size
