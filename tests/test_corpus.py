"""Corpus jobs: readers, the tables against direct explanations, resumability after kill -9,
refusals, the errors table, the DuckDB queries against pandas, and the report."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities
from typer.testing import CliRunner

import nerlens.corpus
import nerlens.corpus.store
from nerlens import Explainer, load_model
from nerlens.cli import app
from nerlens.corpus.job import run_job
from nerlens.corpus.readers import Source
from nerlens.corpus.report import write_report
from nerlens.corpus.work import JobSettings
from nerlens.errors import InputError, OptionError
from numerics import assert_close_to_scale, assert_same_up_to_kernels
from tiny_models import long_text, saved, tiny_bert

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[1] / "src")
HELDOUT = Path(__file__).resolve().parents[1] / "training" / "data" / "heldout.jsonl"
SENTENCES = [
    "Angela Merkel met Joe Biden in Berlin.",
    "Apple opened a store in Paris.",
    "The United Nations met in Geneva on Monday.",
    "Rheinmetall won a contract from the Dutch army.",
    "Ursula Brandt spoke for the Federal Cartel Office.",
    "Toyota and Honda reported profits in Tokyo.",
    "The match in Madrid ended in a draw.",
    "Shares of Siemens rose in Frankfurt.",
]


def settings_for(path: Path, model_dir: str, **changes) -> JobSettings:
    options = {"model": model_dir, "shard_size": 3, "method_options": {"n_steps": 4}}
    if "n_steps" in changes:
        options["method_options"] = {"n_steps": changes.pop("n_steps")}
    options.update(changes)
    return JobSettings(input=str(path), format=Source(path).format, **options)


def tables(directory: Path) -> dict[str, pd.DataFrame]:
    corpus = nerlens.corpus.open(directory)
    return {"documents": corpus.documents(), "targets": corpus.targets(), "errors": corpus.errors()}


def edit_json(path: Path, change) -> None:
    """Apply ``change`` to the JSON value in ``path``."""
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def assert_same_tables(left: Path, right: Path, exact: bool = True) -> None:
    """The two output directories hold the same rows (compared in record order): exactly, or
    (``exact=False``, for jobs run with other threads or engines) up to the kernels' last bits."""
    for name, order in (("documents", "record"), ("targets", "record, target_index")):
        first, second = (
            nerlens.corpus.open(d)
            .connection.sql(f"SELECT * FROM {name} ORDER BY {order}")
            .to_arrow_table()
            for d in (left, right)
        )
        assert first.num_rows > 0, name
        if exact:
            assert first.equals(second), name
        else:
            assert_same_up_to_kernels(second.to_pylist(), first.to_pylist(), name)
    assert tables(left)["errors"].equals(tables(right)["errors"])


@pytest.fixture(scope="module")
def jsonl_input(tmp_path_factory):
    """Good documents and every kind of bad record, with ids."""
    path = tmp_path_factory.mktemp("in") / "docs.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(SENTENCES[:4])]
    lines.insert(1, '{"id": "broken", "text": ')  # malformed JSON, line 2
    lines.insert(3, json.dumps({"id": "empty", "text": "  "}))  # line 4
    lines.insert(4, json.dumps({"id": "number", "text": 42}))  # line 5
    lines.append(json.dumps({"id": "long", "text": "word " * 600}))  # line 8
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def jsonl_job(tmp_path_factory, jsonl_input, model_dir):
    out = tmp_path_factory.mktemp("out") / "job"
    settings = settings_for(jsonl_input, model_dir, id_field="id")
    result = run_job(settings, out, progress=False)
    return out, settings, result


