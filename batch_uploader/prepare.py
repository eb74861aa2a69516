"""From a manifest row to a request that is ready to send, or the reason it cannot be sent.

`plan_row` checks what the row says without touching files. `check_files` (for `validate`)
and `load_row` (for `run`) check the files with a few short system calls each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import aiofiles.os

from batch_uploader.api import ADMIN, ID_DOCUMENT_FIELDS, ID_TYPE, SUBMISSION_ID
from batch_uploader.errors import InvalidRowError
from batch_uploader.file_reads import ReusedBuffer
from batch_uploader.images import (
    STREAM_ABOVE_BYTES,
    StrPath,
    base64_length,
    check_suffix,
    image_size,
    load_encoded_image,
)
from batch_uploader.manifest import ManifestRow
from batch_uploader.multipart import FieldValue, FormFields, form_size, form_size_at_most
from batch_uploader.settings import RowRules


# Not frozen, as `ManifestRow`: one is made per row.
@dataclass(slots=True, kw_only=True)
class RowPlan:
    """A row whose fields are complete: its text fields and the image files to send."""

    row: ManifestRow
    text_fields: tuple[tuple[str, bytes], ...]
    images: tuple[tuple[str, StrPath], ...]
    within: str | None = None  # --base-dir, resolved: every file opened must lie under it


def plan_row(row: ManifestRow, rules: RowRules, *, manifest_dir: Path) -> RowPlan:
    """Check a row's fields and resolve its image paths; raise `InvalidRowError` if invalid."""
    if row.problem is not None:
        raise InvalidRowError(row.problem.code, row.problem.message)
    values = row.values
    submission_id = row.submission_id
    if not submission_id:
        raise InvalidRowError("missing_submission_id", f"line {row.line}: submissionId is empty")
    admin = values.get(ADMIN) or rules.admin
    if not admin:
        raise InvalidRowError(
            "missing_admin",
            f"line {row.line}: no admin; set it in the row, in the manifest's defaults, "
            "or with --admin / ARGOS_ADMIN",
        )
    fields = row.image_fields
    if not fields:
        raise InvalidRowError("no_images", f"line {row.line}: no image field is set")
    id_type = values.get(ID_TYPE)
    if id_type is None and not ID_DOCUMENT_FIELDS.isdisjoint(fields):
        raise InvalidRowError(
            "missing_id_type", f"line {row.line}: idImage/idBackImage need idType; add it"
        )
    text_fields: tuple[tuple[str, bytes], ...] = (
        (SUBMISSION_ID, submission_id.encode()),
        (ADMIN, admin.encode()),
    )
    if id_type is not None:
        text_fields += ((ID_TYPE, id_type.encode()),)
    folder = str(rules.base_dir if rules.base_dir is not None else manifest_dir)
    images = []
    for name in fields:
        images.append((name, _resolve(values[name], folder, rules)))
    return RowPlan(
        row=row,
        text_fields=text_fields,
        images=tuple(images),
        within=None if rules.resolved_base_dir is None else str(rules.resolved_base_dir),
    )


def check_files(plan: RowPlan, rules: RowRules) -> None:
    """Check every image file of the plan, and the request's size, without reading the
    files whole (`validate`)."""
    lengths = [
        (name, base64_length(image_size(path, within=plan.within))) for name, path in plan.images
    ]
    _check_size(plan, lengths, rules)


def load_row(plan: RowPlan, rules: RowRules, *, may_wait: bool = True) -> FormFields:
    """The request's fields: small images read and encoded now, large ones left to stream.

    Each file is opened once here; a large one is read once more, as its request goes out.
    With `may_wait` False (on the event loop), raises `ReadWouldWait` when an image is not
    in the page cache: `load_row_in_thread` then reads it.
    """
    fields: list[tuple[str, FieldValue]] = [*plan.text_fields]
    lengths: list[tuple[str, int]] = []
    buffer = None if may_wait else _loop_buffer
    for name, path in plan.images:
        value = load_encoded_image(path, within=plan.within, buffer=buffer)
        fields.append((name, value))
        lengths.append((name, len(value) if isinstance(value, bytes) else value.encoded_length))
    _check_size(plan, lengths, rules)
    return fields


async def load_row_in_thread(plan: RowPlan, rules: RowRules) -> FormFields:
    """`load_row` in aiofiles' threads, for images a read from disk must wait for."""
    fields: FormFields = await _load_row_in_thread(plan, rules)
    return fields


_load_row_in_thread = aiofiles.os.wrap(load_row)
# Small images read on the event loop's thread go through this one buffer (never from the
# threads: `load_row_in_thread` reads with plain reads into buffers of their own).
_loop_buffer = ReusedBuffer(STREAM_ABOVE_BYTES)


def _check_size(plan: RowPlan, lengths: list[tuple[str, int]], rules: RowRules) -> None:
    if form_size_at_most(plan.text_fields, lengths) <= rules.max_request_bytes:
        return  # far under the limit: no need to build the framing (nor to import aiohttp)
    size = form_size(plan.text_fields, lengths)
    if size > rules.max_request_bytes:
        raise InvalidRowError(
            "too_large",
            f"line {plan.row.line}: the request would be {size:,} bytes, over the limit of "
            f"{rules.max_request_bytes:,} (--max-request-bytes); send fewer or smaller images",
        )


def _resolve(text: str, folder: str, rules: RowRules) -> StrPath:
    path = os.path.join(folder, text)  # noqa: PTH118 (per row: a Path costs more than the check)
    check_suffix(path)
    base_dir, resolved_base_dir = rules.base_dir, rules.resolved_base_dir
    if base_dir is None or resolved_base_dir is None:
        return path
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        raise InvalidRowError(
            "file_not_found", f"{path} cannot be resolved (a link loop?)", path=path
        ) from None
    if not real.is_relative_to(resolved_base_dir):
        raise InvalidRowError(
            "outside_base_dir",
            f"{text} resolves to {real}, outside --base-dir {base_dir}; "
            "move the file or change --base-dir",
            path=path,
        )
    return real
