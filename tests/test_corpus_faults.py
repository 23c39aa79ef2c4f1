"""Corpus jobs under faults: bytes that are not UTF-8 and other hostile input in every reader
(fuzzed), exceptions inside one record, crash-consistent writes, resuming across library
versions, window spans and the report's views. Kill -9 and resume is in test_corpus.py."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nerlens.corpus
from nerlens import Explainer, load_model, methods
from nerlens.corpus.job import run_job
from nerlens.corpus.readers import Source
from nerlens.corpus.store import Store, schemas
from nerlens.corpus.work import JobSettings, ShardRows, explain_records
from nerlens.errors import InputError
from test_corpus import SENTENCES, settings_for

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
# Bytes that are never UTF-8 here: a lone continuation byte, Latin-1 é, a lead byte cut short
# (then followed by whatever comes next), an encoded surrogate, a code point above U+10FFFF.
BAD_BYTES = [b"\x80", b"\xe9", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
HOLE = "\ue000"  # stands for a record's bad bytes until the file is written
HOLE_BYTES = HOLE.encode("utf-8")


# ---------------------------------------------------------------------- the file
def test_bytes_that_are_not_utf8_are_error_rows_and_spare_their_neighbours(tmp_path, model_dir):
    path = tmp_path / "d.csv"
    path.write_bytes(
        b'id,text\n1,Angela Merkel met Joe Biden.\n2,"caf\xe9 in Paris"\n'
        b'3,"multi\nline \xff text"\n4,Apple opened a store in London.\n'
    )
    out = tmp_path / "out"
    result = run_job(settings_for(path, model_dir, id_field="id"), out, progress=False)
    corpus = nerlens.corpus.open(out)
    documents, errors = corpus.documents(), corpus.errors()
    assert (result.documents, result.errors) == (2, 2)
    assert list(documents["text"]) == [
        "Angela Merkel met Joe Biden.",
        "Apple opened a store in London.",
    ]
    assert not documents["text"].str.contains("\ufffd").any()
    assert list(errors["line"]) == [3, 4]
    assert errors["message"][0].startswith("not UTF-8: line 3, byte 7 of the line (0xe9")
    assert errors["message"][1].startswith("not UTF-8: line 5, byte 6 of the line (0xff")


@pytest.mark.parametrize("name", ["d.txt", "d.jsonl", "d.conll", "d.parquet"])
def test_every_reader_makes_an_undecodable_record_an_error(tmp_path, name):
    good = ["Angela Merkel met Joe Biden .", "Apple opened a store in London ."]
    bad = "caf\ue000 in Paris ."
    texts = [good[0], bad, good[1]]
    path = tmp_path / name
    write_records(path, texts)
    records = read_all(Source(path), 1)
    assert [r.text for r in records] == [good[0], None, good[1]]
    assert records[1].error.startswith("not UTF-8: ")
    where = "row 2, column 'text'" if name == "d.parquet" else f"line {records[1].line}"
    assert where in records[1].error and "(0xff: invalid start byte)" in records[1].error


def test_encoding_marks(tmp_path):
    """A UTF-8 byte-order mark is not text; a UTF-16 or UTF-32 file is refused by name."""
    for name in ("d.txt", "d.jsonl", "d.csv", "d.conll"):
        path = tmp_path / name
        write_records(path, ["Paris", "Tokyo"], bom=True)
        assert [r.text for r in read_all(Source(path), 1)] == ["Paris", "Tokyo"], name
    for encoding, label in (("utf-16", "UTF-16"), ("utf-32", "UTF-32")):
        path = tmp_path / "wide.txt"
        path.write_bytes("Paris\n".encode(encoding))
        with pytest.raises(InputError, match=f"starts with a {label} byte-order mark"):
            Source(path)


def test_a_lone_surrogate_from_json_is_an_error_row_and_the_job_finishes(tmp_path, model_dir):
    path = tmp_path / "d.jsonl"
    lines = ['{"text": "Paris"}', '{"text": "a \\ud800 b"}', '{"text": "x", "id": "\\udc80"}']
    path.write_text("\n".join([*lines, '{"text": "Tokyo"}']) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    run_job(settings_for(path, model_dir, id_field=None), out, progress=False)
    errors = nerlens.corpus.open(out).errors()
    assert list(errors["line"]) == [2]
    assert "lone surrogate \\ud800 at character 2" in errors["message"][0]
    run_job(settings_for(path, model_dir, id_field="id"), tmp_path / "ids", progress=False)
    errors = nerlens.corpus.open(tmp_path / "ids").errors()
    assert list(errors["line"]) == [1, 2, 3, 4]  # no id field but on line 3, where it is bad
    assert "field 'id' holds a lone surrogate \\udc80" in errors["message"][2]


def test_a_csv_field_larger_than_csvs_default_limit_is_read_whole(tmp_path):
    huge = "Paris " * 30_000 + '"quoted"\nand a new line'
    path = tmp_path / "d.csv"
    write_records(path, ["before", huge, "after"])
    assert [r.text for r in read_all(Source(path), 2)] == ["before", huge, "after"]


def test_a_carriage_return_in_an_unquoted_csv_field_is_named(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text\nfirst\nbare\rreturn\nlast\n")
    records = read_all(Source(path), 1)
    assert [(r.line, r.text) for r in records] == [(2, "first"), (3, None), (4, "last")]
    assert records[1].error.startswith("CSV: a carriage return (\\r) inside an unquoted field")


# ---------------------------------------------------------------------- fuzzing the readers
FORMATS = ["d.txt", "d.jsonl", "d.csv", "d.conll", "d.parquet"]
WHITESPACE_FREE = st.characters(codec="utf-8", exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"))
ANY_CHARACTER = st.characters(codec="utf-8", exclude_categories=("Cs",))
STRUCTURE = st.sampled_from(['"', ",", "\n", "\r", "\r\n", "\ufeff", "{", "}", "\\", " ", "\t"])


@st.composite
def corpus_files(draw: st.DrawFn, name: str) -> tuple[list[str], bool, list[bytes | None]]:
    """Records for ``name``'s format: texts with quotes, newlines, BOMs and sometimes one huge
    text, each maybe holding bad bytes; whether the file gets a byte-order mark."""
    if name == "d.conll":
        word = st.text(WHITESPACE_FREE, min_size=1, max_size=6).filter(
            lambda w: w.split() == [w] and not w.startswith("-DOCSTART-") and HOLE not in w
        )
        text = st.lists(word, min_size=1, max_size=4).map(" ".join)
    else:
        pieces = st.lists(st.one_of(st.text(ANY_CHARACTER, max_size=8), STRUCTURE), max_size=6)
        text = pieces.map("".join).filter(lambda t: HOLE not in t)
        if name == "d.txt":  # one line each: no newline, no carriage return at its end
            text = text.map(lambda t: t.replace("\n", " ").rstrip("\r"))
    texts = draw(st.lists(text, min_size=1, max_size=8))
    if name != "d.conll" and draw(st.integers(0, 9)) == 0:  # a huge one, past CSV's limit
        huge = 'Paris, "Tokyo" \n' * 9_000
        texts[draw(st.integers(0, len(texts) - 1))] = (
            huge.replace("\n", " ") if name == "d.txt" else huge
        )
    holes = [draw(st.one_of(st.none(), st.sampled_from(BAD_BYTES))) for _ in texts]
    for k, hole in enumerate(holes):
        if hole is not None:
            cut = draw(st.integers(0, len(texts[k])))
            if name == "d.conll":  # inside a word, never on a space
                cut = next((i for i in range(cut, len(texts[k])) if texts[k][i] != " "), 0)
            texts[k] = texts[k][:cut] + HOLE + texts[k][cut:]
    return texts, draw(st.booleans()), holes


@pytest.mark.parametrize("name", FORMATS)
@FUZZ
@given(data=st.data())
def test_fuzzed_records_come_back_exactly_or_as_errors(name, data):
    texts, bom, holes = data.draw(corpus_files(name))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        if name != "d.parquet" and texts[0].startswith("\ufeff"):
            bom = True  # else the writer's mark and the text's would be one
        write_records(path, texts, bom=bom, holes=holes)
        source = Source(path)
        for shard_size in (1, 3, 100):
            records = read_all(source, shard_size)
            assert [r.index for r in records] == list(range(len(texts)))
            for record, text, hole in zip(records, texts, holes):
                if hole is None:
                    assert (record.error, record.text) == (None, text)
                else:
                    assert record.text is None and record.error.startswith("not UTF-8: ")
                    assert f"0x{hole[0]:02x}" in record.error


@pytest.mark.parametrize("name", FORMATS)
@FUZZ
@given(
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=12),
            st.sampled_from(
                [
                    b'"',
                    b",",
                    b"\n",
                    b"\r",
                    b"\xef\xbb\xbf",
                    b"\xff\xfe",
                    b'{"text": "',
                    b'"}',
                    b" O\n",
                    b"-DOCSTART- O\n",
                    b"text\n",
                    b"\xe9",
                    b"\xed\xa0\x80",
                    b"\x00",
                ]
            ),
        ),
        max_size=30,
    )
)
def test_random_bytes_read_consistently(name, chunks):
    """Whatever the bytes: the file is refused with an InputError for a reason of the whole
    file (never a record's bad bytes), or every shard plan reads the same records, numbered
    0..n-1 from increasing lines, each a storable text that was in the file, or an error."""
    raw = b"".join(chunks)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        if name == "d.parquet":
            cells = [None if c == b"\x00" else c for c in chunks] or [b""]
            pq.write_table(pa.table({"text": pa.array(cells, pa.binary())}), path)
        else:
            path.write_bytes(raw)
        try:
            source = Source(path)
            reads = [read_all(source, size) for size in (1, 2, 5)]
        except InputError as error:
            assert "not UTF-8" not in str(error) or "header" in str(error)
            return
        assert reads[0] == reads[1] == reads[2]
        records = reads[0]
        assert [r.index for r in records] == list(range(len(records)))
        assert all(a.line < b.line for a, b in itertools.pairwise(records))
        for record in records:
            if record.error is not None:
                assert record.text is None
            assert not isinstance(record.text, bytes)
            if isinstance(record.text, str):
                record.text.encode("utf-8")  # storable: no lone surrogate
                assert "\ufffd" not in record.text or "\ufffd".encode() in raw  # nothing repaired
        if name in ("d.txt", "d.jsonl"):  # one record per line, after a UTF-8 mark
            content = raw.removeprefix(b"\xef\xbb\xbf")
            lines = content.count(b"\n") + (not content.endswith(b"\n") and bool(content))
            assert len(records) == lines
        if name == "d.parquet":
            assert len(records) == len(cells)


@settings(FUZZ, max_examples=12)  # each example runs the model
@given(data=st.data())
def test_fuzzed_records_are_explained_or_error_rows(data, explainer):
    """Through the per-document work: each record is a document with its exact text or one
    error row, the counts add up, and every row can be written."""
    texts, bom, holes = data.draw(corpus_files("d.jsonl"))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "d.jsonl"
        write_records(path, texts, bom=bom or texts[0].startswith("\ufeff"), holes=holes)
        records = read_all(Source(path), 100)
        settings = JobSettings(input=str(path), format="jsonl", method="saliency")
        rows = ShardRows()
        for explained in explain_records(explainer, records, settings):
            rows.add(explained)
    assert len(rows.documents) + len(rows.errors) == len(texts)
    documents = {row["record"]: row["text"] for row in rows.documents}
    errors = {row["record"]: row["message"] for row in rows.errors}
    for k, (text, hole) in enumerate(zip(texts, holes)):
        if hole is not None:
            assert errors[k].startswith("not UTF-8")
        elif text.strip() and len(text) < 200:  # blank and too long texts are error rows
            assert documents[k] == text, errors.get(k)
        else:
            assert k in errors
    for name, table in schemas().items():
        pa.Table.from_pylist(getattr(rows, name), schema=table)


# ---------------------------------------------------------------------- one record's exception
@pytest.fixture
def failing_method(monkeypatch, tokenizer):
    """A method that raises ``raised`` on texts holding a token of SENTENCES[2] only."""
    for table in ("_REGISTRY", "_FORMULAS"):  # leave the real registry as it was
        monkeypatch.setattr(methods, table, dict(getattr(methods, table)))
    others = {i for s in SENTENCES[:2] + SENTENCES[3:] for i in tokenizer(s)["input_ids"]}
    poison = next(i for i in tokenizer(SENTENCES[2])["input_ids"] if i not in others)
    saliency = methods.get_method_class("saliency")

    def register(raised: BaseException) -> str:
        class Failing(saliency):
            name = f"fails_with_{type(raised).__name__}"

            def attribute(self, model_input, terms, budget, progress=None):
                if poison in model_input.inputs["input_ids"][0].tolist():
                    raise raised
                return super().attribute(model_input, terms, budget, progress)

        methods.register_method(Failing)
        return Failing.name

    return register


def test_an_exception_in_one_record_is_its_error_row(failing_method, tmp_path, model_dir):
    path = tmp_path / "d.txt"
    path.write_text("\n".join(SENTENCES[1:4]) + "\n", encoding="utf-8")
    method = failing_method(FloatingPointError("numpy says no"))
    settings = settings_for(path, model_dir, method=method, method_options={}, shard_size=5)
    result = run_job(settings, tmp_path / "out", progress=False)
    assert (result.documents, result.errors) == (2, 1)
    corpus = nerlens.corpus.open(tmp_path / "out")
    errors = corpus.errors()
    assert list(errors["line"]) == [2]
    assert list(errors["message"]) == ["FloatingPointError: numpy says no"]
    model, tokenizer = load_model(model_dir)
    direct = Explainer(model, tokenizer, "saliency", progress=False)
    for row in corpus.documents().itertuples():
        scores = np.stack(corpus.targets().query(f"record == {row.record}")["scores"])
        np.testing.assert_array_equal(scores, direct(row.text).attributions)


def test_an_interrupt_stops_the_job_and_writes_nothing(failing_method, tmp_path, model_dir):
    path = tmp_path / "d.txt"
    path.write_text("\n".join(SENTENCES[:4]) + "\n", encoding="utf-8")
    method = failing_method(KeyboardInterrupt())
    settings = settings_for(path, model_dir, method=method, method_options={}, shard_size=2)
    with pytest.raises(KeyboardInterrupt):
        run_job(settings, tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out" / "done").iterdir()) == ["shard-00000.json"]


# ---------------------------------------------------------------------- crash consistency
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="names open files via /proc")
def test_each_file_reaches_the_disk_before_its_rename_and_the_marker_comes_last(
    tmp_path, monkeypatch
):
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recorded_fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recorded_replace(source, target) -> None:
        events.append(("replace", str(source)))
        events.append(("renamed", str(target)))
        replace(source, target)

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(os, "replace", recorded_replace)
    tmp_path = tmp_path.resolve()  # as /proc names the files
    store = Store(tmp_path)
    store.claim({"job": {}}, lambda started: None)
    store.write_shard(0, ShardRows(), time.time(), "cpu", {"torch": torch.__version__})
    position = {event: k for k, event in enumerate(events)}
    names = ["manifest.json", "done/shard-00000.json"]
    names += [f"{table}/shard-00000.parquet" for table in ("documents", "targets", "errors")]
    for name in names:
        final = tmp_path / name
        temporary = next(
            path
            for kind, path in events
            if kind == "replace" and Path(path).name.startswith(f".{final.name}.")
        )
        assert position["fsync", temporary] < position["replace", temporary], name
        assert position["renamed", str(final)] < position["fsync", str(final.parent)], name
    marker = next(path for kind, path in events if kind == "replace" and "/done/" in path)
    for table in ("documents", "targets", "errors"):
        assert position["fsync", str(tmp_path / table)] < position["fsync", marker]


def test_the_lock_is_a_filelock_released_when_its_holder_ends(tmp_path):
    import filelock

    with Store(tmp_path).lock(), pytest.raises(filelock.Timeout):
        filelock.FileLock(tmp_path / ".lock", timeout=0).acquire()
    with filelock.FileLock(tmp_path / ".lock", timeout=0):
        pass


# ---------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def explainer(tiny_model, tokenizer):
    return Explainer(tiny_model, tokenizer, "saliency", progress=False)


def read_all(source: Source, shard_size: int) -> list:
    return [record for span in source.plan(shard_size) for record in source.read(span)]


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def write_records(
    path: Path, texts: list[str], bom: bool = False, holes: list[bytes | None] | None = None
) -> None:
    """``texts`` in ``path``'s format, with a UTF-8 mark if ``bom``; a HOLE in text ``k``
    becomes the bytes ``holes[k]`` (default 0xff)."""
    holes = holes or [None] * len(texts)
    encoded = [
        _record(path.suffix, t).replace(HOLE_BYTES, h or b"\xff") for t, h in zip(texts, holes)
    ]
    if path.suffix == ".parquet":
        pq.write_table(pa.table({"text": pa.array(encoded, pa.binary())}), path)
        return
    header = b"text\r\n" if path.suffix == ".csv" else b""
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + header + b"".join(encoded))


def _record(suffix: str, text: str) -> bytes:
    """One record's bytes in the format of ``suffix``."""
    if suffix == ".txt":
        return (text + "\n").encode()
    if suffix == ".jsonl":
        return (json.dumps({"text": text}, ensure_ascii=False) + "\n").encode()
    if suffix == ".csv":
        stream = io.StringIO()
        csv.writer(stream).writerow([text])
        return stream.getvalue().encode()
    if suffix == ".conll":
        tags = ["B-LOC", "O", "I-LOC", "O"]
        words = text.split(" ")
        return ("".join(f"{w} {tags[k % 4]}\n" for k, w in enumerate(words)) + "\n").encode()
    return text.encode()  # Parquet: the cell's bytes
