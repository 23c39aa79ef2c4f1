"""Plots (matplotlib, ``pip install 'nerlens[plot]'``): targets × tokens heatmap, one target's top
tokens, faithfulness curves. Figures are built without pyplot (Agg canvas), so plotting never
needs a display and never changes the user's matplotlib state. Tokens are shown as words written
in the text (``view="tokens"``: the tokenizer's pieces), targets by their text as written. A span
model's label prompt has its own panel: its units next to the text's in the heatmap, each label's
summed score above the text's strongest tokens in the bar chart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nerlens.errors import InputError
from nerlens.explanation import Explanation
from nerlens.render._common import (
    View,
    check_view,
    delta_text,
    display_token,
    label_sums,
    prompt_labels,
    prompt_positions,
    shown_level,
    target_label,
    target_text,
    unit_names,
)

try:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("plots need matplotlib: pip install 'nerlens[plot]'") from error

if TYPE_CHECKING:
    import pandas as pd

MAX_LABELLED = 60  # text tokens (columns) and targets (rows) a heatmap shows with readable labels
FORMATS = (".png", ".svg")
CMAP = "RdBu_r"  # diverging, colour-blind safe: red raises the label, blue lowers it
CELL = 0.26  # inches per heatmap cell
MUTED = "#9aa5b1"  # a label prompt's markers
FAITHFULNESS_COLUMN = re.compile(r"^(comprehensiveness|sufficiency)@(\d+(?:\.\d+)?)$")


def _row_name(explanation: Explanation, index: int, view: View) -> str:
    target = explanation.targets[index]
    return f"{target_text(explanation, target, view)} → {target_label(target)}"


def heatmap(
    explanation: Explanation, *, start: int = 0, raw: bool = False, view: View = "words"
) -> Figure:
    """Targets × tokens (words, or pieces with ``view="tokens"``), coloured by score; shows at
    most 60 columns of the text from ``start`` (and the targets among them), and says how to see
    the rest. A span model's label prompt is a panel of its own on the left, always shown."""
    check_view(view)
    original, explanation = explanation, shown_level(explanation, view)
    num_tokens = len(explanation.tokens)
    if not 0 <= start < max(num_tokens, 1):
        raise InputError(f"start must be a token position in 0..{num_tokens - 1}, got {start!r}")
    prompt = list(prompt_positions(explanation))
    columns = [p for p in range(start, num_tokens) if p not in set(prompt)][:MAX_LABELLED]
    stop = columns[-1] + 1 if columns else start
    rows = [
        i for i, target in enumerate(explanation.targets) if start <= target.positions[0] < stop
    ][:MAX_LABELLED]
    matrix = (explanation.attributions if raw else explanation.scores)[rows]
    all_names = unit_names(original, view)
    row_names = [_row_name(original, i, view) for i in rows]
    if not rows:  # keep the token axis readable: one blank row says why it is empty
        matrix, row_names = np.zeros((1, num_tokens)), ["(no target starts here)"]
    figure = _figure(CELL * (len(columns) + len(prompt)) + 3.5, CELL * len(row_names) + 2.2)
    groups = [positions for positions in (prompt, columns) if positions]
    panels = figure.subplots(
        1, len(groups), sharey=True, squeeze=False, width_ratios=[len(g) for g in groups]
    )[0]
    limit = float(np.abs(matrix[:, prompt + columns]).max()) or 1.0
    names = [  # a prompt's markers repeat: shown as written, not numbered
        display_token(explanation.tokens[p]) if p in prompt else all_names[p]
        for p in range(num_tokens)
    ]
    for panel, positions in zip(panels, groups):
        image = panel.imshow(
            matrix[:, positions], cmap=CMAP, vmin=-limit, vmax=limit, aspect="auto"
        )
        panel.set_xticks(
            range(len(positions)), [names[p] for p in positions], rotation=90, fontsize=8
        )
    axes = panels[-1]
    panels[0].set_yticks(range(len(row_names)), row_names, fontsize=8)
    if prompt:
        _prompt_panel(panels[0], [explanation.special[p] for p in prompt])
    bar = figure.colorbar(image, ax=list(panels), fraction=0.04, pad=0.02)
    bar.set_label("raw attribution" if raw else "score (÷ L2 norm of the target)", fontsize=8)
    title = "why each label: red raises it, blue lowers it"
    hidden = _hidden_note(explanation, start, stop, rows)
    axes.set_title(f"{title}\n{hidden}" if hidden else title, fontsize=9)
    return figure


def _prompt_panel(panel: Axes, special: list[bool]) -> None:
    """Mark a panel as the label prompt's, its markers muted (they are special: score 0)."""
    panel.set_title("label prompt", fontsize=9)
    for tick, muted in zip(panel.get_xticklabels(), special):
        if muted:
            tick.set_color(MUTED)


def _hidden_note(explanation: Explanation, start: int, stop: int, rows: list[int]) -> str:
    """How to see what does not fit, if anything does not."""
    num_tokens = len(explanation.tokens)
    if stop - start == num_tokens and len(rows) == len(explanation.targets):
        return ""
    note = f"tokens {start}–{stop - 1} of {num_tokens}, {len(rows)} of {len(explanation)} targets"
    follow = f'plot("heatmap", start={stop})' if stop < num_tokens else "a smaller start"
    return f"{note}; see the rest with {follow} or save_html()"


