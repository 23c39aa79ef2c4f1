"""The command line with a zero-shot span model (GLiNER): its labels and decoding options,
``tag``'s JSON equal to ``predict_entities``, ``explain --span`` for any span × label, and one
line for every option that does not fit the model, while token classifiers keep their paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nerlens import Explainer, Explanation, SpanTarget
from nerlens.cli import app

runner = CliRunner()
TEXT = "Apple hired Emmanuel Macron in Paris last year."
LABELS = ["person", "location", "organization"]
FAST = ["--method", "gradient_x_input"]  # the targets are under test here, not the method


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def explained(tmp_path: Path, gliner_dir: str, *args: str) -> Explanation:
    """``nerlens explain TEXT --model GLINER --labels ... ARGS``, read back from its JSON."""
    out = tmp_path / "out.json"
    code, stdout, stderr = invoke(
        "explain", TEXT, "--model", gliner_dir, "--labels", ",".join(LABELS), *FAST,
        "--json", str(out), *args,
    )  # fmt: skip
    assert code == 0, stdout + stderr
    return Explanation.load(out)


def one_line_error(*args: str) -> str:
    code, stdout, stderr = invoke(*args)
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def gliner_dicts(entities: list[dict]) -> list[tuple]:
    return [(e["start"], e["end"], e["text"], e["label"]) for e in entities]


# ---------------------------------------------------------------------- tag
@pytest.mark.parametrize(
    ("args", "options"),
    [
        ([], {}),
        (["--threshold", "0.51"], {"threshold": 0.51}),
        (["--threshold", "0.3", "--nested"], {"threshold": 0.3, "flat_ner": False}),
        (["--threshold", "0.3", "--multi-label"], {"threshold": 0.3, "multi_label": True}),
    ],
)
def test_tag_json_equals_predict_entities(gliner, gliner_dir, args, options):
    model, _ = gliner
    code, stdout, stderr = invoke(
        "tag", TEXT, "--model", gliner_dir, "--labels", ",".join(LABELS), "--format", "json",
        *args,
    )  # fmt: skip
    assert code == 0, stdout + stderr
    got = json.loads(stdout)
    expected = model.predict_entities(TEXT, LABELS, **options)
    assert expected, "the oracle must predict something for the comparison to mean anything"
    assert [sorted(e) for e in got] == [sorted(e) for e in expected]
    assert gliner_dicts(got) == gliner_dicts(expected)
    np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in expected], atol=1e-5)


def test_tag_table_shows_the_entities(gliner, gliner_dir):
    model, _ = gliner
    code, stdout, _ = invoke("tag", TEXT, "--model", gliner_dir, "--labels", "person,location")
    assert code == 0
    for entity in model.predict_entities(TEXT, ["person", "location"]):
        assert entity["text"] in stdout and entity["label"] in stdout


# ---------------------------------------------------------------------- explain
def test_explain_with_labels_explains_the_entities_gliner_predicts(gliner, tmp_path, gliner_dir):
    model, _ = gliner
    explanation = explained(tmp_path, gliner_dir, "--threshold", "0.51")
    expected = model.predict_entities(TEXT, LABELS, threshold=0.51)
    assert explanation.labels == tuple(LABELS)
    assert explanation.tokens[1:3] == ("<<ENT>>", "person")  # the label prompt comes first
    assert explanation.settings["threshold"] == 0.51
    assert gliner_dicts([e.as_gliner() for e in explanation.entities]) == gliner_dicts(expected)
    assert [t.label for t in explanation.targets] == [e["label"] for e in expected]
    assert all(isinstance(t, SpanTarget) for t in explanation.targets)


def test_span_targets_by_text_offsets_and_contrast(gliner, tmp_path, gliner_dir):
    """Each --span is the library's span_target for the same characters (every occurrence of a
    text), in the order given; LABEL:FOIL is a contrast."""
    model, tokenizer = gliner
    library = Explainer(model, tokenizer, "gradient_x_input", labels=LABELS)
    explanation = explained(
        tmp_path, gliner_dir,
        "--span", "Apple=organization",
        "--span", "Apple=organization:person",
        "--span", "12:27=person",
    )  # fmt: skip
    assert explanation.targets == (
        library.span_target(TEXT, 0, 5, "organization"),
        library.span_target(TEXT, 0, 5, "organization", "person"),
        library.span_target(TEXT, 12, 27, "person"),
    )
    twice = "Paris and Paris."
    out = tmp_path / "twice.json"
    code, stdout, stderr = invoke(
        "explain", twice, "--model", gliner_dir, "--labels", "person,location", *FAST,
        "--span", "Paris=location", "--json", str(out),
    )  # fmt: skip
    assert code == 0, stdout + stderr
    assert Explanation.load(out).targets == tuple(
        library.span_target(twice, start, start + 5, "location", labels=["person", "location"])
        for start in (0, 10)
    )


def test_a_label_may_hold_a_colon_in_a_span(gliner_dir, tmp_path):
    out = tmp_path / "out.json"
    code, stdout, stderr = invoke(
        "explain", TEXT, "--model", gliner_dir, "--labels", "type: person,location", *FAST,
        "--span", "Apple=type: person", "--span", "Apple=type: person:location",
        "--json", str(out),
    )  # fmt: skip
    assert code == 0, stdout + stderr
    targets = Explanation.load(out).targets
    assert [(t.label, t.foil) for t in targets] == [
        ("type: person", None),
        ("type: person", "location"),
    ]


def test_contrast_on_a_span_model_asks_at_each_entity_predicted_label(gliner, tmp_path, gliner_dir):
    model, tokenizer = gliner
    predicted = model.predict_entities(TEXT, LABELS)
    label = predicted[0]["label"]
    foil = next(other for other in LABELS if other != label)
    explanation = explained(tmp_path, gliner_dir, "--contrast", f"{label}:{foil}")
    library = Explainer(model, tokenizer, "gradient_x_input", labels=LABELS)
    assert explanation.targets == tuple(
        library.span_target(TEXT, e["start"], e["end"], label, foil)
        for e in predicted
        if e["label"] == label
    )


def test_entity_explains_the_predicted_span(gliner, tmp_path, gliner_dir):
    model, _ = gliner
    first = model.predict_entities(TEXT, LABELS)[0]
    explanation = explained(tmp_path, gliner_dir, "--entity", first["text"])
    assert [(t.label, t.foil) for t in explanation.targets] == [(first["label"], None)]
    (entity,) = [e for e in explanation.entities if e.token_start == explanation.targets[0].start]
    assert entity.as_gliner()["text"] == first["text"]


def test_no_entity_is_a_note_and_nothing_to_explain(gliner_dir, tmp_path):
    out = tmp_path / "out.json"
    code, _, stderr = invoke(
        "explain", TEXT, "--model", gliner_dir, "--labels", "person", "--threshold", "0.99",
        *FAST, "--json", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert "predicts no entity" in stderr and "--span TEXT=LABEL or lower --threshold" in stderr
    assert Explanation.load(out).targets == ()


# ---------------------------------------------------------------------- one-line errors
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "is a zero-shot model: give the entity types to look for with --labels, e.g."),
        (["--labels", "person,person"], "--labels must be distinct, got ['person', 'person']"),
        (["--labels", "person,"], "--labels must be non-blank entity-type names"),
        (["--labels", "x" * 101], "--labels: a label may have at most 100 characters, got 101"),
        (["--labels", ",".join(f"l{i}" for i in range(65))], "at most 64 --labels may be given"),
        (["--labels", "person", "--threshold", "1.5"], "--threshold must be in [0, 1), got 1.5"),
        (["--labels", "person", "--targets", "tokens"],
         "--targets tokens does not apply to --model GLINER: its targets are entities"),
        (["--labels", "person", "--position", "3"],
         "--position applies to token targets, which --model GLINER does not have"),
        (["--labels", "person", "--ignore-label", "O"], "--ignore-label applies to token targets"),
        (["--labels", "person", "--span", "Apple"], "--span must be START:END=LABEL or TEXT=LABEL"),
        (["--labels", "person", "--span", "Apple="], "--span must be START:END=LABEL or TEXT="),
        (["--labels", "person", "--span", "Google=person"],
         "--span 'Google=person': 'Google' does not occur in the text"),
        (["--labels", "person", "--span", "0:99=person"],
         "--span '0:99=person': START:END must satisfy START < END <= 47"),
        (["--labels", "person", "--span", "App=person"],
         "--span 'App=person': characters 0..3 ('App') are not whole words of the text"),
        (["--labels", "person", "--span", "Apple=company"],
         "--span 'Apple=company': 'company' is neither one of the model's labels (person) nor "
         "LABEL:FOIL"),
        (["--labels", "person", "--span", "Apple=person:person"], "'person:person' is neither"),
        (["--labels", "person", "--span", "Apple hired Emmanuel Macron in=person"],
         "are not a span this model scores: a span must cover whole words of the text, at most"),
        (["--labels", "person", "--contrast", "person:place"],
         "--contrast 'place' is not one of the model's labels: person"),
        (["--labels", "person,location", "--threshold", "0.99", "--contrast", "person:location"],
         "--contrast person:location: no entity is predicted person; name a span with --span"),
        (["--labels", "person", "--span", "Apple=person", "--position", "1"],
         "--span names its span and labels itself"),
    ],
)  # fmt: skip
def test_bad_gliner_options_are_one_line(gliner_dir, args, message):
    line = one_line_error("explain", TEXT, "--model", gliner_dir, *FAST, *args)
    assert message.replace("GLINER", gliner_dir) in line, line


def test_tag_needs_labels_for_gliner(gliner_dir):
    line = one_line_error("tag", TEXT, "--model", gliner_dir)
    assert line == (
        f"error: --model {gliner_dir} is a zero-shot model: give the entity types to look for "
        "with --labels, e.g. --labels person,location,organization"
    )


@pytest.mark.parametrize("command", ["explain", "tag"])
@pytest.mark.parametrize(
    "args", [["--labels", "person"], ["--threshold", "0.3"], ["--nested"], ["--multi-label"]]
)
def test_zero_shot_options_with_a_token_classifier_are_one_line(model_dir, command, args):
    flag = args[0]
    line = one_line_error(command, "We visited Paris.", "--model", model_dir, *args)
    assert line.startswith(
        f"error: {flag} is for zero-shot models such as GLiNER; --model {model_dir} is a "
        "BertForTokenClassification with fixed labels (O, B-"
    ), line
    assert line.endswith(f": leave {flag} out")


def test_span_with_a_token_classifier_is_one_line(model_dir):
    line = one_line_error("explain", "We visited Paris.", "--model", model_dir,
                          "--span", "Paris=B-LOC")  # fmt: skip
    assert line == (
        "error: --span is for models that score spans (such as GLiNER); this one labels tokens: "
        "choose with --position, --entity or --contrast"
    )
