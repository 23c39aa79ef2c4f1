"""The interactive HTML view: compact data embedded once, exact enough to trust, safe to embed."""

from __future__ import annotations

import html
import json
import re
import warnings

import numpy as np
import pytest

from conftest import SEED_TEXT
from nerlens import Explainer, Explanation, TokenTarget
from nerlens.errors import ConvergenceWarning
from nerlens.render.interactive import (
    SCALE,
    colour,
    render_interactive,
    script_json,
    view_payload,
)
from nerlens.render.plot import bar_chart
from nerlens.render.terminal import render_terminal
from views_data import (
    gliner_explanation,
    label_unit_scores,
    long_explanation,
    windowed_token_explanation,
)

HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> \"q\" 's' & AT&T in Paris"


@pytest.fixture(scope="module")
def explanation(tokenizer, tiny_model):
    return Explainer(tiny_model, tokenizer, n_steps=4)(SEED_TEXT)


def unpacked(packed: list[int], length: int) -> np.ndarray:
    """A stored row back to full length: ``[first, values...]`` as the page's script reads it."""
    row = np.zeros(length, dtype=np.int64)
    row[packed[0] : packed[0] + len(packed) - 1] = packed[1:]
    return row


def embedded(page: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    return [json.loads(block) for block in blocks]


def test_scores_are_stored_compactly_and_recover_normalised_and_raw_scores(explanation):
    level = view_payload(explanation)["levels"]["subword"]
    stored = np.array([unpacked(row, len(explanation.tokens)) for row in level["scores"]])
    assert stored.dtype.kind == "i" and np.abs(stored).max() <= SCALE
    np.testing.assert_allclose(stored / SCALE, explanation.scores, atol=0.5 / SCALE)
    norms = np.array([t["norm"] for t in level["targets"]])
    np.testing.assert_allclose(norms, np.linalg.norm(explanation.attributions, axis=1), rtol=1e-5)
    raw = stored / SCALE * norms[:, None]
    np.testing.assert_allclose(raw, explanation.attributions, atol=0.5 / SCALE * norms.max())


def test_payload_describes_predictions_entities_and_targets(explanation):
    level = view_payload(explanation)["levels"]["subword"]
    assert level["labels"] == list(explanation.predicted_labels)
    assert level["offsets"] == [list(o) for o in explanation.offsets]
    for stored, row in zip(level["targets"], explanation):
        assert stored["position"] == row.target.position and stored["label"] == row.target.label
        assert stored["p"] == pytest.approx(row.probability, abs=1e-4)
        assert stored["delta"] == pytest.approx(row.delta, rel=1e-2)


def test_data_is_embedded_once_and_the_text_only_there(explanation):
    page = render_interactive(explanation, full_page=True).data
    (data,) = embedded(page)
    assert data["text"] == SEED_TEXT
    assert page.count("Emmanuel Macron") == 1
    assert "data-token-index" not in page.split("<script>")[0]  # tokens are built by the script


def test_markup_in_the_text_cannot_close_the_data_block(tokenizer, tiny_model):
    hostile = Explainer(tiny_model, tokenizer, n_steps=2)(HOSTILE, [TokenTarget(1, "O")])
    page = render_interactive(hostile, full_page=True).data
    assert "<img" not in page and "alert(1)</script>" not in page
    assert embedded(page)[0]["text"] == HOSTILE
    assert json.loads(script_json({"t": "</script>&<!--"})) == {"t": "</script>&<!--"}


def test_every_rendering_has_its_own_ids(explanation):
    first, second = render_interactive(explanation).data, render_interactive(explanation).data
    ids = set(re.findall(r'id="(nerlens-[0-9a-f]+)"', first))
    assert ids and ids.isdisjoint(re.findall(r'id="(nerlens-[0-9a-f]+)"', second))
    assert explanation._repr_html_().count('class="nerlens"') == 1


def test_page_loads_nothing_from_the_network(explanation, tmp_path):
    page = explanation.save_html(tmp_path / "view.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://|\bsrc=|@import|url\(", page)


def test_a_2000_token_document_with_150_entity_targets_fits_10_mb(explanation):
    """The size budget, on an Explanation of the real shape (a long windowed document)."""
    long = long_explanation(explanation.labels)
    assert len(long.tokens) == 2000 and len(long) == 150
    size = len(render_interactive(long, full_page=True).data.encode("utf-8"))
    assert size <= 10 * 1024 * 1024, f"{size / 1e6:.1f} MB"


def test_a_2000_token_document_with_a_target_per_token_fits_10_mb(explanation):
    long = windowed_token_explanation(explanation.labels)
    assert len(long) == 1998
    size = len(render_interactive(long, full_page=True).data.encode("utf-8"))
    assert size <= 10 * 1024 * 1024, f"{size / 1e6:.1f} MB"


def test_word_level_is_the_explanations_word_aggregation(explanation):
    payload = view_payload(explanation)
    words = explanation.aggregate("word")
    level = payload["levels"]["word"]
    assert level["offsets"] == [list(o) for o in words.offsets]
    stored = np.array([unpacked(row, len(words.tokens)) for row in level["scores"]])
    np.testing.assert_allclose(stored / SCALE, words.scores, atol=0.5 / SCALE)
    assert [e[2] for e in level["entities"]] == [e.entity_group for e in words.entities]
    assert list(view_payload(words)["levels"]) == ["subword"]  # already aggregated: one level


def test_show_outside_a_notebook_opens_a_standalone_page(explanation, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    path = explanation.show()
    try:
        assert opened == [path.resolve().as_uri()]
        assert embedded(path.read_text(encoding="utf-8"))[0]["text"] == SEED_TEXT
    finally:
        path.unlink()


def test_methods_without_a_convergence_delta_render(explanation):
    """Perturbation methods leave deltas NaN: every view says n/a instead of failing."""
    data = explanation.to_dict() | {"deltas": [None] * len(explanation)}
    no_deltas = Explanation.from_dict(data)
    (payload,) = embedded(render_interactive(no_deltas).data)
    assert {t["delta"] for t in payload["levels"]["subword"]["targets"]} == {None}
    assert "\tn/a\t" in render_terminal(no_deltas).plain()
    assert bar_chart(no_deltas).axes[0].get_title().endswith("Δ = n/a")


# ---------------------------------------------------------------------- words, gold, static view
PIECES_TEXT = "Emmanuel Macron met Angela Merkel in Magdeburg."


@pytest.fixture(scope="module")
def judged(demo):
    model, tokenizer = demo
    gold = [(0, 15, "PER"), (37, 46, "ORG")]  # Magdeburg is gold ORG; the model says LOC
    with warnings.catch_warnings():  # few steps: unconverged, which the views do not mind
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Explainer(model, tokenizer, n_steps=4)(PIECES_TEXT, "entities", gold=gold)


def without_scripts(page: str) -> str:
    """What a viewer that runs no JavaScript shows (GitHub, nbviewer, an untrusted notebook
    drop scripts; GitHub drops <style> blocks too)."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)


def test_the_view_opens_on_words_and_names_targets_as_written(judged):
    payload = view_payload(judged)
    assert payload["level"] == "word"
    assert [t["text"] for t in payload["levels"]["word"]["targets"]] == [
        "Emmanuel Macron → PER", "Angela Merkel → PER", "Magdeburg → LOC"
    ]  # fmt: skip
    assert [t["text"] for t in payload["levels"]["subword"]["targets"]] == [
        "emmanuel macro ##n → PER", "angela mer ##kel → PER", "mag ##de ##burg → LOC"
    ]  # fmt: skip
    assert payload["levels"]["word"]["names"][1:3] == ["Emmanuel", "Macron"]


def test_the_payload_carries_gold_verdicts_and_missed_and_spurious_entities(judged):
    payload = view_payload(judged)
    assert [t["correct"] for t in payload["levels"]["word"]["targets"]] == [True, False, False]
    assert payload["gold"] == {"missed": [[37, 46, "ORG"]], "spurious": [1, 2]}
    assert view_payload(judged.aggregate("entity"))["gold"]["missed"] == [[37, 46, "ORG"]]


def test_without_javascript_the_default_target_is_shown_statically(judged):
    """The notebook output and the saved page carry the sentence coloured by the default target
    (the first entity), its entity chips and its top tokens, with inline styles only."""
    page = without_scripts(judged._repr_html_())
    assert "needs JavaScript" not in page
    words = judged.aggregate("word")
    scores = np.rint(words.scores[0] * SCALE) / SCALE
    spans = re.findall(r"<span data-static-index='(\d+)'[^>]*background-color:(rgb\([^)]*\))[^>]*>"
                       r"([^<]*)</span>", page)  # fmt: skip
    assert [text for _, _, text in spans] == list(words.tokens)  # every word, as written
    for index, background, _ in spans:
        assert background == colour(scores[int(index)])
    assert len({background for _, background, _ in spans}) > 3  # coloured, not blank
    chips = re.findall(r"<span class='nl-chip'[^>]*>([^<]*)</span>", page)
    assert chips == ["PER", "PER", "LOC"]
    assert "<b>Emmanuel Macron → PER</b>" in page and "✓ right" in page
    best = int(np.argmax(scores))
    assert f"<li>{words.tokens[best]} <span" in page.split("top tokens for PER")[1]
    saved = without_scripts(render_interactive(judged, full_page=True).data)
    assert re.findall(r"<span class='nl-chip'[^>]*>([^<]*)</span>", saved) == chips


# ---------------------------------------------------------------------- a span model (GLiNER)
@pytest.fixture(scope="module")
def spans(gliner):
    """Entities of the tiny GLiNER plus one contrast: "Paris" as a location rather than a person."""
    return gliner_explanation(gliner, contrast=True)


def stored_rows(level: dict) -> np.ndarray:
    return np.array([unpacked(row, len(level["tokens"])) for row in level["scores"]])


def test_a_span_models_page_data_holds_its_prompt_row(spans):
    payload = view_payload(spans)
    prompt = ["<<ENT>>", "person", "<<ENT>>", "location", "<<SEP>>"]
    for name, shown in (("subword", spans), ("word", spans.aggregate("word"))):
        level = payload["levels"][name]
        positions = [p for p in range(len(shown.tokens)) if shown.segment(p) == "prompt"]
        assert level["prompt"] == positions == [1, 2, 3, 4, 5]
        assert [level["tokens"][p] for p in positions] == prompt
        assert [level["special"][p] for p in positions] == [1, 0, 1, 0, 1]  # markers muted
        assert level["promptLabels"] == [["person", [2]], ["location", [4]]]
        np.testing.assert_allclose(
            level["entityScores"], [e.score for e in spans.entities], atol=1e-4
        )
    level = payload["levels"]["word"]
    for stored, row, value in zip(level["targets"], spans, spans.target_values):
        assert stored["kind"] == "span" and stored["description"] == row.description
        assert stored["value"] == pytest.approx(value, rel=1e-2)
    contrast = level["targets"][-1]
    assert (contrast["label"], contrast["foil"], contrast["text"]) == (
        "location", "person", "Paris → location not person"
    )  # fmt: skip
    assert contrast["description"] == "paris → location rather than person"
    # each label's part, as the page sums it, is the word view's unit of that label
    stored = stored_rows(level) / SCALE
    for index in range(len(spans)):
        parts = {label: stored[index, p].sum() for label, p in level["promptLabels"]}
        expected = label_unit_scores(spans, index)
        assert parts == pytest.approx(expected, abs=0.5 / SCALE)


def test_a_label_of_several_words_is_one_unit_of_the_word_view(gliner):
    explanation = gliner_explanation(gliner, labels=("person", "sports team"))
    payload = view_payload(explanation)
    pieces, words = payload["levels"]["subword"], payload["levels"]["word"]
    assert pieces["promptLabels"] == [["person", [2]], ["sports team", [4, 5]]]
    assert words["promptLabels"] == [["person", [2]], ["sports team", [4]]]
    assert words["tokens"][1:6] == ["<<ENT>>", "person", "<<ENT>>", "sports team", "<<SEP>>"]
    # the page's raw sum over the label's pieces is the word view's exact sum
    norms = np.array([t["norm"] for t in pieces["targets"]])
    raw = stored_rows(pieces)[:, [4, 5]].sum(axis=1) / SCALE * norms
    unit = explanation.aggregate("word").attributions[:, 4]
    np.testing.assert_allclose(raw, unit, atol=norms.max() / SCALE)


def test_token_classifiers_keep_their_page_data(explanation):
    level = view_payload(explanation)["levels"]["subword"]
    assert not {"prompt", "promptLabels", "entityScores"} & set(level)
    assert not {"description", "value"} & set(level["targets"][0])


def test_without_javascript_a_span_model_shows_its_prompt_row_and_label_parts(spans):
    page = without_scripts(spans._repr_html_())
    prompt_row, rest = page.split("class='nl-static-prompt'")[1].split("</div>", 1)
    tokens = re.findall(r"data-static-index='(\d+)'[^>]*>([^<]*)</span>", prompt_row)
    assert [html.unescape(t) for _, t in tokens] == [
        "<<ENT>>", "person", "<<ENT>>", "location", "<<SEP>>"
    ]  # fmt: skip
    assert not {"1", "2", "3", "4", "5"} & set(re.findall(r"data-static-index='(\d+)'", rest))
    first = view_payload(spans)["levels"]["word"]["targets"][0]
    assert f"<b>{first['text']}</b> &nbsp;score = {first['p']:.3f}" in page
    parts = page.split("what each label's words contributed")[1]
    shown = dict(re.findall(r"<li>(?:<b>)?(\w+)(?:</b>)? <span[^>]*>([^<]*)</span></li>", parts))
    expected = {
        label: "0.000" if round(v, 3) == 0 else f"{'+' if v > 0 else '−'}{abs(v):.3f}"
        for label, v in label_unit_scores(spans, 0).items()
    }
    assert shown == expected
    assert f"<li><b>{first['label']}</b>" in parts  # the target's own label stands out
