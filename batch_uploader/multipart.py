"""The multipart/form-data body of one request: plain text fields, no filenames."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from aiohttp import MultipartWriter, hdrs
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload, Payload

from batch_uploader.images import StreamedImage

# Pieces of a body smaller than this are joined before they are written.
JOIN_BELOW_BYTES = 16 * 1024

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
    """Takes what a MultipartWriter writes, so its framing can be cut out of it."""

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
        # Small pieces (framing, text fields) are joined into one write; an encoded image is
        # written as it is: joining it too copied it, and every request in flight then held
        # its image twice (0.15 MB per 50 KB request, 200 MB at concurrency 1024).
        merged: list[FieldValue] = []
        in_memory: list[bytes] = []
        for piece in pieces:
            if isinstance(piece, bytes) and len(piece) < JOIN_BELOW_BYTES:
                in_memory.append(piece)
                continue
            if in_memory:
                merged.append(b"".join(in_memory))
                in_memory = []
            merged.append(piece)
        if in_memory:
            merged.append(b"".join(in_memory))
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


@dataclass(frozen=True, slots=True)
class _Framing:
    """aiohttp's framing of a form with given field names: the bytes between the values."""

    segments: tuple[bytes, ...]
    content_type: str

    @property
    def size(self) -> int:
        return sum(len(segment) for segment in self.segments)


def form_body(fields: FormFields) -> FormBody:
    """The request body for these fields, its framing and Content-Type made by aiohttp.

    aiohttp frames a form of placeholder values once per layout of field names; each body
    is that framing with our values in place: one buffer (or a few pieces, when images
    stream) instead of a dozen small socket writes, and no form object per request.
    """
    framing = _framing(tuple(name for name, _ in fields))
    pieces: list[FieldValue] = [framing.segments[0]]
    for (_, value), segment in zip(fields, framing.segments[1:], strict=True):
        pieces += [value, segment]
    return FormBody(pieces, content_type=framing.content_type)


def form_size(text_fields: TextFields, image_lengths: Sequence[tuple[str, int]]) -> int:
    """Exact body size of a form with these text fields and images of these encoded lengths.

    Part headers do not depend on the values, so the size is the framing's (cached by the
    field names) plus the values' lengths: images are sized without encoding them.
    """
    names = tuple(name for name, _ in (*text_fields, *image_lengths))
    values = sum(len(value) for _, value in text_fields)
    return _framing(names).size + values + sum(length for _, length in image_lengths)


# One framing per layout of field names (there are a handful), built once by aiohttp.
@functools.lru_cache(maxsize=64)
def _framing(names: tuple[str, ...]) -> _Framing:
    placeholders = [b"\x00batch-uploader-value-%d\x00" % index for index in range(len(names))]
    form = build_form(list(zip(names, placeholders, strict=True)))
    collector = _Collector()
    # Writing to memory never suspends, so the coroutine runs to its end in one step; this
    # keeps the framing usable from plain functions (`validate` sizes requests too).
    writing = form.write(collector)  # type: ignore[arg-type]
    try:
        writing.send(None)
    except StopIteration:
        pass
    else:
        writing.close()
        raise RuntimeError("aiohttp's form writer waited while writing to memory")
    rest = b"".join(collector.chunks)
    segments = []
    for placeholder in placeholders:
        before, _, rest = rest.partition(placeholder)
        segments.append(before)
    segments.append(rest)
    return _Framing(tuple(segments), form.headers[hdrs.CONTENT_TYPE])
