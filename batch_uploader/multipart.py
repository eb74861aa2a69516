"""The multipart/form-data layout of one request: plain text fields, no filenames.

aiohttp frames the form (`framing`); its size is known before any image is encoded.
`request_body` turns fields into the body aiohttp sends.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from batch_uploader.images import StreamedImage

if TYPE_CHECKING:
    from aiohttp import MultipartWriter

TextFields: TypeAlias = Sequence[tuple[str, bytes]]
FieldValue: TypeAlias = bytes | StreamedImage
FormFields: TypeAlias = Sequence[tuple[str, FieldValue]]


def build_form(fields: TextFields) -> MultipartWriter:
    """A form whose parts look like `curl --form name=value`: a name, no filename, no type."""
    # aiohttp takes 0.13 s to import; `validate` needs it only for a request near the limit.
    from aiohttp import MultipartWriter, hdrs  # noqa: PLC0415
    from aiohttp.payload import BytesPayload  # noqa: PLC0415

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


@dataclass(frozen=True, slots=True)
class Framing:
    """aiohttp's framing of a form with given field names: the bytes between the values."""

    segments: tuple[bytes, ...]
    content_type: str

    @property
    def size(self) -> int:
        return sum(len(segment) for segment in self.segments)


# The framing of one field (its boundary line and Content-Disposition header) is well under
# this: a request whose values leave this much room per field fits, without building it.
FRAMING_BYTES_PER_FIELD_AT_MOST = 512


def form_size_at_most(text_fields: TextFields, image_lengths: Sequence[tuple[str, int]]) -> int:
    """An upper bound of `form_size`, made without aiohttp: far under the limit, enough."""
    fields = len(text_fields) + len(image_lengths)
    return _values_size(text_fields, image_lengths) + FRAMING_BYTES_PER_FIELD_AT_MOST * (fields + 1)


def form_size(text_fields: TextFields, image_lengths: Sequence[tuple[str, int]]) -> int:
    """Exact body size of a form with these text fields and images of these encoded lengths.

    Part headers do not depend on the values, so the size is the framing's (cached by the
    field names) plus the values' lengths: images are sized without encoding them.
    """
    names = tuple(name for name, _ in (*text_fields, *image_lengths))
    return framing(names).size + _values_size(text_fields, image_lengths)


def body_size(fields: FormFields) -> int:
    """Exact size of the body these fields are sent as (streamed images by their encoded
    length, without encoding them)."""
    lengths = [
        (name, len(value) if isinstance(value, bytes) else value.encoded_length)
        for name, value in fields
    ]
    return form_size((), lengths)


def _values_size(text_fields: TextFields, image_lengths: Sequence[tuple[str, int]]) -> int:
    # Plain loops: this runs for every row, and a comprehension is a function call more.
    size = 0
    for _, value in text_fields:
        size += len(value)
    for _, length in image_lengths:
        size += length
    return size


# One framing per layout of field names (there are a handful), built once by aiohttp.
@functools.lru_cache(maxsize=64)
def framing(names: tuple[str, ...]) -> Framing:
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
    return Framing(tuple(segments), form.headers["Content-Type"])
