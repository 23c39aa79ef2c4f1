"""Renderers are pure views of an Explanation: the reference's table, terminal view, escaping."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from rich.console import Console

from conftest import SEED_TEXT
from nerlens import Explainer, TokenTarget
from nerlens.errors import ConvergenceWarning
from nerlens.render import render_html, render_terminal
from nerlens.render.html import color
from nerlens.render.interactive import view_payload
from views_data import gliner_explanation


@pytest.fixture(scope="module")
def explanation(tokenizer, tiny_model):
    return Explainer(tiny_model, tokenizer, n_steps=4)(SEED_TEXT)


def test_table_has_reference_columns_and_one_row_per_target(explanation):
    page = render_html(explanation).data
    headers = re.findall(r"<th>(.*?)</th>", page)
    assert headers == [
        "True Label",
        "Predicted Label",
        "Attribution Label",
        "Attribution Score",
        "Word Importance",
    ]
    assert page.count("<tr>") == 1 + len(explanation)
    label, p = explanation.predicted_labels[3], explanation.predicted_probabilities[3]
    assert f"<b>{label} ({p:.2f})</b>" in page
    assert f"<b>{sum(explanation.at(3).scores):.2f}</b>" in page
    assert all(legend in page for legend in ("Negative", "Neutral", "Positive"))


def test_true_labels_fill_the_first_column_and_are_checked(explanation):
    true = ["O"] * len(explanation.tokens)
    true[3] = "B-LOC-TRUE"
    assert "<b>B-LOC-TRUE</b>" in render_html(explanation, true).data
    with pytest.raises(ValueError, match="true_classes has 2 labels but the text has 14 tokens"):
        render_html(explanation, ["O", "O"])


def test_colours_follow_sign_and_clip():
    assert color(1.0) == color(5.0) == "hsl(120, 75%, 50%)"
    assert color(-1.0) == color(-3.0) == "hsl(0, 75%, 60%)"
    assert color(0.0) == "hsl(0, 75%, 100%)"


def test_markup_in_text_is_escaped(tokenizer, tiny_model):
    text = "<script>alert(1)</script> & Paris"
    explanation = Explainer(tiny_model, tokenizer, n_steps=2)(text, [TokenTarget(1, "O")])
    page = render_html(explanation).data
    assert "<script>" not in page and "&lt;" in page


def test_terminal_view_shows_sentence_and_pushes(explanation):
    console = Console(record=True, width=160)
    console.print(render_terminal(explanation))
    out = console.export_text()
    assert SEED_TEXT.split()[0] in out
    assert "top 3 for" in out and "top 3 against" in out
    assert explanation.surface(3) in out  # tokens as written in the text


def test_unconverged_targets_are_flagged(tokenizer):
    from tiny_models import tiny_bert

    model = tiny_bert(tokenizer, seed=3, hidden_size=64, num_hidden_layers=3, initializer_range=0.2)
    with pytest.warns(ConvergenceWarning) as warned:
        rough = Explainer(model, tokenizer, n_steps=1)(SEED_TEXT)
    assert np.abs(rough.deltas).max() > 1e-2
    console = Console(record=True, width=160)
    console.print(render_terminal(rough))
    assert "|convergence delta| > 0.01" in console.export_text()
    assert view_payload(rough)["warning"] == str(warned[0].message)  # the library's own words
    smooth = Explainer(model, tokenizer, n_steps="auto", tolerance=1e-4)(SEED_TEXT)
    assert view_payload(smooth)["warning"] is None


def test_a_span_models_table_puts_its_label_prompt_on_a_line_of_its_own(gliner, explanation):
    spans = gliner_explanation(gliner)
    page = render_html(spans).data
    assert page.count("<tr>") == 1 + len(spans)
    cells = re.findall(r"<td><mark.*?</td>", page)
    assert len(cells) == len(spans)
    for cell in cells:
        prompt, text = cell.split("<br>")
        marks = re.findall(r"> (.*?) </font>", prompt)
        assert marks == ["[CLS]", *html.escape("<<ENT>> person <<ENT>> location <<SEP>>").split()]
        assert re.findall(r"> (.*?) </font>", text)[:2] == ["we", "visited"]
    assert "<br>" not in render_html(explanation).data  # a token classifier: one line
