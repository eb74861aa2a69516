"""Manifests (CSV or YAML) to a lazy stream of `ManifestRow`s.

Readers take open file objects; `open_manifest` is the one place that opens a path. Anything
that makes the whole file unusable raises `ManifestError` before the first row is yielded;
a problem confined to one row is attached to that row and the stream goes on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import yaml

from batch_uploader.api import IMAGE_FIELDS, SUBMISSION_ID, canonical_field
from batch_uploader.errors import ManifestError, SettingError

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

CSV_SUFFIXES = frozenset({".csv"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
MANIFEST_FORMATS = ("csv", "yaml")
YAML_NULL_TAG = "tag:yaml.org,2002:null"
OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
# surrogateescape turns bytes that are not UTF-8 into lone surrogates; NUL never belongs in text.
BAD_CHARACTERS = re.compile("[\x00\udc80-\udcff]")
KNOWN_NAMES_HINT = (
    "submissionId, admin, idType, idImage, idBackImage, selfieImage, addressImage "
    "(or their snake_case forms)"
)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row cannot be sent: a local error code for the report and a plain explanation."""

    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRow:
    """One submission read from a manifest, before any check of its files.

    `values` maps API field names to the non-empty text the manifest gives them (defaults
    applied). `problem` is set when the reader itself could not make sense of the row.
    """

    row: int
    line: int
    values: Mapping[str, str]
    problem: RowProblem | None = None

    @property
    def submission_id(self) -> str:
        return self.values.get(SUBMISSION_ID, "")

    @property
    def image_fields(self) -> tuple[str, ...]:
        return tuple(name for name in IMAGE_FIELDS if name in self.values)


@dataclass(frozen=True)
class ManifestStream:
    """A manifest read once from an open text file (standard input, a pipe from a database
    export), in `format` ("csv" or "yaml"). Relative image paths resolve against `folder`.
    """

    file: TextIO
    format: str
    folder: Path
    name: str = "stdin"

    def __post_init__(self) -> None:
        if self.format not in MANIFEST_FORMATS:
            raise SettingError("format", self.format, "must be csv or yaml")


# A manifest is a file, named by its path, or a stream read once.
Manifest = Path | ManifestStream


def manifest_folder(manifest: Manifest) -> Path:
    """Where the manifest's relative image paths start."""
    return manifest.folder if isinstance(manifest, ManifestStream) else manifest.parent


@dataclass
class ReadingTally:
    """What reading a manifest passed over: rows with no value at all (Excel leaves them)."""

    blank_rows: int = 0


@contextmanager
def open_manifest(
    manifest: Manifest, tally: ReadingTally | None = None
) -> Iterator[Iterator[ManifestRow]]:
    """Open a manifest (by its suffix, or a stream in its format) and yield its rows lazily."""
    if isinstance(manifest, ManifestStream):
        source = Path(manifest.name)
        if manifest.format == "csv":
            yield read_csv_manifest(manifest.file, source=source, tally=tally)
        else:
            yield read_yaml_manifest(manifest.file, source=source)
        return
    path = manifest
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | YAML_SUFFIXES:
        raise ManifestError(
            path, None, "is not a manifest: name it .csv, .yaml or .yml to say which format it is"
        )
    try:
        raw = path.open("rb")
        file = io.TextIOWrapper(
            raw, encoding=_encoding(raw.peek(2)[:2]), errors="surrogateescape", newline=""
        )
    except OSError as error:
        raise ManifestError(path, None, f"cannot be opened: {error.strerror}") from None
    with file:
        if suffix in CSV_SUFFIXES:
            yield read_csv_manifest(file, source=path, tally=tally)
        else:
            yield read_yaml_manifest(file, source=path)


def _encoding(head: bytes) -> str:
    """UTF-16 when the file starts with its byte-order mark (Excel's "Unicode text"), else
    UTF-8 (a BOM is fine). Bytes that are not UTF-8 spoil only their rows (`_build_row`)."""
    return "utf-16" if head in {b"\xff\xfe", b"\xfe\xff"} else "utf-8-sig"


