"""Manifests (CSV or YAML) to a lazy stream of `ManifestRow`s.

Readers take open file objects; `open_manifest` is the one place that opens a path. Anything
that makes the whole file unusable raises `ManifestError` before the first row is yielded;
a problem confined to one row is attached to that row and the stream goes on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar, cast

import yaml

from batch_uploader.api import IMAGE_FIELDS, SUBMISSION_ID, canonical_field
from batch_uploader.errors import ManifestError, SettingError

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

T = TypeVar("T")
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


# Not frozen: a frozen dataclass's __init__ costs 2.5x as much, and one is made per row of
# manifests of 10^7 rows. Nothing changes a row once it is read.
@dataclass(slots=True, kw_only=True)
class ManifestRow:
    """One submission read from a manifest, before any check of its files.

    `values` maps API field names to the non-empty text the manifest gives them (defaults
    applied). `problem` is set when the reader itself could not make sense of the row.
    """

    row: int
    line: int
    values: Mapping[str, str]
    problem: RowProblem | None = None
    # `image_fields`, once worked out: checking and reporting a row each ask for it.
    _image_fields: tuple[str, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def submission_id(self) -> str:
        return self.values.get(SUBMISSION_ID, "")

    @property
    def image_fields(self) -> tuple[str, ...]:
        if self._image_fields is None:
            values = self.values
            self._image_fields = tuple([name for name in IMAGE_FIELDS if name in values])
        return self._image_fields


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


# A row as its `cancelled` line needs it: row number, submissionId, image fields `;`-joined.
RowBrief = tuple[int, str, str]


class ManifestReader(Iterator[ManifestRow]):
    """A manifest's rows, read lazily. After a stop, `briefs` reads the rest quickly (about
    3x faster on CSV): a run stopped at row 100,000 of 10^7 must still give every other row
    its `cancelled` line within seconds. Once `briefs` is called, the rows are spent."""

    def __init__(
        self,
        rows: Iterator[ManifestRow],
        briefs: Callable[[], Iterator[RowBrief]] | None = None,
    ) -> None:
        self._rows = rows
        self._briefs = briefs

    def __next__(self) -> ManifestRow:
        return next(self._rows)

    def __iter__(self) -> Iterator[ManifestRow]:
        # The rows themselves: a loop over the reader then costs no call of ours per row.
        return self._rows

    def briefs(self) -> Iterator[RowBrief]:
        if self._briefs is not None:
            return self._briefs()
        return ((row.row, row.submission_id, ";".join(row.image_fields)) for row in self._rows)


@contextmanager
def open_manifest(
    manifest: Manifest, tally: ReadingTally | None = None
) -> Iterator[ManifestReader]:
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
) -> ManifestReader:
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
    reading = _CsvReading(reader, columns, width, tally or ReadingTally())
    return ManifestReader(reading.rows(), reading.briefs)


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


class _CsvReading:
    """Data rows of a CSV manifest: whole (`rows`), or, from where `rows` stopped, in brief.

    Both take their rows from one numbering pass over the reader, so `briefs` continues
    exactly where `rows` stopped, with the same row numbers.
    """

    def __init__(
        self, reader: CsvReader, columns: list[str], width: int, tally: ReadingTally
    ) -> None:
        self.columns = columns
        self._numbered = _numbered_cells(reader, len(columns), width, tally)

    def rows(self) -> Iterator[ManifestRow]:
        for number, line, cells, joined, problem in self._numbered:
            yield self._row(number, line, cells, joined, problem)

    def briefs(self) -> Iterator[RowBrief]:
        """The rows after the last one `rows` gave, as `RowBrief`s, with no `ManifestRow`
        or dict made for a row that is well formed: the same values `rows` would give."""
        search_bad = BAD_CHARACTERS.search
        id_index = self.columns.index(SUBMISSION_ID)
        images = [(name, self.columns.index(name)) for name in IMAGE_FIELDS if name in self.columns]
        for number, line, cells, joined, problem in self._numbered:
            if problem is None and search_bad(joined) is None:
                fields = ";".join([name for name, at in images if cells[at].strip()])
                yield number, cells[id_index].strip(), fields
            else:
                row = self._row(number, line, cells, joined, problem)
                yield number, row.submission_id, ";".join(row.image_fields)

    def _row(
        self, number: int, line: int, cells: list[str], joined: str, problem: str | None
    ) -> ManifestRow:
        if problem is not None:
            return _malformed(number, line, problem)
        values = dict(zip(self.columns, map(str.strip, cells), strict=False))
        if "" in values.values():
            values = {name: value for name, value in values.items() if value}
        if BAD_CHARACTERS.search(joined) is None:
            return ManifestRow(row=number, line=line, values=values)
        return _row_with_bad_characters(number, line, values)


# A data row as read: its number, first line, cells, the cells joined, and why it is not a
# row of the manifest's shape (not CSV, the wrong number of cells), if it is not.
_NumberedCells = tuple[int, int, list[str], str, str | None]


def _numbered_cells(
    reader: CsvReader, count: int, width: int, tally: ReadingTally
) -> Iterator[_NumberedCells]:
    """Number the rows that are not blank. This loop runs for every row of manifests of 10^7
    rows, so it does each thing once: one `for` over the reader (re-entered after a line the
    csv module cannot read), one join of the cells, which answers "blank?" here and "any
    bad character?" for the caller."""
    row_number, line = 0, reader.line_num
    while True:
        try:
            for cells in reader:
                start_line, line = line + 1, reader.line_num
                joined = "".join(cells)
                if not joined.strip():
                    tally.blank_rows += bool(cells)
                    continue
                row_number += 1
                problem = None
                if len(cells) != count and (
                    len(cells) != width or any(cell.strip() for cell in cells[count:])
                ):
                    problem = (
                        f"line {start_line} has {len(cells)} cells but the header has "
                        f"{count}; check for a missing or extra comma"
                    )
                yield row_number, start_line, cells, joined, problem
        except csv.Error as error:
            row_number += 1
            start_line, line = line + 1, reader.line_num
            yield row_number, start_line, [], "", f"line {start_line} is not valid CSV: {error}"
        else:
            return


