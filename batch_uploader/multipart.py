"""The multipart/form-data body of one request: plain text fields, no filenames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from aiohttp import MultipartWriter, hdrs
from aiohttp.payload import BytesPayload

FormFields: TypeAlias = Sequence[tuple[str, bytes]]


def build_form(fields: FormFields) -> MultipartWriter:
    """A form whose parts look like `curl --form name=value`: a name, no filename, no type."""
    form = MultipartWriter("form-data")
    for name, value in fields:
        part = BytesPayload(value)
        del part.headers[hdrs.CONTENT_TYPE]
        part.set_content_disposition("form-data", name=name)
        form.append_payload(part)
    return form


def form_size(text_fields: FormFields, image_lengths: Sequence[tuple[str, int]]) -> int:
    """Exact body size of a form with these text fields and images of these encoded lengths.

    Part headers do not depend on the value, so the images are sized without encoding them.
    """
    fields = [*text_fields, *((name, b"") for name, _ in image_lengths)]
    size = build_form(fields).size
    assert size is not None  # noqa: S101 (every part is bytes, so the size is known)
    return size + sum(length for _, length in image_lengths)