# ---------------------------------------------------------------------- readers
def test_readers_give_the_same_records_in_every_format(tmp_path):
    texts = ["first doc", "second, with a comma", 'third "quoted"', "fourth"]
    (tmp_path / "d.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (tmp_path / "d.jsonl").write_text(
        "\n".join(json.dumps({"body": t, "key": i}) for i, t in enumerate(texts)) + "\n"
    )
    pd.DataFrame({"key": range(4), "body": texts}).to_csv(tmp_path / "d.csv", index=False)
    pq.write_table(
        pa.table({"body": texts, "key": [str(i) for i in range(4)]}),
        tmp_path / "d.parquet",
        row_group_size=3,
    )
    for name, fields in [
        ("d.txt", {}),
        ("d.jsonl", {"text_field": "body", "id_field": "key"}),
        ("d.csv", {"text_field": "body", "id_field": "key"}),
        ("d.parquet", {"text_field": "body", "id_field": "key"}),
    ]:
        source = Source(tmp_path / name, **fields)
        for shard_size in (1, 2, 5):
            spans = source.plan(shard_size)
            records = [r for span in spans for r in source.read(span)]
            assert [r.text for r in records] == texts, (name, shard_size)
            assert [r.index for r in records] == [0, 1, 2, 3]
            assert len(spans) == -(-4 // shard_size)
        expected_ids = ["1", "2", "3", "4"] if name == "d.txt" else ["0", "1", "2", "3"]
        assert [r.doc_id for r in records] == expected_ids


def test_csv_multiline_fields_and_bad_rows_keep_their_lines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,id\n"two\nlines",a\nplain,b\nx,y,z\nlast,c\n', encoding="utf-8")
    source = Source(path, id_field="id")
    for shard_size in (1, 3):
        records = [r for span in source.plan(shard_size) for r in source.read(span)]
        assert [(r.line, r.doc_id, r.text) for r in records] == [
            (2, "a", "two\nlines"),
            (4, "b", "plain"),
            (5, "5", None),
            (6, "c", "last"),
        ]
        assert "3 fields but the header has 2" in records[2].error


def test_conll_records_carry_gold_and_their_first_line(tmp_path):
    path = tmp_path / "g.conll"
    path.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n")
    source = Source(path)
    records = [r for span in source.plan(1) for r in source.read(span)]
    assert [(r.line, r.text) for r in records] == [(3, "EU rejects"), (6, "Peter Blackburn")]
    assert [(s.start, s.end, s.label) for s in records[1].gold.spans] == [(0, 15, "PER")]
    path.write_text("EU B-ORG\nlonely\n")
    with pytest.raises(InputError, match="line 2"):
        Source(path).plan(2)


def test_unknown_suffix_and_missing_column_are_refused(tmp_path):
    (tmp_path / "d.xyz").write_text("a\n")
    with pytest.raises(InputError, match="--format"):
        Source(tmp_path / "d.xyz")
    pd.DataFrame({"body": ["a"]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InputError, match=r"\['text'\] not found"):
        Source(tmp_path / "d.csv")


# ---------------------------------------------------------------------- the tables
@pytest.mark.parametrize(
    ("options", "name", "message"),
    [
        ({"shard_size": 0}, "shard_size", "shard_size must be a positive int, got 0"),
        ({"targets": "words"}, "targets", "targets must be one of ['tokens', 'entities', 'gold']"),
        ({"targets": "gold"}, "targets", "targets='gold' needs gold labels"),
        ({"stride": 16}, "stride", "stride=16 only applies with long_text='window'"),
        ({"long_text": "window", "context": 8}, "context", "context must be an int >= 16 or None"),
        ({"method_options": {"n_steps": 0}}, "n_steps", "n_steps must be a positive int or 'auto'"),
        ({"engine": "ray", "threads": 2}, "threads", "threads applies to the local engine"),
        ({"actors": 2}, "actors", "actors=2 only applies with engine='ray'"),
    ],
)
def test_run_refuses_a_bad_option_by_its_name_before_any_model_or_file_work(
    tmp_path, jsonl_input, options, name, message
):
    """nerlens.corpus.run checks every option through its declaration and names it as the
    library does (the CLI spells the same error with its flags), before loading the model."""
    out = tmp_path / "out"
    with pytest.raises(OptionError, match=re.escape(message)) as error:
        nerlens.corpus.run(jsonl_input, out, model=str(tmp_path / "no-model"), **options)
    assert error.value.option == name and "--" not in str(error.value)
    assert not out.exists()


def test_run_refuses_an_unknown_option(tmp_path, jsonl_input):
    with pytest.raises(InputError, match=r"takes no option\(s\) \['n_step'\]; its options"):
        nerlens.corpus.run(jsonl_input, tmp_path / "out", n_step=4)


@pytest.mark.numerics
def test_rows_equal_direct_explanations(jsonl_job, model_dir):
    out, _, result = jsonl_job
    model, tokenizer = load_model(model_dir)
    explainer = Explainer(model, tokenizer, n_steps=4, progress=False)
    got = tables(out)
    assert list(got["documents"]["doc_id"]) == ["d0", "d1", "d2", "d3"]
    assert result.documents == 4 and result.errors == 4
    for row in got["documents"].itertuples():
        explanation = explainer(row.text)
        assert list(row.tokens) == list(explanation.tokens)
        assert list(row.predicted_labels) == list(explanation.predicted_labels)
        # the job packs and spreads records over workers as a direct call does not
        probabilities = np.stack(row.label_probabilities)
        assert_close_to_scale(probabilities, explanation.probabilities, scale=1.0)
        targets = got["targets"][got["targets"]["record"] == row.record]
        assert list(targets["target_index"]) == list(range(len(explanation)))
        assert_close_to_scale(np.stack(targets["scores"]), explanation.attributions)
        assert_close_to_scale(targets["delta"], explanation.deltas, scale=1.0)
        assert list(targets["label"]) == [t.label for t in explanation.targets]
        # character spans index the text; the Explanation rebuilt from the tables is the same
        for t in targets.itertuples():
            assert row.text[t.start : t.end] == explanation.surface(t.position)
        rebuilt = nerlens.corpus.open(out).explanation(row.record)  # a round trip: exact
        np.testing.assert_array_equal(rebuilt.attributions, np.stack(targets["scores"]))
        assert rebuilt.targets == explanation.targets
        assert rebuilt.entities == explanation.entities


def test_bad_records_go_to_the_errors_table(jsonl_job):
    out, _, _ = jsonl_job
    errors = tables(out)["errors"]
    assert list(errors["line"]) == [2, 4, 5, 8]
    assert list(errors["doc_id"]) == ["2", "empty", "number", "long"]
    messages = list(errors["message"])
    assert messages[0].startswith("malformed JSON")
    assert "non-whitespace" in messages[1]
    assert "must be a str, got int" in messages[2]
    assert "--long-text window" in messages[3]


def test_finished_job_does_nothing_and_changes_are_refused(jsonl_job, jsonl_input, tmp_path):
    out, settings, _ = jsonl_job
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = run_job(settings, out, progress=False)
    assert again.nothing_to_do and again.documents == 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    base = ["batch", str(jsonl_input), "--out", str(out), "--model", settings.model]
    base += ["--id-field", "id", "--shard-size", "3"]
    same = runner.invoke(app, [*base, "--n-steps", "4", "--no-progress"])
    assert same.exit_code == 0 and "nothing to do" in same.output
    changed = runner.invoke(app, [*base, "--n-steps", "5"])
    assert changed.exit_code == 2
    assert "job.method_options.n_steps: 4 -> 5" in changed.output
    other = tmp_path / "docs.jsonl"
    other.write_text(jsonl_input.read_text() + '{"id": "x", "text": "more"}\n')
    moved = runner.invoke(app, ["batch", str(other), *base[2:], "--n-steps", "4"])
    assert moved.exit_code == 2 and "the input file's bytes changed" in moved.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_other_versions_are_named_and_patch_levels_accepted_on_request(jsonl_job, tmp_path):
    out, settings, _ = jsonl_job
    installed = json.loads((out / "manifest.json").read_text())["versions"]["torch"]
    major, minor, patch = installed.split("+")[0].split(".")[:3]
    older_patch = f"{major}.{minor}.{int(patch) + 7}"
    job = tmp_path / "job"
    shutil.copytree(out, job)
    (job / "done" / "shard-00001.json").unlink()  # unfinished
    edit_json(job / "manifest.json", lambda m: m["versions"].update(torch=older_patch))
    edit_json(job / "done" / "shard-00000.json", lambda m: m["versions"].update(torch=older_patch))
    base = ["batch", settings.input, "--out", str(job), "--model", settings.model, "--no-progress"]
    base += ["--id-field", "id", "--shard-size", "3", "--n-steps", "4"]
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2
    assert f"versions.torch: '{older_patch}' -> '{installed}'" in refused.output
    assert "--allow-version-change" in refused.output and "same settings" not in refused.output
    accepted = runner.invoke(app, [*base, "--allow-version-change"])
    assert accepted.exit_code == 0 and "finished 1 of 3 shards" in accepted.output
    marker = json.loads((job / "done" / "shard-00001.json").read_text())
    assert marker["versions"]["torch"] == installed
    versions = nerlens.corpus.open(job).versions().set_index("torch")["shards"]
    assert versions.to_dict() == {older_patch: 1, installed: 2}
    page = write_report(nerlens.corpus.open(job), tmp_path / "report.html").read_text()
    assert f"torch {older_patch}" in page and "(1 shards)" in page

    (job / "done" / "shard-00001.json").unlink()
    other_series = f"{major}.{int(minor) + 1}.0"
    edit_json(job / "manifest.json", lambda m: m["versions"].update(torch=other_series))
    moved = runner.invoke(app, [*base, "--allow-version-change"])
    assert moved.exit_code == 2
    assert f"versions.torch: '{other_series}' -> '{installed}'" in moved.output
    assert f"with torch {major}.{int(minor) + 1}.* installed" in moved.output


def test_kill_9_at_random_points_then_rerun_equals_an_uninterrupted_run(tmp_path, model_dir):
    """Three kills at random points (after a random number of new shards, plus a random few
    milliseconds: mid-shard, mid-write, between writes), each followed by a rerun; the last
    rerun finishes. Only finished shards are ever read, and the end equals one uninterrupted
    run exactly (the same calls on the same machine)."""
    path = tmp_path / "docs.txt"  # 20 shards: the kills come long before the end
    path.write_text("\n".join(SENTENCES * 5) + "\n", encoding="utf-8")
    reference = tmp_path / "reference"  # run as the killed job is: one thread, so exact
    run_job(settings_for(path, model_dir, shard_size=2), reference, threads=1, progress=False)

    out = tmp_path / "killed"
    command = [sys.executable, "-c", "from nerlens.cli import main; main()", "batch", str(path)]
    command += ["--out", str(out), "--model", model_dir, "--n-steps", "4", "--shard-size", "2"]
    command += ["--threads", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    chance = random.Random(20)
    finished = 0
    for _ in range(3):
        target = finished + chance.randint(1, 3)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(list(out.glob("done/*.json"))) < target and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(chance.uniform(0, 0.05))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        finished = len(list(out.glob("done/*.json")))
        assert finished < 20, "the kill came after the job finished; nothing was tested"
        partial = nerlens.corpus.open(out).overview()["documents"][0]
        assert partial == 2 * finished  # only finished shards are read

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert f"{finished} were already done" in resumed.stderr and resumed.stdout == ""
    assert not list(out.rglob("*.tmp"))  # no temporary files left
    assert_same_tables(reference, out)


def test_unfinished_shards_are_redone_and_leftovers_removed(jsonl_job, jsonl_input, tmp_path):
    out, settings, _ = jsonl_job
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    (copy / "done" / "shard-00001.json").unlink()  # as if killed before the marker was renamed
    (copy / "targets" / ".shard-00002.parquet.1.tmp").write_bytes(b"half a file")
    result = run_job(settings, copy, progress=False)
    assert (result.ran, result.already_done) == (1, 2)
    assert not (copy / "targets" / ".shard-00002.parquet.1.tmp").exists()
    assert_same_tables(out, copy)


def test_bad_options_exit_2_with_one_line(tmp_path, jsonl_input, model_dir):
    cases = [
        (["--targets", "gold"], "needs gold labels"),
        (["--method", "nope"], "--method 'nope' is not a registered method"),
        (["--long-text", "cut"], "--long-text must be"),
        (["--text-field", "body"], "no field 'body'"),
        (["--threads", "0"], "--threads must be a positive int, got 0"),
        (["--engine", "ray", "--threads", "1"], "--threads applies to the local engine"),
        (["--shard-size", "0"], "--shard-size must be a positive int, got 0"),
        (["--engine", "spark"], "--engine must be one of ['local', 'ray'], got 'spark'"),
        (["--actors", "2"], "--actors=2 only applies with --engine='ray'"),
    ]
    for extra, message in cases:
        out = tmp_path / extra[1]
        args = ["batch", str(jsonl_input), "--out", str(out), "--model", model_dir, *extra]
        result = runner.invoke(app, [*args, "--no-progress", "--n-steps", "4"])
        if extra[0] == "--text-field":  # every record lacks the field: all go to errors
            assert result.exit_code == 0
            messages = nerlens.corpus.open(out).errors()["message"]
            assert messages.str.contains(message).sum() == 7  # and the malformed line
            continue
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and message in result.output


@pytest.mark.numerics
def test_one_thread_writes_the_same_rows(jsonl_job, jsonl_input, model_dir, tmp_path):
    """--threads 1 explains one record at a time in the calling thread: the same tables, up to
    the kernels' last bits (the default spreads records over workers)."""
    out, settings, _ = jsonl_job
    run_job(settings, tmp_path / "one", threads=1, progress=False)
    assert_same_tables(out, tmp_path / "one", exact=False)


# ---------------------------------------------------------------------- queries and report
@pytest.fixture(scope="module")
def gold_job(tmp_path_factory, model_dir):
    path = tmp_path_factory.mktemp("gold") / "heldout.conll"
    with path.open("w", encoding="utf-8") as stream:
        for line in HELDOUT.read_text(encoding="utf-8").splitlines()[:6]:
            sentence = json.loads(line)
            stream.writelines(f"{w} {t}\n" for w, t in zip(sentence["tokens"], sentence["tags"]))
            stream.write("\n")
    out = path.parent / "out"
    run_job(settings_for(path, "demo", targets="entities", n_steps=8), out, progress=False)
    return path, out


def test_top_context_matches_pandas(jsonl_job):
    out, _, _ = jsonl_job
    corpus = nerlens.corpus.open(out)
    documents = corpus.documents().set_index("record")
    items = {"token": [], "word": []}
    for t in corpus.targets().itertuples():
        document = documents.loc[t.record]
        own = range(t.position, t.token_end)
        words: dict[int, list[int]] = {}
        for i, score in enumerate(t.scores):
            if document.special[i]:
                continue
            if i not in own:
                items["token"].append((t.label, document.tokens[i], score))
            words.setdefault(document.word_ids[i], []).append(i)
        for positions in words.values():
            if not set(positions) & set(own):
                first, last = document.offsets[positions[0]][0], document.offsets[positions[-1]][1]
                word_score = sum(t.scores[i] for i in positions)
                items["word"].append((t.label, document.text[first:last], word_score))
    for unit in ("token", "word"):
        frame = pd.DataFrame(items[unit], columns=["label", unit, "score"])
        stats = frame.groupby(["label", unit])["score"].agg(["count", "mean", "sum"])
        for order, column in (("mean", "mean"), ("total", "sum")):
            got = corpus.top_context(unit, top=3, order=order, min_count=2)
            kept = stats[stats["count"] >= 2].reset_index()
            kept = kept.sort_values(["label", column, unit], ascending=[True, False, True])
            expected = kept.groupby("label").head(3)
            assert list(got[unit]) == list(expected[unit])
            np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-12)
            np.testing.assert_allclose(got["total"], expected["sum"], rtol=1e-12)
            assert list(got["count"]) == list(expected["count"])


def test_gold_scores_and_errors_match_seqeval(gold_job):
    path, out = gold_job
    corpus = nerlens.corpus.open(out)
    unconverged = (corpus.targets()["delta"].abs() > 0.01).sum()  # demo model, 8 steps
    assert unconverged > 0 and corpus.overview()["unconverged_targets"][0] == unconverged
    model, tokenizer = load_model("demo")
    explainer = Explainer(model, tokenizer, n_steps=8, progress=False)
    gold_tags, predicted_tags = [], []
    for record in Source(path).read(Source(path).plan(100)[0]):
        explanation = explainer(record.text, "entities")
        tags, start = [], 0
        for word in record.gold.words:  # the label of each word's first token
            first = [
                i
                for i, (a, _) in enumerate(explanation.offsets)
                if a == start and not explanation.special[i]
            ]
            tags.append(explanation.predicted_labels[first[0]])
            start += len(word) + 1
        gold_tags.append(list(record.gold.tags))
        predicted_tags.append(tags)
    expected = classification_report(gold_tags, predicted_tags, output_dict=True)
    scores = corpus.gold_scores().set_index("type")
    for name, values in expected.items():
        assert scores.loc[name, "f1"] == pytest.approx(values["f1-score"])
        assert scores.loc[name, "support"] == values["support"]
    errors = corpus.gold_errors()
    expected_fp = sum(
        len(set(get_entities(p)) - set(get_entities(g))) for g, p in zip(gold_tags, predicted_tags)
    )
    assert (errors["kind"] == "false positive").sum() == expected_fp
    assert len(errors) > 0


def test_gold_targets_explain_each_gold_entity(gold_job, model_dir, tmp_path):
    path, _ = gold_job
    run_job(settings_for(path, model_dir, targets="gold"), tmp_path / "out", progress=False)
    corpus = nerlens.corpus.open(tmp_path / "out")
    targets = corpus.targets()
    gold = corpus.sql(
        "SELECT record, g.start, g.end, g.label FROM "
        "(SELECT record, UNNEST(gold_entities) AS g FROM documents) ORDER BY record, g.start"
    )
    assert list(zip(targets["record"], targets["start"], targets["end"], targets["label"])) == list(
        gold.itertuples(index=False, name=None)
    )
    assert targets["gold_exact"].all() and (targets["gold_label"] == targets["label"]).all()


def test_report_html_has_overview_context_and_gold(gold_job, tmp_path):
    _, out = gold_job
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    corpus = nerlens.corpus.open(out)
    assert f"<th>documents</th><td>{len(corpus.documents())}</td>" in text
    for label in set(corpus.targets()["label"]):
        assert f"<h3>{label}</h3>" in text
    assert "false positives (" in text and "false negatives (" in text
    first = corpus.gold_errors().iloc[0]
    assert f"<b>{first['span']}</b>" in text
    assert "Attribution Score" in text  # the explanation is shown inline
    view = tmp_path / "report_documents" / f"record-{first['record']}.html"
    assert f"href='report_documents/{view.name}'" in text and view.exists()
    missing = runner.invoke(app, ["report", str(tmp_path), "--html", str(page)])
    assert missing.exit_code == 2 and "no manifest.json" in missing.output


def test_the_report_writes_its_views_anew(gold_job, tmp_path):
    _, out = gold_job
    corpus = nerlens.corpus.open(out)
    page = tmp_path / "report.html"
    views = tmp_path / "report_documents"
    views.mkdir()
    first = corpus.gold_errors()["record"].iloc[0]
    (views / f"record-{first}.html").write_text("a view of another job")
    (views / "record-99999.html").write_text("a record this job does not list")
    write_report(corpus, page)
    assert "another job" not in (views / f"record-{first}.html").read_text()
    assert not (views / "record-99999.html").exists()


def test_a_killed_claim_and_a_running_job_are_handled(jsonl_job, tmp_path):
    out, settings, _ = jsonl_job
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".manifest.json.123.tmp").write_text("{")  # killed while writing the manifest
    assert run_job(settings, fresh, progress=False).documents == 4
    with nerlens.corpus.store.Store(out).lock(), pytest.raises(InputError, match="another"):
        run_job(settings, out, progress=False)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(InputError, match="holds no documents"):
        run_job(
            settings_for(tmp_path / "empty.txt", settings.model), tmp_path / "e", progress=False
        )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and has no manifest"):
        run_job(settings, tmp_path / "other", progress=False)


def test_long_documents_in_windows(tmp_path, tokenizer):
    model_dir = saved(tiny_bert(tokenizer, max_position_embeddings=32), tokenizer, tmp_path)
    path = tmp_path / "long.txt"
    path.write_text(" ".join(SENTENCES[:6]) + "\n" + SENTENCES[0] + "\n", encoding="utf-8")
    settings = settings_for(path, model_dir, long_text="window")
    run_job(settings, tmp_path / "out", progress=False)
    corpus = nerlens.corpus.open(tmp_path / "out")
    model, loaded_tokenizer = load_model(model_dir)
    explainer = Explainer(model, loaded_tokenizer, n_steps=4, long_text="window", progress=False)
    documents = corpus.documents()
    assert list(documents["windows"]) == [explainer(t).settings["windows"] for t in documents.text]
    assert documents["windows"][0] > 1 and documents["windows"][1] == 1
    rebuilt = corpus.explanation(0)
    assert_close_to_scale(rebuilt.attributions, explainer(documents.text[0]).attributions)
    # each target's window: its own tokens inside, every text token outside never weighed (0)
    for t in corpus.targets().itertuples():
        document = documents.loc[t.record]
        assert t.window_start <= t.position < t.token_end <= t.window_end
        if document.windows == 1:
            assert (t.window_start, t.window_end) == (0, len(document.tokens))
        else:
            assert t.window_end - t.window_start <= 32 - 2  # [CLS] and [SEP] in every window
        outside = [
            score
            for i, score in enumerate(t.scores)
            if not t.window_start <= i < t.window_end and not document.special[i]
        ]
        assert outside == [0.0] * len(outside)


def test_a_zero_inside_a_window_is_context(tmp_path, tokenizer):
    """A genuine 0 inside a windowed target's window counts; the 0s outside do not."""
    test_long_documents_in_windows(tmp_path, tokenizer)
    out = tmp_path / "out"
    documents = nerlens.corpus.open(out).documents()
    targets = nerlens.corpus.open(out).targets()
    row = next(t for t in targets.itertuples() if documents.windows[t.record] > 1)
    special = documents.special[row.record]
    zero = next(
        i
        for i in range(row.window_start, row.window_end)
        if not special[i] and not row.position <= i < row.token_end and row.scores[i] != 0
    )
    shard = out / "targets" / "shard-00000.parquet"
    table = pq.read_table(shard).to_pandas()
    at = table.index[(table.record == row.record) & (table.target_index == row.target_index)][0]
    table.at[at, "scores"] = [0.0 if i == zero else s for i, s in enumerate(row.scores)]
    schema = nerlens.corpus.store.schemas()["targets"]
    pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False), shard)
    corpus = nerlens.corpus.open(out)
    token = documents.tokens[row.record][zero]
    expected = sum(
        1
        for t in corpus.targets().itertuples()
        if t.label == row.label
        for i in range(t.window_start, t.window_end)
        if documents.tokens[t.record][i] == token
        and not documents.special[t.record][i]
        and not t.position <= i < t.token_end
    )
    got = corpus.top_context("token", top=10_000, order="total")
    assert list(got[(got.label == row.label) & (got.token == token)]["count"]) == [expected]


