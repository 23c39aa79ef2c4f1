"""Corpus inputs, streamed: text lines, JSONL, CSV, Parquet and CoNLL/IOB, cut into shards.

Every input is a sequence of *records* (one per document, numbered from 0 in input order). A
shard is a fixed run of ``shard_size`` records; its :class:`Span` says where it lies in the file
(byte offsets for line formats, row numbers for Parquet), so any process can read any shard
without reading the ones before it. Reading problems (malformed JSON, a missing field, bytes that
are not UTF-8) become records with an ``error``: the job writes them to the errors table and goes
on.

Every record is decoded from its own bytes, strictly: a byte that is not UTF-8 makes its record
an error naming the line and the byte, never a U+FFFD in the text, and the records around it are
read as if it were not there (the structure of CSV quotes and CoNLL sentences is ASCII, so it is
found before decoding). A UTF-8 byte-order mark at the start of the file is not part of the first
record; a file that starts with a UTF-16 or UTF-32 mark is refused.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nerlens.errors import InputError
from nerlens.gold import GoldDocument, read_conll

FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".conll": "conll",
    ".iob": "conll",
    ".bio": "conll",
}
UTF8_BOM = codecs.BOM_UTF8
# Marks of encodings nerlens does not read (UTF-32 first: its little-endian mark starts with
# UTF-16's).
OTHER_BOMS = {
    "UTF-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
    "UTF-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
}
# The largest CSV field (characters): csv's default of 131,072 would end a long quoted field in
# the middle and read the rest of it as records of their own. The C long of every platform.
CSV_FIELD_LIMIT = 2**31 - 1


_Line = tuple[int, int, bytes]  # line number, byte offset, the line's bytes
_Parsed = tuple[int, int, dict[str, Any]]  # a record's first line and byte, and its fields


@dataclass(frozen=True)
class Record:
    """One input document, or the reason it could not be read (``error``)."""

    index: int  # 0-based position among the input's records
    line: int  # 1-based line (Parquet: row) where the record starts
    doc_id: str
    text: Any = None  # checked by the per-document work: a non-string is a bad record there
    gold: GoldDocument | None = None
    error: str | None = None


@dataclass(frozen=True)
class Span:
    """Shard ``shard``: records from ``first_record``, in file bytes (or rows) ``[start, end)``."""

    shard: int
    first_record: int
    first_line: int
    start: int
    end: int


def detect_format(path: Path, given: str | None) -> str:
    """The input format: as given, else from the file's suffix."""
    allowed = sorted(set(FORMATS.values()))
    if given is not None:
        if given not in allowed:
            raise InputError(f"--format must be one of {allowed}, got {given!r}")
        return given
    if path.suffix.lower() not in FORMATS:
        raise InputError(
            f"cannot tell the format of {str(path)!r} from its suffix {path.suffix!r}; "
            f"name it *{', *'.join(sorted(FORMATS))} or pass --format ({', '.join(allowed)})"
        )
    return FORMATS[path.suffix.lower()]


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Source:
    """A corpus input file: its format, fields, shard plan and records."""

    def __init__(
        self,
        path: str | Path,
        format: str | None = None,
        text_field: str = "text",
        id_field: str | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"input {str(self.path)!r} is not a file")
        self.format = detect_format(self.path, format)
        self.text_field = text_field
        self.id_field = id_field
        if self.format == "parquet":
            self._check_parquet_columns()
            return
        self._check_encoding_mark()
        if self.format == "csv":
            csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
            self._csv_header()

    # ------------------------------------------------------------------ plan and read
    def plan(self, shard_size: int) -> list[Span]:
        """One pass over the input: where every shard of ``shard_size`` records starts."""
        if self.format == "parquet":
            rows = self._parquet().metadata.num_rows
            return [
                Span(k, first, first + 1, first, min(first + shard_size, rows))
                for k, first in enumerate(range(0, rows, shard_size))
            ]
        data_byte, data_line = self._data_start()
        starts = [
            (record.index, record.line, start)
            for record, start in self._line_records(data_byte, None, data_line, 0)
            if record.index % shard_size == 0
        ]
        size = self.path.stat().st_size
        ends = [start for _, _, start in starts[1:]] + [size]
        return [
            Span(k, index, line, start, end)
            for k, ((index, line, start), end) in enumerate(zip(starts, ends))
        ]

    def read(self, span: Span) -> Iterator[Record]:
        """The records of one shard."""
        if self.format == "parquet":
            yield from self._parquet_records(span.start, span.end)
            return
        for record, _ in self._line_records(
            span.start, span.end, span.first_line, span.first_record
        ):
            yield record

    # ------------------------------------------------------------------ line formats
    def _check_encoding_mark(self) -> None:
        """Refuse a text file in another Unicode encoding (its byte-order mark says so)."""
        with self.path.open("rb") as stream:
            head = stream.read(4)
        for encoding, marks in OTHER_BOMS.items():
            if head.startswith(marks):
                raise InputError(
                    f"{str(self.path)!r} starts with a {encoding} byte-order mark; nerlens reads "
                    f"UTF-8: convert it first (iconv -f {encoding} -t UTF-8)"
                )

    def _lines(self, start: int, end: int | None, first_line: int) -> Iterator[_Line]:
        """The lines in bytes ``[start, end)``, undecoded: each record decodes its own."""
        with self.path.open("rb") as stream:
            stream.seek(start)
            position, number = start, first_line
            for raw in stream:
                if end is not None and position >= end:
                    return
                yield number, position, raw
                position += len(raw)
                number += 1

    def _line_records(
        self, start: int, end: int | None, first_line: int, first_index: int
    ) -> Iterator[tuple[Record, int]]:
        """Records with the byte offset where each starts."""
        lines = self._lines(start, end, first_line)
        if self.format == "conll":
            parse = self._conll_records(lines)
        elif self.format == "csv":
            parse = self._csv_records(lines)
        else:
            parse = self._single_line_records(lines)
        for index, (line, byte, fields) in enumerate(parse, start=first_index):
            yield Record(index=index, line=line, **fields), byte

    def _single_line_records(self, lines: Iterator[_Line]) -> Iterator[_Parsed]:
        for number, byte, raw in lines:
            try:
                text = _decode(raw, number)
            except _NotUtf8 as error:
                yield number, byte, {"doc_id": str(number), "error": str(error)}
                continue
            content = text.removesuffix("\n").removesuffix("\r")
            if self.format == "text":
                yield number, byte, {"doc_id": str(number), "text": content}
                continue
            try:
                row = json.loads(content)
            except json.JSONDecodeError as error:
                yield number, byte, {"doc_id": str(number), "error": f"malformed JSON: {error}"}
                continue
            if not isinstance(row, dict):
                message = f"a JSONL line must be an object, got {type(row).__name__}"
                yield number, byte, {"doc_id": str(number), "error": message}
                continue
            yield number, byte, self._fields(row, number)

    def _csv_records(self, lines: Iterator[_Line]) -> Iterator[_Parsed]:
        header, _, _ = self._csv_header()
        tracked = _Tracked(lines)
        reader = csv.reader(tracked)
        while True:
            start_line, start_byte = tracked.next_line, tracked.next_byte
            tracked.taken.clear()
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                message = f"CSV: {_csv_problem(error)}"
                yield start_line, start_byte, {"doc_id": str(start_line), "error": message}
                continue
            try:
                _decode(b"".join(tracked.taken), start_line)
            except _NotUtf8 as error:
                yield start_line, start_byte, {"doc_id": str(start_line), "error": str(error)}
                continue
            if len(values) != len(header):
                message = f"CSV row has {len(values)} fields but the header has {len(header)}"
                yield start_line, start_byte, {"doc_id": str(start_line), "error": message}
            else:
                yield start_line, start_byte, self._fields(dict(zip(header, values)), start_line)

    def _csv_header(self) -> tuple[list[str], int, int]:
        """The header row, and the byte offset and line number where the data starts."""
        tracked = _Tracked(self._lines(self._after_mark(), None, 1))
        try:
            header = next(csv.reader(tracked), None)
        except csv.Error as error:
            problem = _csv_problem(error)
            raise InputError(f"the header of the CSV file {str(self.path)!r}: {problem}") from None
        if not header:
            raise InputError(f"the CSV file {str(self.path)!r} has no header row")
        try:
            _decode(b"".join(tracked.taken), 1)
        except _NotUtf8 as error:
            raise InputError(f"the header of the CSV file {str(self.path)!r}: {error}") from None
        missing = [f for f in (self.text_field, self.id_field) if f and f not in header]
        if missing:
            raise InputError(f"CSV column(s) {missing} not found; the header has {header}")
        return header, tracked.next_byte, tracked.next_line

    def _data_start(self) -> tuple[int, int]:
        """Byte offset and line number of the first record (after a byte-order mark and a CSV
        header)."""
        if self.format != "csv":
            return self._after_mark(), 1
        _, byte, line = self._csv_header()
        return byte, line

    def _after_mark(self) -> int:
        """Where the content starts: after a UTF-8 byte-order mark, if the file has one."""
        with self.path.open("rb") as stream:
            return len(UTF8_BOM) if stream.read(len(UTF8_BOM)) == UTF8_BOM else 0

    def _conll_records(self, lines: Iterator[_Line]) -> Iterator[_Parsed]:
        """One record per sentence; a sentence with a line that is not UTF-8 is an error record.

        Lines are split into columns after a lenient decoding (a bad byte is a lone surrogate,
        never whitespace), so a bad byte cannot move a sentence boundary.
        """
        offsets: dict[int, tuple[int, int]] = {}
        bad: dict[int, str] = {}  # local line -> why it is not UTF-8
        fed = 0

        def feed() -> Iterator[str]:
            nonlocal fed
            for local, (number, byte, raw) in enumerate(lines, start=1):
                offsets[local] = (number, byte)
                fed = local
                try:
                    yield _decode(raw, number)
                except _NotUtf8 as error:
                    bad[local] = str(error)
                    yield raw.decode("utf-8", "surrogateescape")

        try:
            for document in read_conll(feed()):
                number, byte = offsets[document.line]
                for key in [k for k in offsets if k <= document.line]:
                    del offsets[key]
                problems = [bad.pop(k) for k in sorted(bad) if k <= fed]
                if problems:  # the lines read so far end with this sentence (and a separator)
                    yield number, byte, {"doc_id": str(number), "error": problems[0]}
                    continue
                gold = replace(document, line=number)
                yield number, byte, {"doc_id": str(number), "text": document.text, "gold": gold}
        except InputError as error:
            raise InputError(f"{self.path}: {error}") from None

    def _fields(self, row: dict[str, Any], line: int) -> dict[str, Any]:
        """The text and id of a JSON/CSV row; a missing field is a bad record."""
        if self.text_field not in row:
            message = f"no field {self.text_field!r} (fields: {sorted(row)}); see --text-field"
            return {"doc_id": str(line), "error": message}
        for name in (self.text_field, self.id_field):
            problem = name and _unicode_problem(name, row.get(name))
            if problem:
                return {"doc_id": str(line), "error": problem}
        if self.id_field is None:
            return {"doc_id": str(line), "text": row[self.text_field]}
        doc_id = row.get(self.id_field)
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or doc_id == "":
            message = f"field {self.id_field!r} must be a non-empty string or int, got {doc_id!r}"
            return {"doc_id": str(line), "error": message}
        return {"doc_id": str(doc_id), "text": row[self.text_field]}

    # ------------------------------------------------------------------ Parquet
    def _parquet(self) -> Any:
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.path)

    def _check_parquet_columns(self) -> None:
        names = self._parquet().schema_arrow.names
        missing = [f for f in (self.text_field, self.id_field) if f and f not in names]
        if missing:
            raise InputError(f"Parquet column(s) {missing} not found; the file has {names}")

    def _parquet_records(self, start: int, end: int) -> Iterator[Record]:
        parquet = self._parquet()
        columns = [c for c in dict.fromkeys((self.text_field, self.id_field)) if c]
        first_row = 0
        for group in range(parquet.num_row_groups):
            group_rows = parquet.metadata.row_group(group).num_rows
            if first_row + group_rows > start and first_row < end:
                for batch in parquet.iter_batches(1024, row_groups=[group], columns=columns):
                    values = {name: _cells(batch.column(name)) for name in columns}
                    for offset in range(batch.num_rows):
                        index = first_row + offset
                        if start <= index < end:
                            yield self._parquet_record(index, values, offset)
                    first_row += batch.num_rows
            else:
                first_row += group_rows

    def _parquet_record(self, index: int, values: dict[str, list[Any]], offset: int) -> Record:
        """Row ``index`` (at ``offset`` in its batch's ``values``), its text decoded on its own."""
        try:
            row = {
                name: _decoded(cells[offset], f"row {index + 1}, column {name!r}")
                for name, cells in values.items()
            }
        except _NotUtf8 as error:
            return Record(index=index, line=index + 1, doc_id=str(index + 1), error=str(error))
        return Record(index=index, line=index + 1, **self._fields(row, index + 1))