def read_csv_manifest(
    file: TextIO, *, source: Path, tally: ReadingTally | None = None
) -> Iterator[ManifestRow]:
    """Check the CSV header now; return an iterator that reads data rows one at a time."""
    reader = csv.reader(file)
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError(source, 1, "is empty: a header row is required") from None
    except csv.Error as error:
        raise ManifestError(source, reader.line_num, f"header row is not CSV: {error}") from None
    _refuse_other_separators(header, source)
    width = len(header)
    # Spreadsheets leave a trailing empty header cell (a trailing comma): harmless.
    while len(header) > 1 and not header[-1].strip():
        header.pop()
    columns = _csv_columns(header, source)
    return _csv_rows(reader, columns, width, tally or ReadingTally())


def _refuse_other_separators(header: list[str], source: Path) -> None:
    if len(header) != 1:
        return
    for separator, name in OTHER_SEPARATORS.items():
        names = [canonical_field(part.strip()) for part in header[0].split(separator)]
        if SUBMISSION_ID in names:
            raise ManifestError(
                source,
                1,
                f'is separated by {name}, not commas: in Excel, save it as "CSV UTF-8 (Comma '
                'delimited)"; elsewhere, export it with a comma as the separator',
            )


def _csv_columns(header: list[str], source: Path) -> list[str]:
    columns: list[str] = []
    for cell in header:
        name = cell.strip()
        if _has_bad_characters(name):
            raise ManifestError(source, 1, "header row is not UTF-8 text; save the file as UTF-8")
        field = canonical_field(name)
        if field is None:
            raise ManifestError(
                source, 1, f"unknown column {name!r}; the columns are {KNOWN_NAMES_HINT}"
            )
        if field in columns:
            raise ManifestError(source, 1, f"column {field!r} appears twice")
        columns.append(field)
    if SUBMISSION_ID not in columns:
        raise ManifestError(source, 1, "has no submissionId column")
    return columns


def _csv_rows(
    reader: CsvReader, columns: list[str], width: int, tally: ReadingTally
) -> Iterator[ManifestRow]:
    row_number = 0
    while True:
        start_line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            row_number += 1
            yield _malformed(row_number, start_line, f"line {start_line} is not valid CSV: {error}")
            continue
        if not cells:
            continue
        if not any(cell.strip() for cell in cells):
            tally.blank_rows += 1
            continue
        row_number += 1
        if len(cells) not in {len(columns), width} or any(c.strip() for c in cells[len(columns) :]):
            message = (
                f"line {start_line} has {len(cells)} cells but the header has {len(columns)}; "
                "check for a missing or extra comma"
            )
            yield _malformed(row_number, start_line, message)
            continue
        values = {name: cell.strip() for name, cell in zip(columns, cells, strict=False)}
        yield _build_row(row_number, start_line, values)


def read_yaml_manifest(file: TextIO, *, source: Path) -> Iterator[ManifestRow]:
    """Parse the whole YAML document and check its shape now; yield its rows."""
    root = _compose(file, source)
    defaults: dict[str, str] = {}
    if isinstance(root, yaml.SequenceNode):
        items = root
    elif isinstance(root, yaml.MappingNode):
        sections = _yaml_sections(root, source)
        if "defaults" in sections:
            defaults = _yaml_defaults(sections["defaults"], source)
        if "submissions" not in sections:
            raise ManifestError(source, _line(root), "has no 'submissions' list")
        submissions = sections["submissions"]
        if not isinstance(submissions, yaml.SequenceNode):
            raise ManifestError(source, _line(submissions), "'submissions' must be a list")
        items = submissions
    else:
        raise ManifestError(
            source, _line(root), "must be a list of submissions or a mapping with 'submissions'"
        )
    rows = [
        _yaml_row(number, item, defaults, source)
        for number, item in enumerate(items.value, start=1)
    ]
    return iter(rows)


