"""The reference's five-column HTML table, as transformers-interpret's ``visualize()`` draws it;
a span model's label prompt ends a line of its own in each row's word importances."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nerlens.explanation import Explanation
from nerlens.render._common import display_token, prompt_positions

COLUMNS = (
    "True Label",
    "Predicted Label",
    "Attribution Label",
    "Attribution Score",
    "Word Importance",
)


@dataclass(frozen=True)
class HtmlPage:
    """Rendered HTML: ``data`` holds the markup; notebooks show it inline."""

    data: str

    def _repr_html_(self) -> str:
        return self.data

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.data, encoding="utf-8")
        return path


def color(score: float) -> str:
    """Green for positive, red for negative, clipped to [-1, 1] (Captum's palette)."""
    score = max(-1.0, min(1.0, float(score)))
    if score > 0:
        return f"hsl(120, 75%, {100 - int(50 * score)}%)"
    return f"hsl(0, 75%, {100 - int(-40 * score)}%)"


def _cell(value: str, title: str = "") -> str:
    tip = f' title="{html.escape(title)}"' if title else ""
    return f'<td{tip}><text style="padding-right:2em"><b>{html.escape(value)}</b></text></td>'


def _importances(tokens: Sequence[str], scores: Sequence[float], prompt_end: int = -1) -> str:
    """Each token marked by its score; a line break after position ``prompt_end`` (the end of
    a span model's label prompt)."""
    marks = "".join(
        f'<mark style="background-color: {color(s)}; opacity:1.0; line-height:1.75" '
        f'title="{s:+.4f}"><font color="black"> {html.escape(t)} </font></mark>'
        + ("<br>" if i == prompt_end else "")
        for i, (t, s) in enumerate(zip(tokens, scores))
    )
    return f"<td>{marks}</td>"


def _legend() -> str:
    items = "".join(
        f'<span style="display: inline-block; width: 10px; height: 10px; border: 1px solid; '
        f'background-color: {color(value)}"></span> {label}  '
        for value, label in ((-1, "Negative"), (0, "Neutral"), (1, "Positive"))
    )
    return (
        '<div style="border-top: 1px solid; margin-top: 5px; padding-top: 5px; '
        f'display: inline-block"><b>Legend: </b>{items}</div>'
    )


def attribution_table(explanation: Explanation, true_labels: Sequence[str] | None = None) -> str:
    """The reference's table: one row per explained target, tokens coloured by their score.

    ``true_labels`` has one label per input token (special tokens included); without it the
    predicted label is shown as the true one, as the reference does.
    """
    if true_labels is not None and len(true_labels) != len(explanation.tokens):
        raise ValueError(
            f"true_classes has {len(true_labels)} labels but the text has "
            f"{len(explanation.tokens)} tokens (special tokens included); pass one per token"
        )
    tokens = [display_token(t) for t in explanation.tokens]
    predicted = explanation.predicted_labels
    prompt_end = max(prompt_positions(explanation), default=-1)
    header = "<tr>" + "".join(f"<th>{c}</th>" for c in COLUMNS) + "</tr>"
    rows = []
    for row in explanation:
        first = row.target.positions[0]
        true = predicted[first] if true_labels is None else true_labels[first]
        rows.append(
            "<tr>"
            + _cell(str(true))
            + _cell(f"{row.target.label} ({row.probability:.2f})")
            + _cell(" ".join(tokens[p] for p in row.target.positions))
            + _cell(f"{sum(row.scores):.2f}", f"convergence delta {row.delta:.1e}")
            + _importances(tokens, row.scores, prompt_end)
            + "</tr>"
        )
    return f'<table width="100%">{header}{"".join(rows)}</table>{_legend()}'


def render_html(explanation: Explanation, true_labels: Sequence[str] | None = None) -> HtmlPage:
    """The reference's attribution table (``visualize()``); the interactive view is
    :func:`nerlens.render.interactive.render_interactive`."""
    return HtmlPage(attribution_table(explanation, true_labels))