def _cells(column: Any) -> list[Any]:
    """A Parquet column's values; text columns as bytes, so that a value that is not UTF-8
    spoils its own row only (pyarrow would refuse the whole batch)."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = column.cast(pa.large_binary())
    return column.to_pylist()


class _NotUtf8(ValueError):
    """A record's bytes are not UTF-8; the message names the line (or cell) and the bytes."""


def _decode(raw: bytes, first_line: int) -> str:
    """``raw`` (a record's bytes, from line ``first_line``) as text, strictly; else _NotUtf8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + raw.count(b"\n", 0, error.start)
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise _NotUtf8(
            f"not UTF-8: line {line}, byte {column} of the line ({_bad_bytes(error)}); "
            "save the file as UTF-8"
        ) from None


def _decoded(value: Any, where: str) -> Any:
    """A Parquet cell: bytes decoded strictly as UTF-8 (else _NotUtf8 naming ``where``)."""
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"not UTF-8: {where}, byte {error.start + 1} ({_bad_bytes(error)})"
        raise _NotUtf8(message) from None


def _bad_bytes(error: UnicodeDecodeError) -> str:
    """``0xe9: invalid continuation byte``: the bytes that failed and why."""
    bad = " ".join(f"0x{b:02x}" for b in error.object[error.start : error.end])
    return f"{bad}: {error.reason}"


def _csv_problem(error: csv.Error) -> str:
    """A CSV parsing error in words that fit a file (csv's own speaks of opening it)."""
    if "new-line character seen in unquoted field" in str(error):
        return (
            "a carriage return (\\r) inside an unquoted field; quote the field, or end lines "
            "with \\n or \\r\\n"
        )
    return str(error)


def _unicode_problem(field: str, value: Any) -> str | None:
    """Why a str ``value`` is not Unicode text (a lone surrogate, from a JSON ``\\ud800``
    escape), else None: such a value can be neither explained nor stored as UTF-8."""
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        character = value[error.start]
        return (
            f"field {field!r} holds a lone surrogate \\u{ord(character):04x} at character "
            f"{error.start}, which is not Unicode text"
        )
    return None


class _Tracked:
    """Lines for ``csv.reader``: decoded leniently (a byte that is not UTF-8 stays a lone
    surrogate, so quotes and newlines are found as they are); remembers where the next unread
    line starts and the raw bytes ``taken`` since the caller last cleared them."""

    def __init__(self, lines: Iterator[_Line]) -> None:
        self.lines = lines
        self.taken: list[bytes] = []
        self.next_line, self.next_byte = -1, -1
        self.peeked = next(lines, None)
        if self.peeked is not None:
            self.next_line, self.next_byte = self.peeked[0], self.peeked[1]

    def __iter__(self) -> _Tracked:
        return self

    def __next__(self) -> str:
        if self.peeked is None:
            raise StopIteration
        number, byte, raw = self.peeked
        self.peeked = next(self.lines, None)
        if self.peeked is not None:
            self.next_line, self.next_byte = self.peeked[0], self.peeked[1]
        else:
            self.next_line, self.next_byte = number + 1, byte + len(raw)
        self.taken.append(raw)
        return raw.decode("utf-8", "surrogateescape")