def bar_chart(
    explanation: Explanation, *, target: int = 0, top: int = 10, view: View = "words"
) -> Figure:
    """The ``top`` tokens (words, or pieces with ``view="tokens"``) with the largest |score|
    for the ``target``-th target; for a span model, of the text, under a panel of each prompt
    label's summed score."""
    check_view(view)
    if not 0 <= target < len(explanation):
        raise InputError(
            f"target must be an index into the {len(explanation)} explained targets "
            f"(0..{len(explanation) - 1}), got {target!r}"
        )
    if not isinstance(top, int) or top < 1:
        raise InputError(f"top must be a positive int, got {top!r}")
    units = shown_level(explanation, view)
    row = units.row(target)
    scores = np.asarray(row.scores)
    skip = set(prompt_positions(units))  # the prompt: per label, in its own panel
    order = [
        int(i)
        for i in np.argsort(-np.abs(scores), kind="stable")
        if scores[i] != 0 and int(i) not in skip
    ][:top]
    names = unit_names(explanation, view)
    bars = [label_sums(prompt_labels(units), scores), [(names[i], scores[i]) for i in order]]
    bars = [group for group in bars if group] or [[]]
    heights = [max(len(group), 1) for group in bars]
    figure = _figure(5.5, 0.32 * sum(heights) + 1.4 + 0.3 * (len(bars) - 1))
    panels = figure.subplots(len(bars), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    for panel, group in zip(panels, bars):
        colours = ["#b2182b" if value > 0 else "#2166ac" for _, value in group]
        drawn = panel.barh(range(len(group)), [value for _, value in group], color=colours)
        panel.set_yticks(range(len(group)), [name for name, _ in group], fontsize=9)
        panel.invert_yaxis()
        panel.axvline(0, color="#333", linewidth=0.8)
        if len(panels) > 1 and panel is panels[0]:  # labels' parts are often small: written
            panel.bar_label(drawn, fmt="%+.3f", fontsize=8, padding=3)
    if len(panels) > 1:
        panels[0].set_ylabel("label prompt", fontsize=9)
        panels[1].set_ylabel("text", fontsize=9)
    panels[-1].set_xlabel("score (÷ L2 norm of the target): red raises the label, blue lowers it")
    panels[0].set_title(
        f"{_row_name(explanation, target, view)}   p = {row.probability:.2f}   "
        f"Δ = {delta_text(row.delta)}",
        fontsize=10,
    )
    return figure


def faithfulness_curves(frame: pd.DataFrame) -> Figure:
    """Mean comprehensiveness@q and sufficiency@q against q, from ``explainer.evaluate(...)``
    (one line per method when the frame has a ``method`` column)."""
    columns = {
        name: (match.group(1), float(match.group(2)))
        for name in frame.columns
        if (match := FAITHFULNESS_COLUMN.match(str(name)))
    }
    if not columns:
        raise InputError(
            "the frame has no comprehensiveness@q or sufficiency@q columns; pass the DataFrame "
            f"that explainer.evaluate(...) returns (columns: {list(frame.columns)})"
        )
    groups = frame.groupby("method") if "method" in frame.columns else [("", frame)]
    figure = _figure(9, 3.6)
    for position, metric in enumerate(("comprehensiveness", "sufficiency"), start=1):
        axes = figure.add_subplot(1, 2, position)
        chosen = sorted((q, name) for name, (m, q) in columns.items() if m == metric)
        for method, group in groups:
            means = [float(group[name].mean()) for _, name in chosen]
            axes.plot([q for q, _ in chosen], means, marker="o", label=str(method) or None)
        axes.set_xlabel("q: fraction of the most important tokens")
        axes.set_title(
            f"{metric} ({'higher' if metric == 'comprehensiveness' else 'lower'} is better)",
            fontsize=10,
        )
        axes.grid(alpha=0.3)
        if "method" in frame.columns:
            axes.legend(fontsize=8)
    return figure


PLOTS = {"heatmap": heatmap, "bar": bar_chart}


def plot(
    explanation: Explanation, kind: str = "heatmap", path: str | Path | None = None, **options: Any
) -> Figure:
    """Build the ``kind`` plot of ``explanation``; save it to ``path`` (.png or .svg) if given."""
    if kind not in PLOTS:
        raise InputError(f"kind must be one of {sorted(PLOTS)}, got {kind!r}")
    if path is not None and Path(path).suffix.lower() not in FORMATS:
        raise InputError(f"plots are saved as {' or '.join(FORMATS)}, got {str(path)!r}")
    figure = PLOTS[kind](explanation, **options)
    if path is not None:
        save(figure, path)
    return figure


def save(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG or SVG (by the file's suffix)."""
    path = Path(path)
    figure.savefig(path, format=path.suffix.lower().lstrip("."), bbox_inches="tight", dpi=150)
    return path


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(min(width, 40), min(height, 40)), layout="constrained")
    FigureCanvasAgg(figure)
    return figure
