"""Corpus inputs, streamed: text lines, JSONL, CSV, Parquet and CoNLL/IOB, cut into shards.

Every input is a sequence of *records* (one per document, numbered from 0 in input order). A
shard is a fixed run of ``shard_size`` records; its :class:`Span` says where it lies in the file
(byte offsets for line formats, row numbers for Parquet), so any process can read any shard
without reading the ones before it. Reading problems (malformed JSON, a missing field, bytes that
are not UTF-8) become records with an ``error``: the job writes them to the errors table and goes
on.
"""

from __future__ import annotations

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
        elif self.format == "csv":
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
    def _lines(
        self, start: int, end: int | None, first_line: int
    ) -> Iterator[tuple[int, int, str]]:
        """``(line number, byte offset, text)`` of the lines in bytes ``[start, end)``."""
        with self.path.open("rb") as stream:
            stream.seek(start)
            position, number = start, first_line
            for raw in stream:
                if end is not None and position >= end:
                    return
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    text = _NotUtf8(str(error))
                yield number, position, text
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

    def _single_line_records(
        self, lines: Iterator[tuple[int, int, str]]
    ) -> Iterator[tuple[int, int, dict[str, Any]]]:
        for number, byte, text in lines:
            if isinstance(text, _NotUtf8):
                yield number, byte, {"doc_id": str(number), "error": text.message}
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

    def _csv_records(
        self, lines: Iterator[tuple[int, int, str]]
    ) -> Iterator[tuple[int, int, dict[str, Any]]]:
        header, _, _ = self._csv_header()
        tracked = _Tracked(lines)
        reader = csv.reader(tracked)
        while True:
            start_line, start_byte = tracked.next_line, tracked.next_byte
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield start_line, start_byte, {"doc_id": str(start_line), "error": f"CSV: {error}"}
                continue
            if len(values) != len(header):
                message = f"CSV row has {len(values)} fields but the header has {len(header)}"
                yield start_line, start_byte, {"doc_id": str(start_line), "error": message}
            else:
                yield start_line, start_byte, self._fields(dict(zip(header, values)), start_line)

    def _csv_header(self) -> tuple[list[str], int, int]:
        """The header row, and the byte offset and line number where the data starts."""
        tracked = _Tracked(self._lines(0, None, 1))
        header = next(csv.reader(tracked), None)
        if not header:
            raise InputError(f"the CSV file {str(self.path)!r} has no header row")
        missing = [f for f in (self.text_field, self.id_field) if f and f not in header]
        if missing:
            raise InputError(f"CSV column(s) {missing} not found; the header has {header}")
        return header, tracked.next_byte, tracked.next_line

    def _data_start(self) -> tuple[int, int]:
        """Byte offset and line number of the first record (after a CSV header)."""
        if self.format != "csv":
            return 0, 1
        _, byte, line = self._csv_header()
        return byte, line

    def _conll_records(
        self, lines: Iterator[tuple[int, int, str]]
    ) -> Iterator[tuple[int, int, dict[str, Any]]]:
        offsets: dict[int, tuple[int, int]] = {}

        def feed() -> Iterator[str]:
            for local, (number, byte, text) in enumerate(lines, start=1):
                if isinstance(text, _NotUtf8):
                    raise InputError(f"line {number}: {text.message}")
                offsets[local] = (number, byte)
                yield text

        try:
            for document in read_conll(feed()):
                number, byte = offsets[document.line]
                for key in [k for k in offsets if k <= document.line]:
                    del offsets[key]
                gold = replace(document, line=number)
                yield number, byte, {"doc_id": str(number), "text": document.text, "gold": gold}
        except InputError as error:
            raise InputError(f"{self.path}: {error}") from None

    def _fields(self, row: dict[str, Any], line: int) -> dict[str, Any]:
        """The text and id of a JSON/CSV row; a missing field is a bad record."""
        if self.text_field not in row:
            message = f"no field {self.text_field!r} (fields: {sorted(row)}); see --text-field"
            return {"doc_id": str(line), "error": message}
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
                    rows = batch.to_pylist()
                    for offset, row in enumerate(rows):
                        index = first_row + offset
                        if start <= index < end:
                            yield Record(
                                index=index, line=index + 1, **self._fields(row, index + 1)
                            )
                    first_row += len(rows)
            else:
                first_row += group_rows


class _NotUtf8(str):
    """A line whose bytes are not UTF-8: carries the decoding error instead of text."""

    message: str

    def __new__(cls, error: str) -> _NotUtf8:
        value = super().__new__(cls, "\ufffd\n")
        value.message = f"not UTF-8: {error}"
        return value


class _Tracked:
    """Lines for ``csv.reader`` that remember where the next unread line starts."""

    def __init__(self, lines: Iterator[tuple[int, int, str]]) -> None:
        self.lines = lines
        self.next_line, self.next_byte = -1, -1
        self.peeked = next(lines, None)
        if self.peeked is not None:
            self.next_line, self.next_byte = self.peeked[0], self.peeked[1]

    def __iter__(self) -> _Tracked:
        return self

    def __next__(self) -> str:
        if self.peeked is None:
            raise StopIteration
        number, byte, text = self.peeked
        self.peeked = next(self.lines, None)
        if self.peeked is not None:
            self.next_line, self.next_byte = self.peeked[0], self.peeked[1]
        else:
            self.next_line, self.next_byte = number + 1, byte + len(text.encode())
        return text
