"""The request body: plain text parts without filenames, and a size known before encoding."""

from __future__ import annotations

from batch_uploader.multipart import build_form, form_size

from .support import mime_parts, part_bytes, part_name


class Collector:
    def __init__(self) -> None:
        self.body = b""

    async def write(self, data: bytes) -> None:
        self.body += data


async def written(fields: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    form = build_form(fields)
    collector = Collector()
    await form.write(collector)  # type: ignore[arg-type]
    return form.headers["Content-Type"], collector.body


async def test_form_size_is_exact_without_encoding_images() -> None:
    text = [("submissionId", b"sub-1"), ("admin", b"ops@example.com")]
    image = b"QUJD" * 1000
    _, body = await written([*text, ("idImage", image)])
    assert form_size(text, [("idImage", len(image))]) == len(body)


async def test_parts_are_text_fields_without_filename_or_content_type() -> None:
    """What `curl --form name=value` sends: a name per part, nothing else."""
    fields = [("submissionId", b"s1"), ("idImage", b"QUJD")]
    content_type, body = await written(fields)
    assert content_type.startswith("multipart/form-data; boundary=")
    parts = mime_parts(content_type, body)
    assert [(part_name(part), part_bytes(part)) for part in parts] == fields
    assert all(part.get_filename() is None for part in parts)
    assert all(part.get("Content-Type") is None for part in parts)
