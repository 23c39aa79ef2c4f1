"""HTML views: the reference's five-column table, and a page that adds the text with entities."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nerlens.explanation import Explanation
from nerlens.render._common import delta_warning, display_token, entity_spans

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


def _importances(tokens: Sequence[str], scores: Sequence[float]) -> str:
    marks = "".join(
        f'<mark style="background-color: {color(s)}; opacity:1.0; line-height:1.75" '
        f'title="{s:+.4f}"><font color="black"> {html.escape(t)} </font></mark>'
        for t, s in zip(tokens, scores)
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
            + _importances(tokens, row.scores)
            + "</tr>"
        )
    return f'<table width="100%">{header}{"".join(rows)}</table>{_legend()}'


def entities_line(explanation: Explanation) -> str:
    """The text with each predicted entity marked and labelled."""
    parts, cursor = [], 0
    for span in entity_spans(explanation):
        parts.append(html.escape(explanation.text[cursor : span.start]))
        parts.append(
            f'<mark style="background-color: #dbeafe; padding: 0 2px">{html.escape(span.text)}'
            f" <sub><b>{html.escape(span.label)}</b></sub></mark>"
        )
        cursor = span.end
    parts.append(html.escape(explanation.text[cursor:]))
    return f'<p style="font-size: 1.1em; line-height: 2">{"".join(parts)}</p>'


def render_html(
    explanation: Explanation,
    true_labels: Sequence[str] | None = None,
    *,
    full_page: bool = False,
) -> HtmlPage:
    """The attribution table; with ``full_page`` a standalone page that also shows the entities."""
    table = attribution_table(explanation, true_labels)
    if not full_page:
        return HtmlPage(table)
    settings = html.escape(", ".join(f"{k}={v}" for k, v in explanation.settings.items()))
    note = delta_warning(explanation)
    warning = f'<p style="color:#b91c1c"><b>{html.escape(note)}</b></p>' if note else ""
    return HtmlPage(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>nerlens explanation</title>"
        "<style>body{font-family:sans-serif;margin:2em} th{text-align:left}</style></head><body>"
        f"<h2>nerlens explanation</h2>{entities_line(explanation)}{warning}{table}"
        f'<p style="color:#666;font-size:0.8em">{settings}</p></body></html>'
    )