def test_progress_bar_shows_rate_and_eta():
    import io

    from rich.console import Console

    from nerlens.progress import ProgressBar

    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    with ProgressBar(10, "docs", console=console) as advance:
        advance(4)
    shown = stream.getvalue()
    assert "4/10" in shown and "docs/s" in shown and "ETA" in shown


def test_a_job_counts_documents_on_the_bar_that_counts_targets(tmp_path, model_dir, monkeypatch):
    import nerlens.progress

    bars = []

    class Recorder:
        """Stands in for the one rich bar: records its unit, total and every advance."""

        def __init__(self, total: int, unit: str, *, transient: bool = False) -> None:
            self.total, self.unit, self.transient, self.advances = total, unit, transient, []
            bars.append(self)

        def __enter__(self):
            return self.advances.append

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(nerlens.progress, "ProgressBar", Recorder)
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(SENTENCES[:4]) + "\n", encoding="utf-8")
    run_job(settings_for(path, model_dir), tmp_path / "out", progress=True)
    (bar,) = bars
    assert (bar.unit, bar.total, sum(bar.advances), bar.transient) == ("docs", 4, 4, False)


def drawn_on(stream, monkeypatch) -> list[tuple[str, bool]]:
    """Draw every progress bar on ``stream`` (as a terminal); return each bar started (a live
    display of its own) as ``(unit, transient)``."""
    from rich.console import Console

    import nerlens.progress

    console = Console(file=stream, force_terminal=True, color_system=None, width=160)
    started = []

    class OnStream(nerlens.progress.ProgressBar):
        def __init__(self, total: int, unit: str, *, transient: bool = False) -> None:
            super().__init__(total, unit, transient=transient, console=console)
            started.append((unit, transient))

    monkeypatch.setattr(nerlens.progress, "ProgressBar", OnStream)
    return started


