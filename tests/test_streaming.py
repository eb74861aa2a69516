"""Large images stream from their files: exact bytes, a Content-Length, bounded memory."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pybase64
from aiohttp import web

from batch_uploader import upload_manifest
from batch_uploader.client import open_session
from batch_uploader.images import STREAM_ABOVE_BYTES, StreamedImage, load_encoded_image
from batch_uploader.mock.server import MockConfig, running_mock_server
from batch_uploader.multipart import form_size
from batch_uploader.request_body import form_body

from .client_harness import FIELDS, answer_from
from .support import (
    API_KEY,
    BodyCollector,
    ImageMaker,
    mime_parts,
    part_bytes,
    part_name,
    run_settings,
    write_csv_manifest,
)


def test_small_images_are_read_large_ones_streamed(tmp_path: Path, make_image: ImageMaker) -> None:
    small = make_image("small.png", size=STREAM_ABOVE_BYTES)
    make_image("large.png", size=STREAM_ABOVE_BYTES + 1)
    assert load_encoded_image(tmp_path / "small.png") == pybase64.b64encode(small)
    assert load_encoded_image(tmp_path / "large.png") == StreamedImage(
        tmp_path / "large.png", STREAM_ABOVE_BYTES + 1
    )


async def test_streamed_body_is_exact_and_its_size_known(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    content = make_image("big.jpg", size=2_000_001)
    image = StreamedImage(tmp_path / "big.jpg", len(content))
    text = [("submissionId", b"s1"), ("admin", b"a@x.io")]
    body = form_body([*text, ("idImage", image), ("selfieImage", b"iVBORw0KGgo=")])
    collector = BodyCollector()
    await body.write(collector)  # type: ignore[arg-type]
    assert body.size == len(collector.body)
    assert body.size == form_size([*text], [("idImage", image.encoded_length), ("selfieImage", 12)])
    parts = {
        part_name(part): part_bytes(part) for part in mime_parts(body.content_type, collector.body)
    }
    assert base64.b64decode(parts["idImage"], validate=True) == content
    assert parts["selfieImage"] == b"iVBORw0KGgo="


async def test_streamed_request_has_a_content_length_not_chunks(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    content = make_image("big.png", size=1_500_000)
    seen: dict[str, str] = {}
    received = bytearray()

    async def record(request: web.Request) -> web.StreamResponse:
        seen.update(request.headers)
        received.extend(await request.read())
        return web.json_response({"message": "complete to update image."})

    fields = [*FIELDS[:2], ("selfieImage", StreamedImage(tmp_path / "big.png", len(content)))]
    async with open_session(concurrency=1) as session:
        answer = await answer_from(session, record, fields=fields)
    assert answer.accepted
    assert int(seen["Content-Length"]) == len(received)
    assert "Transfer-Encoding" not in seen
    assert base64.b64encode(content) in bytes(received)


async def accept(request: web.Request) -> web.StreamResponse:
    """Reads the whole body, then accepts it."""
    await request.read()
    return web.json_response({"message": "complete to update image."})


async def test_a_file_that_shrinks_during_upload_fails_its_row(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    content = make_image("big.png", size=600_000)
    fields = [*FIELDS[:2], ("selfieImage", StreamedImage(tmp_path / "big.png", len(content) + 3))]

    async with open_session(concurrency=1) as session:
        answer = await answer_from(session, accept, fields=fields)
    assert (answer.http_status, answer.error_code) == (None, "file_changed")
    assert "changed size" in answer.message


async def test_a_file_deleted_before_its_upload_fails_its_row_as_a_file_error(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    """Not network_error and retried: the file is gone, and no retry brings it back."""
    content = make_image("big.png", size=600_000)
    fields = [*FIELDS[:2], ("selfieImage", StreamedImage(tmp_path / "big.png", len(content)))]
    (tmp_path / "big.png").unlink()

    async with open_session(concurrency=1) as session:
        answer = await answer_from(session, accept, fields=fields)
    assert (answer.http_status, answer.error_code) == (None, "file_changed")
    assert answer.message == (
        f"{tmp_path / 'big.png'} could not be read during its upload: No such file or directory"
    )


async def test_large_images_arrive_byte_exact_end_to_end(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    sizes = [300_000, 1_000_000, 3_000_000]
    contents = [make_image(f"{n}.png", size=size) for n, size in enumerate(sizes)]
    manifest = write_csv_manifest(
        tmp_path / "m.csv", ((f"s{n}", f"{n}.png") for n in range(len(sizes)))
    )
    async with running_mock_server(MockConfig(api_key=API_KEY)) as server:
        settings = run_settings(tmp_path / "r.csv", base_url=server.url)
        summary = await upload_manifest(manifest, settings)
    assert summary.all_ok
    for number, content in enumerate(contents):
        digest = hashlib.sha256(content).hexdigest()
        assert server.received.accepted[f"s{number}"] == {"selfieImage": digest}
