"""Plots: what they show, where labels stop being readable, files written, faithfulness curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import SEED_TEXT
from nerlens import Explainer, InputError
from nerlens.render._common import token_names
from nerlens.render.plot import MAX_LABELLED, MUTED, bar_chart, faithfulness_curves, heatmap
from views_data import gliner_explanation, label_unit_scores, long_explanation

pytestmark = pytest.mark.filterwarnings("ignore::nerlens.errors.ConvergenceWarning")  # few steps


@pytest.fixture(scope="module")
def explanation(tokenizer, tiny_model):
    return Explainer(tiny_model, tokenizer, n_steps=4)(SEED_TEXT)


def test_heatmap_shows_every_target_and_token_of_a_short_text(explanation):
    axes = heatmap(explanation, view="tokens").axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == token_names(explanation.tokens)
    assert len(axes.get_yticklabels()) == len(explanation)
    np.testing.assert_allclose(axes.images[0].get_array(), explanation.scores)
    assert "see the rest" not in axes.get_title()


def test_heatmap_of_a_long_text_shows_60_tokens_and_says_how_to_see_the_rest(explanation):
    long = long_explanation(explanation.labels, words=200, entities=10)
    axes = heatmap(long).axes[0]
    assert len(axes.get_xticklabels()) == MAX_LABELLED
    assert 'tokens 0–59 of 202, 5 of 10 targets; see the rest with plot("heatmap", start=60)' in (
        axes.get_title()
    )
    later = heatmap(long, start=180).axes[0]
    assert [t.get_text() for t in later.get_xticklabels()][-1] == "[SEP]"
    with pytest.raises(InputError, match="start must be a token position in 0..201"):
        heatmap(long, start=500)


def test_bar_chart_shows_the_strongest_tokens_in_order(explanation):
    row = explanation.row(2)
    axes = bar_chart(explanation, target=2, top=4, view="tokens").axes[0]
    widths = [bar.get_width() for bar in axes.patches]
    expected = sorted(row.scores, key=abs, reverse=True)[:4]
    np.testing.assert_allclose(widths, expected)
    assert axes.get_title().startswith(row.description)
    with pytest.raises(InputError, match="target must be an index"):
        bar_chart(explanation, target=len(explanation))


def test_plot_saves_png_and_svg_and_rejects_other_formats(explanation, tmp_path):
    explanation.plot("heatmap", tmp_path / "h.png")
    explanation.plot("bar", tmp_path / "b.svg", target=0)
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "b.svg").read_text()
    with pytest.raises(InputError, match=r"saved as \.png or \.svg"):
        explanation.plot("heatmap", tmp_path / "h.pdf")
    with pytest.raises(InputError, match="kind must be one of"):
        explanation.plot("pie")


def test_faithfulness_curves_plot_the_mean_per_q_and_method():
    frame = pd.DataFrame(
        {
            "method": ["a", "a", "b"],
            "comprehensiveness@0.5": [0.4, 0.6, 0.1],
            "comprehensiveness@0.1": [0.1, 0.3, 0.0],
            "sufficiency@0.1": [0.3, 0.3, 0.5],
        }
    )
    comprehensiveness, sufficiency = faithfulness_curves(frame).axes
    line_a = comprehensiveness.get_lines()[0]
    np.testing.assert_allclose(line_a.get_xdata(), [0.1, 0.5])
    np.testing.assert_allclose(line_a.get_ydata(), [0.2, 0.5])
    assert [line.get_label() for line in sufficiency.get_lines()] == ["a", "b"]
    with pytest.raises(InputError, match="no comprehensiveness@q or sufficiency@q columns"):
        faithfulness_curves(pd.DataFrame({"x": [1]}))


def test_plots_show_words_and_entities_as_written_by_default(demo):
    model, tokenizer = demo
    text = "Emmanuel Macron met Angela Merkel in Magdeburg."
    entities = Explainer(model, tokenizer, n_steps=2)(text, "entities")
    words = entities.aggregate("word")
    axes = heatmap(entities).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == list(words.tokens)
    assert [t.get_text() for t in axes.get_yticklabels()] == [
        "Emmanuel Macron → PER", "Angela Merkel → PER", "Magdeburg → LOC"
    ]  # fmt: skip
    np.testing.assert_allclose(axes.images[0].get_array(), words.scores)
    bar = bar_chart(entities, target=2, top=3).axes[0]
    assert bar.get_title().startswith("Magdeburg → LOC")
    names = {t.get_text() for t in bar.get_yticklabels()}
    assert names <= set(words.tokens) and not any("##" in n for n in names)
    pieces = heatmap(entities, view="tokens").axes[0]
    assert "mag ##de ##burg → LOC" in [t.get_text() for t in pieces.get_yticklabels()]


def test_a_span_models_plots_give_its_label_prompt_a_panel_of_its_own(gliner):
    spans = gliner_explanation(gliner, contrast=True)
    words = spans.aggregate("word")
    prompt = [p for p in range(len(words.tokens)) if words.segment(p) == "prompt"]
    text = [p for p in range(len(words.tokens)) if p not in prompt]
    figure = heatmap(spans)
    left, right = figure.axes[:2]
    assert left.get_title() == "label prompt" and right.images
    shown = [t.get_text() for t in left.get_xticklabels()]
    assert shown == ["<<ENT>>", "person", "<<ENT>>", "location", "<<SEP>>"]
    assert [t.get_color() == MUTED for t in left.get_xticklabels()] == [1, 0, 1, 0, 1]
    np.testing.assert_allclose(left.images[0].get_array(), words.scores[:, prompt])
    assert [t.get_text() for t in right.get_xticklabels()] == [words.tokens[p] for p in text]
    np.testing.assert_allclose(right.images[0].get_array(), words.scores[:, text])
    assert left.images[0].get_clim() == right.images[0].get_clim()  # one colour scale
    contrast = len(spans) - 1
    labels, reasons = bar_chart(spans, target=contrast).axes[:2]
    assert labels.get_title().startswith("Paris → location not person")
    assert [t.get_text() for t in labels.get_yticklabels()] == ["person", "location"]
    parts = label_unit_scores(spans, contrast)
    np.testing.assert_allclose([b.get_width() for b in labels.patches], list(parts.values()))
    assert [t.get_text() for t in labels.texts] == [f"{v:+.3f}" for v in parts.values()]
    names = [t.get_text() for t in reasons.get_yticklabels()]
    assert names and not {"person", "location", "<<ENT>>"} & set(names)  # the text's words
    assert labels.get_shared_x_axes().joined(labels, reasons)  # comparable lengths


def test_token_classifiers_plots_have_no_prompt_panel(explanation):
    assert [a.get_title() for a in heatmap(explanation).axes].count("label prompt") == 0
    assert len(bar_chart(explanation).axes) == 1