def test_a_long_document_shows_its_targets_on_the_jobs_bar(tmp_path, tokenizer, monkeypatch):
    import io

    import nerlens.progress

    stream = io.StringIO()
    started = drawn_on(stream, monkeypatch)
    model_dir = saved(tiny_bert(tokenizer, max_position_embeddings=128), tokenizer, tmp_path)
    path = tmp_path / "long.txt"
    text = long_text(20)
    assert len(tokenizer(text)["input_ids"]) >= 256  # the library's rule for showing a bar
    path.write_text(text + "\n", encoding="utf-8")
    run_job(settings_for(path, model_dir, long_text="window"), tmp_path / "out", progress=True)
    targets = len(nerlens.corpus.open(tmp_path / "out").targets())
    shown = stream.getvalue()
    assert started == [("docs", False)]  # one live display: targets are a line on the job's
    assert re.search(rf"explaining .* \d+/{targets} targets .* targets/s", shown)
    assert re.search(r"explaining .* 1/1 docs", shown)
    assert nerlens.progress._live is None  # the job's bar is gone with the job
    stream.truncate(0)
    model, loaded = load_model(model_dir)
    Explainer(model, loaded, n_steps=4, long_text="window")(text)  # alone: a bar of its own
    assert started == [("docs", False), ("targets", True)]
    assert re.search(rf"explaining .* \d+/{targets} targets", stream.getvalue())