def read_yaml_manifest(file: TextIO, *, source: Path) -> ManifestReader:
    """Check the YAML document's shape up to its first submission now; return an iterator
    that composes one submission at a time.

    Streamed, not composed whole: composing 200,000 submissions took 45 s and 762 MB before
    the first request. The price: a fault after the first submission (a syntax error, a
    top-level key after the list) is raised as `ManifestError` when reading reaches it.
    """
    events = _YamlEvents(file, source)
    events.expect(yaml.StreamStartEvent)
    if events.next_is(yaml.StreamEndEvent):
        raise ManifestError(source, None, "is empty: it must list submissions")
    events.expect(yaml.DocumentStartEvent)
    defaults: dict[str, str] = {}
    if events.next_is(yaml.SequenceStartEvent):
        events.take()
        return ManifestReader(_yaml_items(events, defaults, source, sections=None))
    if not events.next_is(yaml.MappingStartEvent):
        root = events.compose()
        raise ManifestError(
            source, _line(root), "must be a list of submissions or a mapping with 'submissions'"
        )
    start = events.take()
    seen: set[str] = set()
    while not events.next_is(yaml.MappingEndEvent):
        key_node = events.compose()
        key = _yaml_section_key(key_node, seen, source)
        if key == "defaults":
            defaults = _yaml_defaults(events.compose(), source)
            continue
        if not events.next_is(yaml.SequenceStartEvent):
            raise ManifestError(source, _line(events.compose()), "'submissions' must be a list")
        events.take()
        return ManifestReader(_yaml_items(events, defaults, source, sections=seen))
    raise ManifestError(source, _event_line(start), "has no 'submissions' list")


def _yaml_items(
    events: _YamlEvents,
    defaults: Mapping[str, str],
    source: Path,
    *,
    sections: set[str] | None,
) -> Iterator[ManifestRow]:
    """The submissions, composed one at a time; then the rest of the document is checked."""
    number = 0
    while not events.next_is(yaml.SequenceEndEvent):
        number += 1
        yield _yaml_row(number, events.compose(), defaults, source)
    events.take()
    if sections is not None:
        # Keys after the list: only 'defaults' could be one, and by now it comes too late.
        while not events.next_is(yaml.MappingEndEvent):
            key_node = events.compose()
            key = _yaml_section_key(key_node, sections, source)
            raise ManifestError(
                source, _line(key_node), f"put {key!r} before 'submissions', not after"
            )
        events.take()
    events.expect(yaml.DocumentEndEvent)
    if not events.next_is(yaml.StreamEndEvent):
        raise ManifestError(source, events.line(), "holds more than one YAML document; keep one")


def _yaml_section_key(key_node: yaml.Node, seen: set[str], source: Path) -> str:
    key = _scalar_text(key_node)
    if key not in {"defaults", "submissions"}:
        raise ManifestError(
            source,
            _line(key_node),
            f"unknown top-level key {key!r}; expected 'defaults' and 'submissions'",
        )
    if key in seen:
        raise ManifestError(source, _line(key_node), f"{key!r} appears twice")
    seen.add(key)
    return key


