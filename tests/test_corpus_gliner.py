"""Corpus jobs on a GLiNER model (the tiny random one): rows against direct explanations and
``predict_entities``, the labels pinned on resume, one-line refusals, and the queries and
report on span predictions (prompt words, span scores, gold compared span by span)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from seqeval.metrics import classification_report

import nerlens.corpus
from nerlens import Explainer, load_model
from nerlens.cli import app
from nerlens.corpus.evaluation import entity_scores, tag_entities
from nerlens.corpus.readers import Source
from nerlens.corpus.report import write_report
from numerics import assert_close_to_scale
from test_corpus import HELDOUT, SENTENCES, assert_same_tables, runner

LABELS = ["person", "location"]
THRESHOLD = 0.517  # the tiny random model scores every span about 0.5: a few entities per text
# longer than the tiny model's 24 words: explained in windows of its text, the prompt in each
LONG = " ".join(SENTENCES[:5])


def explainer_for(gliner_dir: str, **options) -> Explainer:
    model, tokenizer = load_model(gliner_dir)
    return Explainer(
        model, tokenizer, n_steps=4, long_text="window", progress=False,
        **{"labels": LABELS, "threshold": THRESHOLD, **options},
    )  # fmt: skip


@pytest.fixture(scope="module")
def gliner_job(tmp_path_factory, gliner_dir):
    path = tmp_path_factory.mktemp("gin") / "docs.jsonl"
    texts = [*SENTENCES[:3], LONG, ""]  # the empty text is an error row
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    out = path.parent / "out"
    result = nerlens.corpus.run(
        path, out, model=gliner_dir, labels=LABELS, threshold=THRESHOLD, long_text="window",
        method_options={"n_steps": 4}, shard_size=2, progress=False,
    )  # fmt: skip
    return path, out, result


@pytest.mark.numerics
def test_rows_equal_direct_explanations_and_predict_entities(gliner_job, gliner_dir):
    _, out, result = gliner_job
    assert (result.documents, result.errors) == (4, 1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == LABELS and manifest["job"]["targets"] == "entities"
    assert manifest["job"]["model_options"] == {
        "labels": LABELS, "threshold": THRESHOLD, "flat_ner": True, "multi_label": False,
    }  # fmt: skip
    explainer = explainer_for(gliner_dir)
    corpus = nerlens.corpus.open(out)
    documents, targets, entities = corpus.documents(), corpus.targets(), corpus.entities()
    assert list(documents["windows"][:3]) == [1, 1, 1] and documents["windows"][3] > 1
    for row in documents.itertuples():
        explanation = explainer(row.text)
        assert list(row.tokens) == list(explanation.tokens)
        assert list(row.segments) == list(explanation.segments)
        assert list(row.predicted_labels) == list(explanation.predicted_labels)
        assert pd.isna(row.predicted_tags)  # no gold here, and spans are not tags
        # the stored spans are the entities' (the targets'), with their scores for every label
        spans = [(e.token_start, e.token_end) for e in explanation.entities]
        assert [tuple(u) for u in row.units] == sorted(set(spans), key=explanation.units.index)
        rows = [explanation.units.index(tuple(u)) for u in row.units]
        assert_close_to_scale(
            np.stack(row.label_probabilities), explanation.probabilities[rows], scale=1.0
        )
        # entities are GLiNER's dicts, and predict_entities' where GLiNER sees the whole text
        got = entities[entities["record"] == row.record]
        expected = [e.as_gliner() for e in explanation.entities]
        oracles = [expected]
        if row.windows == 1:
            oracles.append(explainer.model.predict_entities(row.text, LABELS, threshold=THRESHOLD))
        keys = ["start", "end", "text", "label"]
        for oracle in oracles:
            assert got[keys].to_dict("records") == [{k: e[k] for k in keys} for e in oracle]
            assert_close_to_scale(got["score"], [e["score"] for e in oracle], scale=1.0)
        # one span target per entity: its tokens and characters, attributed as directly
        mine = targets[targets["record"] == row.record]
        assert set(mine["kind"]) <= {"span"} and len(mine) == len(explanation)
        assert list(zip(mine["position"], mine["token_end"])) == spans
        assert list(zip(mine["start"], mine["end"])) == [(e["start"], e["end"]) for e in expected]
        assert_close_to_scale(mine["probability"], got["score"], scale=1.0)
        assert_close_to_scale(np.stack(mine["scores"]), explanation.attributions)
        assert_close_to_scale(mine["delta"], explanation.deltas, scale=1.0)
        rebuilt = corpus.explanation(row.record)  # a round trip: exact
        assert rebuilt.targets == explanation.targets
        assert rebuilt.units == tuple(tuple(u) for u in row.units)
        assert rebuilt.segments == explanation.segments
        assert [e.as_gliner() for e in rebuilt.entities] == got[[*keys, "score"]].to_dict("records")
        np.testing.assert_array_equal(
            [rebuilt.target_probability(t) for t in rebuilt.targets], mine["probability"]
        )
        assert rebuilt.settings["threshold"] == THRESHOLD
    # the long document: a target's window is part of its text, the prompt is in every window
    # (it is weighed), and the text tokens outside the window score exactly 0
    long = documents.loc[3]
    windowed = [t for t in targets.itertuples() if t.record == 3]
    text_tokens = sum(segment == "text" for segment in long.segments)
    assert any(t.window_end - t.window_start < text_tokens for t in windowed)
    prompt = [i for i, segment in enumerate(long.segments) if segment == "prompt"]
    for t in windowed:
        for i, score in enumerate(t.scores):
            if long.segments[i] == "text" and not t.window_start <= i < t.window_end:
                assert score == 0.0
        assert any(t.scores[i] != 0 for i in prompt if not long.special[i])


def test_span_scores_hold_every_label_of_the_stored_spans(gliner_job):
    _, out, _ = gliner_job
    corpus = nerlens.corpus.open(out)
    scores = corpus.span_scores()
    documents = corpus.documents().set_index("record")
    for record, document in documents.iterrows():
        mine = scores[scores["record"] == record]
        assert len(mine) == len(document.units) * len(LABELS)
        assert list(mine["label"]) == LABELS * len(document.units)
        np.testing.assert_array_equal(mine["score"], np.concatenate(document.label_probabilities))
        for span in mine.itertuples():
            assert span.text == document.text[span.start : span.end]
    entities = corpus.entities()
    merged = entities.merge(scores, on=["record", "start", "end", "label"])
    np.testing.assert_array_equal(merged["score_x"], merged["score_y"])
    assert len(merged) == len(entities)


def test_resume_keeps_the_labels_and_refuses_others(gliner_job, gliner_dir, tmp_path):
    path, out, _ = gliner_job
    job = tmp_path / "job"
    shutil.copytree(out, job)
    (job / "done" / "shard-00001.json").unlink()
    base = ["batch", str(path), "--out", str(job), "--model", gliner_dir, "--no-progress"]
    base += ["--shard-size", "2", "--n-steps", "4", "--long-text", "window"]
    same = [*base, "--labels", "person,location", "--threshold", str(THRESHOLD)]
    for extra, change in [
        (["--labels", "location,person"], "['person', 'location'] -> ['location', 'person']"),
        (["--labels", "person"], "['person', 'location'] -> ['person']"),
        (["--labels", "person,location"], f"threshold: {THRESHOLD} -> 0.5"),
    ]:
        refused = runner.invoke(app, [*base, *extra])
        assert refused.exit_code == 2 and change in refused.output, refused.output
        assert "job.model_options." in refused.output
    finished = runner.invoke(app, same)
    assert finished.exit_code == 0 and "finished 1 of 3 shards" in finished.output
    assert_same_tables(out, job)  # the resumed shard with the job's labels: the same rows


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--labels must name the entity types to look for"),
        (["--labels", "person,,location"], "labels must be non-blank entity-type names"),
        (["--labels", "person,person"], "labels must be distinct"),
        (["--labels", "person", "--threshold", "1.5"], "threshold must be in [0, 1)"),
        (["--labels", "person", "--targets", "tokens"], "--targets='tokens' is not for"),
    ],
)
def test_a_wrong_or_missing_labels_is_one_line(tmp_path, gliner_dir, extra, message):
    path = tmp_path / "docs.txt"
    path.write_text(SENTENCES[0] + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["batch", str(path), "--out", str(out), "--model", gliner_dir, *extra]
    result = runner.invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert message in result.output
    assert not out.exists()  # refused before any file work


def test_labels_for_a_token_classifier_are_refused(tmp_path, model_dir):
    path = tmp_path / "docs.txt"
    path.write_text(SENTENCES[0] + "\n", encoding="utf-8")
    args = ["batch", str(path), "--out", str(tmp_path / "out"), "--model", model_dir]
    result = runner.invoke(app, [*args, "--labels", "person", "--no-progress"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "labels: not an option of" in result.output


# ---------------------------------------------------------------------- queries and report
def test_top_context_ranks_text_words_and_label_words(gliner_job):
    _, out, _ = gliner_job
    corpus = nerlens.corpus.open(out)
    documents = corpus.documents().set_index("record")
    items = {"text": [], "prompt": []}
    for t in corpus.targets().itertuples():
        document = documents.loc[t.record]
        label = iter(document.labels)
        words: dict[tuple[str, object], float] = {}
        for i, score in enumerate(t.scores):
            segment = document.segments[i]
            if document.special[i]:
                if segment == "prompt" and document.tokens[i] == "<<ENT>>":
                    current = next(label)
                continue
            if segment == "prompt":
                key = ("prompt", current)
            elif t.window_start <= i < t.window_end:
                key = ("text", document.word_ids[i])
            else:
                continue
            words[key] = words.get(key, 0.0) + score
        for (segment, key), score in words.items():
            if segment == "prompt":
                items["prompt"].append((t.label, key, score))
            elif not t.position <= _first_token(document, key) < t.token_end:
                positions = [i for i, w in enumerate(document.word_ids) if w == key]
                first, last = document.offsets[positions[0]][0], document.offsets[positions[-1]][1]
                items["text"].append((t.label, document.text[first:last], score))
    for segment, found in items.items():
        frame = pd.DataFrame(found, columns=["label", "word", "score"])
        stats = frame.groupby(["label", "word"])["score"].agg(["count", "mean", "sum"])
        expected = stats.reset_index().sort_values(
            ["label", "mean", "word"], ascending=[True, False, True]
        )
        got = corpus.top_context("word", top=100, segment=segment)
        assert list(got["word"]) == list(expected["word"]), segment
        np.testing.assert_allclose(got["total"], expected["sum"], rtol=1e-12)
    assert set(corpus.top_context("word", top=100, segment="prompt")["word"]) == set(LABELS)
    tokens = corpus.top_context("token", top=100, segment="prompt")
    assert set(tokens["token"]) == set(LABELS)  # one token per label here
    assert not set(corpus.top_context("token", top=100)["token"]) & {"<<ENT>>", "<<SEP>>"}


def _first_token(document, word: object) -> int:
    return next(i for i, w in enumerate(document.word_ids) if w == word)


@pytest.fixture(scope="module")
def gold_gliner_job(tmp_path_factory, gliner_dir):
    """A CoNLL input, explained by GLiNER prompted with the gold's own type names."""
    path = tmp_path_factory.mktemp("ggold") / "heldout.conll"
    with path.open("w", encoding="utf-8") as stream:
        for line in HELDOUT.read_text(encoding="utf-8").splitlines()[:8]:
            sentence = json.loads(line)
            stream.writelines(f"{w} {t}\n" for w, t in zip(sentence["tokens"], sentence["tags"]))
            stream.write("\n")
    out = path.parent / "out"
    nerlens.corpus.run(
        path, out, model=gliner_dir, labels=["PER", "LOC", "ORG"], threshold=0.5,
        method="saliency", progress=False,
    )  # fmt: skip
    return path, out


