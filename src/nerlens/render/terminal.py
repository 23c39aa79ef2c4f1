"""Terminal view (rich): the sentence with its entities, then what pushed each label for/against."""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nerlens.explanation import Explanation
from nerlens.render._common import (
    DELTA_WARNING,
    delta_warning,
    display_token,
    entity_spans,
    strongest,
)

ENTITY_STYLES = ("bold magenta", "bold cyan", "bold yellow", "bold green", "bold blue")


def entities_text(explanation: Explanation) -> Text:
    """The original text with each predicted entity highlighted and tagged with its type."""
    text = Text()
    cursor = 0
    styles: dict[str, str] = {}
    for span in entity_spans(explanation):
        style = styles.setdefault(span.label, ENTITY_STYLES[len(styles) % len(ENTITY_STYLES)])
        text.append(explanation.text[cursor : span.start])
        text.append(span.text, style=style)
        text.append(f"[{span.label}]", style=f"dim {style}")
        cursor = span.end
    text.append(explanation.text[cursor:])
    return text


def _pushes(explanation: Explanation, scores: list[float], sign: int, count: int) -> Text:
    text = Text()
    for i in strongest(np.asarray(scores), count, sign):
        if text:
            text.append(", ")
        text.append(display_token(explanation.tokens[i]), style="green" if sign > 0 else "red")
        text.append(f" {scores[i]:+.2f}", style="dim")
    return text


def render_terminal(explanation: Explanation, top: int = 3) -> RenderableType:
    """A rich renderable: entities line plus one table row per explained target."""
    table = Table(show_edge=False, header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column("target")
    table.add_column("label")
    table.add_column("p", justify="right")
    table.add_column(f"top {top} for")
    table.add_column(f"top {top} against")
    table.add_column("Δ", justify="right", style="dim")
    for row in explanation:
        table.add_row(
            str(row.target.positions[0]),
            " ".join(display_token(explanation.tokens[p]) for p in row.target.positions),
            row.target.label,
            f"{row.probability:.2f}",
            _pushes(explanation, list(row.scores), +1, top),
            _pushes(explanation, list(row.scores), -1, top),
            Text(f"{row.delta:.1e}", style="bold red" if abs(row.delta) > DELTA_WARNING else ""),
        )
    method = explanation.settings.get("method", "")
    steps = explanation.settings.get("n_steps", "")
    caption = Text(f"{method}, n_steps={steps}; scores are L2-normalised per target", style="dim")
    warning = delta_warning(explanation)
    parts = [entities_text(explanation), Text(), table, caption]
    if warning:
        parts.append(Text(warning, style="bold red"))
    return Group(*parts)