class _YamlEvents:
    """PyYAML's event stream (libyaml's when installed), composed into nodes one at a time,
    with every parser fault turned into a `ManifestError` naming the line."""

    def __init__(self, file: TextIO, source: Path) -> None:
        self._source = source
        loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self._loader = loader_class(_CheckedText(file, source))
        self._anchors: dict[str, yaml.Node] = {}

    def next_is(self, kind: type[yaml.Event]) -> bool:
        return bool(self._guarded(lambda: self._loader.check_event(kind)))

    def take(self) -> yaml.Event:
        event: yaml.Event = self._guarded(self._loader.get_event)
        return event

    def expect(self, kind: type[yaml.Event]) -> yaml.Event:
        event = self.take()
        if not isinstance(event, kind):
            raise ManifestError(self._source, _event_line(event), "is not a single YAML document")
        return event

    def line(self) -> int | None:
        event: yaml.Event = self._guarded(self._loader.peek_event)
        return _event_line(event)

    def compose(self) -> yaml.Node:
        try:
            return self._compose()
        except RecursionError:
            # Nodes are composed recursively; thousands of nested brackets exhaust the stack.
            raise ManifestError(
                self._source, None, "is nested too deeply to be a manifest"
            ) from None

    def _compose(self) -> yaml.Node:
        event = self.take()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self._anchors:
                raise ManifestError(
                    self._source,
                    _event_line(event),
                    f"is not valid YAML: unknown alias *{event.anchor}",
                )
            return self._anchors[event.anchor]
        node: yaml.Node
        if isinstance(event, yaml.ScalarEvent):
            node = yaml.ScalarNode(
                self._tag(yaml.ScalarNode, event.tag, event.value, event.implicit),
                event.value,
                *_marks(event),
                style=event.style,
            )
            self._anchor(event, node)
        elif isinstance(event, yaml.SequenceStartEvent):
            items: list[yaml.Node] = []
            node = yaml.SequenceNode(
                self._tag(yaml.SequenceNode, event.tag, None, event.implicit),
                items,
                *_marks(event),
            )
            self._anchor(event, node)
            while not self.next_is(yaml.SequenceEndEvent):
                items.append(self._compose())
            self.take()
        elif isinstance(event, yaml.MappingStartEvent):
            pairs: list[tuple[yaml.Node, yaml.Node]] = []
            node = yaml.MappingNode(
                self._tag(yaml.MappingNode, event.tag, None, event.implicit),
                pairs,
                *_marks(event),
            )
            self._anchor(event, node)
            while not self.next_is(yaml.MappingEndEvent):
                key = self._compose()
                pairs.append((key, self._compose()))
            self.take()
        else:
            raise ManifestError(self._source, _event_line(event), "is not valid YAML here")
        return node

    def _tag(
        self, kind: type[yaml.Node], tag: str | None, value: str | None, implicit: object
    ) -> str:
        if tag is not None and tag != "!":
            return tag
        resolved: str = self._loader.resolve(kind, value, implicit)
        return resolved

    def _anchor(self, event: yaml.NodeEvent, node: yaml.Node) -> None:
        if event.anchor is not None:
            self._anchors[event.anchor] = node

    def _guarded(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except yaml.MarkedYAMLError as error:
            line = error.problem_mark.line + 1 if error.problem_mark else None
            if "nesting depth" in (error.problem or ""):  # libyaml's own limit
                raise ManifestError(
                    self._source, line, "is nested too deeply to be a manifest"
                ) from None
            raise ManifestError(self._source, line, f"is not valid YAML: {error.problem}") from None
        except yaml.YAMLError as error:
            raise ManifestError(self._source, None, f"is not valid YAML: {error}") from None


def _marks(event: yaml.Event) -> tuple[yaml.Mark | None, yaml.Mark | None]:
    # libyaml's marks are its own class with the same fields; the stubs know only PyYAML's.
    return cast("yaml.Mark | None", event.start_mark), cast("yaml.Mark | None", event.end_mark)


def _event_line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return None if mark is None else int(mark.line) + 1


class _CheckedText:
    """The manifest's text as the YAML parser reads it, refusing what is not UTF-8 text."""

    def __init__(self, file: TextIO, source: Path) -> None:
        self._file = file
        self._source = source

    def read(self, size: int = -1) -> str:
        text = self._file.read(size)
        if _has_bad_characters(text):
            raise ManifestError(self._source, None, "is not UTF-8 text; save it as UTF-8")
        return text


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
    if any(_has_bad_characters(value) for value in present.values()):
        return _row_with_bad_characters(number, line, present)
    return ManifestRow(row=number, line=line, values=present)


def _row_with_bad_characters(number: int, line: int, present: dict[str, str]) -> ManifestRow:
    bad = [name for name, value in present.items() if _has_bad_characters(value)]
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


def _malformed(number: int, line: int, message: str) -> ManifestRow:
    return ManifestRow(
        row=number, line=line, values={}, problem=RowProblem("malformed_row", message)
    )


def _has_bad_characters(text: str) -> bool:
    return BAD_CHARACTERS.search(text) is not None


def count_rows(path: Path, keep: Callable[[str], bool] | None = None) -> int:
    """How many rows the manifest has (whose submissionId `keep` keeps): one more pass over
    it, for progress and ETA."""
    with open_manifest(path) as rows:
        if keep is None:
            return sum(1 for _ in rows)
        return sum(1 for row in rows if keep(row.submission_id))