def _compose(file: TextIO, source: Path) -> yaml.Node:
    text = file.read()
    if _has_bad_characters(text):
        raise ManifestError(source, None, "is not UTF-8 text; save it as UTF-8")
    try:
        root = yaml.compose(io.StringIO(text), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise ManifestError(source, line, f"is not valid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ManifestError(source, None, f"is not valid YAML: {error}") from None
    except RecursionError:
        # PyYAML composes recursively; thousands of nested brackets exhaust the stack.
        raise ManifestError(source, None, "is nested too deeply to be a manifest") from None
    if root is None:
        raise ManifestError(source, None, "is empty: it must list submissions")
    return root


def _yaml_sections(root: yaml.MappingNode, source: Path) -> dict[str, yaml.Node]:
    sections: dict[str, yaml.Node] = {}
    for key_node, value_node in root.value:
        key = _scalar_text(key_node)
        if key not in {"defaults", "submissions"}:
            raise ManifestError(
                source,
                _line(key_node),
                f"unknown top-level key {key!r}; expected 'defaults' and 'submissions'",
            )
        if key in sections:
            raise ManifestError(source, _line(key_node), f"{key!r} appears twice")
        sections[key] = value_node
    return sections


def _yaml_defaults(node: yaml.Node, source: Path) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        raise ManifestError(source, _line(node), "'defaults' must be a mapping of field: value")
    values, problem = _yaml_fields(node, source)
    if problem is not None:
        raise ManifestError(source, _line(node), f"'defaults': {problem}")
    if SUBMISSION_ID in values:
        raise ManifestError(source, _line(node), "'defaults' cannot set submissionId")
    return values


def _yaml_row(
    number: int, item: yaml.Node, defaults: Mapping[str, str], source: Path
) -> ManifestRow:
    line = _line(item)
    if not isinstance(item, yaml.MappingNode):
        return _malformed(number, line, f"line {line}: a submission must be a mapping of fields")
    values, problem = _yaml_fields(item, source)
    if problem is not None:
        return _malformed(number, line, f"line {line}: {problem}")
    return _build_row(number, line, {**defaults, **values})


def _yaml_fields(node: yaml.MappingNode, source: Path) -> tuple[dict[str, str], str | None]:
    """Fields of one mapping; unknown keys stop everything, other faults spoil only this row."""
    values: dict[str, str] = {}
    seen: set[str] = set()
    problem: str | None = None
    for key_node, value_node in node.value:
        key = _scalar_text(key_node)
        field = canonical_field(key)
        if field is None:
            raise ManifestError(
                source, _line(key_node), f"unknown key {key!r}; the keys are {KNOWN_NAMES_HINT}"
            )
        if field in seen:
            problem = problem or f"{field} is given twice"
        elif not isinstance(value_node, yaml.ScalarNode):
            problem = problem or f"{field} must be a single value, not a list or mapping"
        elif value_node.tag != YAML_NULL_TAG:
            values[field] = value_node.value.strip()
        seen.add(field)
    return values, problem


def _scalar_text(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else repr(node.tag)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _build_row(number: int, line: int, values: dict[str, str]) -> ManifestRow:
    present = {name: value for name, value in values.items() if value}
    bad = [name for name, value in present.items() if _has_bad_characters(value)]
    if bad:
        problem = RowProblem(
            "bad_encoding",
            f"line {line}: {', '.join(bad)} holds a NUL byte or text that is not UTF-8 (a file "
            'saved as Windows-1252 or Latin-1?): save the manifest as "CSV UTF-8", or fix '
            "that cell",
        )
        # The row keeps what can be read of it: its submissionId, for the report.
        readable = {
            name: present[name] for name in (SUBMISSION_ID,) if name in present and name not in bad
        }
        return ManifestRow(row=number, line=line, values=readable, problem=problem)
    return ManifestRow(row=number, line=line, values=present)


def _malformed(number: int, line: int, message: str) -> ManifestRow:
    return ManifestRow(
        row=number, line=line, values={}, problem=RowProblem("malformed_row", message)
    )


def _has_bad_characters(text: str) -> bool:
    return BAD_CHARACTERS.search(text) is not None


def count_rows(path: Path) -> int:
    """How many rows the manifest has: one more pass over it, for progress and ETA."""
    with open_manifest(path) as rows:
        return sum(1 for _ in rows)
