"""The body aiohttp sends for one request: the form's framing around its values."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from batch_uploader.multipart import FieldValue, FormFields, framing

# Pieces of a body smaller than this are joined before they are written.
JOIN_BELOW_BYTES = 16 * 1024


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


def form_body(fields: FormFields) -> FormBody:
    """The request body for these fields, its framing and Content-Type made by aiohttp.

    aiohttp frames a form of placeholder values once per layout of field names; each body
    is that framing with our values in place: one buffer (or a few pieces, when images
    stream) instead of a dozen small socket writes, and no form object per request.
    """
    layout = framing(tuple(name for name, _ in fields))
    pieces: list[FieldValue] = [layout.segments[0]]
    for (_, value), segment in zip(fields, layout.segments[1:], strict=True):
        pieces += [value, segment]
    return FormBody(pieces, content_type=layout.content_type)