def test_gold_is_compared_span_by_span(gold_gliner_job, gliner_dir, tmp_path):
    path, out = gold_gliner_job
    corpus = nerlens.corpus.open(out)
    model, tokenizer = load_model(gliner_dir)
    explainer = Explainer(model, tokenizer, "saliency", labels=["PER", "LOC", "ORG"])
    counts: dict[str, list[int]] = {}  # per type: hits, predicted, gold
    false_positives = 0
    source = Source(path)
    for record in source.read(source.plan(100)[0]):
        gold = {(s.label, s.start, s.end) for s in record.gold.spans}
        predicted = {(e.entity_group, e.start, e.end) for e in explainer(record.text).entities}
        false_positives += len(predicted - gold)
        for label, *_ in gold | predicted:
            counts.setdefault(label, [0, 0, 0])
        for k, found in enumerate((gold & predicted, predicted, gold)):
            for label, *_ in found:
                counts[label][k] += 1
    scores = corpus.gold_scores().set_index("type")
    for label, (hits, predicted, gold) in counts.items():
        assert scores.loc[label, "support"] == gold
        assert scores.loc[label, "precision"] == pytest.approx(hits / predicted if predicted else 0)
        assert scores.loc[label, "recall"] == pytest.approx(hits / gold if gold else 0)
    errors = corpus.gold_errors()
    assert (errors["kind"] == "false positive").sum() == false_positives
    assert all(row.span == corpus.documents().text[row.record][row.start : row.end]
               for row in errors.itertuples())  # fmt: skip
    # the gold spans GLiNER can score are stored: how close it came to each false negative
    documents = corpus.documents()
    stored = corpus.span_scores()
    gold_spans = {
        (record, g["start"], g["end"])
        for record, spans in zip(documents["record"], documents["gold_entities"])
        for g in spans
    }
    assert gold_spans & set(zip(stored["record"], stored["start"], stored["end"]))
    page = write_report(corpus, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "span and type must match" in page and "label words by mean" in page
    assert "<th>labels</th><td>PER, LOC, ORG</td>" in page
    assert "false positives (" in page


def test_gold_targets_are_span_targets_on_the_gold_entities(gold_gliner_job, gliner_dir, tmp_path):
    """--targets gold: each gold entity explained as GLiNER explains an entity, on its words."""
    path, _ = gold_gliner_job
    labels = ["PER", "LOC", "ORG", "MISC"]
    out = tmp_path / "out"
    nerlens.corpus.run(
        path, out, model=gliner_dir, labels=labels, targets="gold", method="saliency",
        progress=False,
    )  # fmt: skip
    corpus = nerlens.corpus.open(out)
    assert corpus.errors().empty
    model, tokenizer = load_model(gliner_dir)
    explainer = Explainer(model, tokenizer, "saliency", labels=labels)
    targets = corpus.targets()
    source = Source(path)
    expected = []
    for record in source.read(source.plan(100)[0]):
        for span in record.gold.spans:
            target = explainer.span_target(record.text, span.start, span.end, span.label)
            expected.append((record.index, target.start, target.end, span.label, span.start))
    assert set(targets["kind"]) == {"span"}
    got = zip(targets["record"], targets["position"], targets["token_end"], targets["label"])
    assert [(*g, s) for g, s in zip(got, targets["start"])] == expected
    assert targets["gold_exact"].all() and (targets["gold_label"] == targets["label"]).all()


def test_entity_scores_are_seqevals():
    """One rule for both kinds of model: on word tags it gives seqeval's report, a type that is
    only predicted and documents without entities included."""
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"], ["B-ORG", "O", "B-LOC", "I-LOC"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-MISC", "O"], ["B-ORG", "O", "B-LOC", "O"]]
    texts = [" ".join(f"w{i}" for i in range(len(tags))) for tags in gold]
    frame = entity_scores(
        (tag_entities(text, g), tag_entities(text, p)) for text, g, p in zip(texts, gold, predicted)
    ).set_index("type")
    expected = classification_report(gold, predicted, output_dict=True, zero_division=0)
    assert list(frame.index) == list(expected)
    for name, values in expected.items():
        assert frame.loc[name, "f1"] == pytest.approx(values["f1-score"])
        assert frame.loc[name, "precision"] == pytest.approx(values["precision"])
        assert frame.loc[name, "recall"] == pytest.approx(values["recall"])
        assert frame.loc[name, "support"] == values["support"]


def test_documents_without_entities(tmp_path, gliner_dir):
    """Nothing above the threshold: no targets, no stored spans, and every query still works."""
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(SENTENCES[:2]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = nerlens.corpus.run(
        path, out, model=gliner_dir, labels=LABELS, threshold=0.99, method="saliency",
        progress=False,
    )  # fmt: skip
    assert (result.documents, result.targets) == (2, 0)
    corpus = nerlens.corpus.open(out)
    assert [list(units) for units in corpus.documents()["units"]] == [[], []]
    explanation = corpus.explanation(0)
    assert explanation.probabilities.shape == (0, 2) and explanation.entities == ()
    assert corpus.entities().empty and corpus.span_scores().empty
    assert corpus.top_context("word", segment="prompt").empty
    assert "label words" in write_report(corpus, tmp_path / "r.html").read_text()
