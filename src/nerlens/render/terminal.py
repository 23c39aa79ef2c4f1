"""Terminal view: the sentence with its entities, then what pushed each label for and against.

One renderable adapts to where it is printed: a table on a wide terminal, one block per target on
a narrow one, and plain tab-separated text with the numbers when the output is piped or
redirected (entities written ``Paris/LOC``, ``[Emmanuel Macron]/PER``). Colours follow rich's
console, which honours ``NO_COLOR``; an unconverged delta is also marked with ``!`` so it shows
without colour.

Targets and tokens are shown as written in the text, tokens as whole words (the explanation's word
view, :meth:`Explanation.aggregate` ``("word")``); ``view="tokens"`` shows the tokenizer's pieces.
With gold entities, each row says whether the model was right, and missed and spurious entities
are listed. A span model's label prompt (GLiNER's ``<<ENT>> person <<ENT>> location <<SEP>>``) is
its own row above the text, and each target says what each label's words in it contributed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from nerlens.explanation import Explanation, TargetRow
from nerlens.render._common import (
    DELTA_WARNING,
    View,
    check_view,
    compare_gold,
    delta_text,
    delta_warning,
    display_token,
    entity_spans,
    label_sums,
    prompt_labels,
    prompt_positions,
    shown_level,
    strongest,
    target_label,
    target_text,
    unit_names,
)

ENTITY_STYLES = ("bold magenta", "bold cyan", "bold yellow", "bold green", "bold blue")
NARROW = 100  # below this many columns, one block per target instead of a table
DIGITS = 2  # scores are shown to this many decimals; smaller ones are left out
LEGEND = (
    "p: the model's probability of the label · Δ: convergence delta (|Δ| > {limit:g}, marked !: "
    "scores unreliable) · scores: attribution ÷ the target's L2 norm, + raises the label, "
    "− lowers it"
)
PROMPT_LEGEND = " · label prompt: each label's summed score over its words in the prompt"


def entities_text(explanation: Explanation, *, plain: bool = False) -> Text:
    """The original text with each predicted entity highlighted and tagged with its type.

    ``plain`` writes tags so they cannot be mistaken for text: ``Paris/LOC``, ``[New York]/LOC``.
    """
    text = Text()
    cursor = 0
    styles: dict[str, str] = {}
    for span in entity_spans(explanation):
        style = styles.setdefault(span.label, ENTITY_STYLES[len(styles) % len(ENTITY_STYLES)])
        text.append(explanation.text[cursor : span.start])
        if plain:
            words = f"[{span.text}]" if any(c.isspace() for c in span.text) else span.text
            text.append(f"{words}/{span.label}")
        else:
            text.append(span.text, style=style)
            text.append(f"[{span.label}]", style=f"dim {style}")
        cursor = span.end
    text.append(explanation.text[cursor:])
    return text


def prompt_text(explanation: Explanation) -> Text | None:
    """A span model's label prompt as its own row, markers dim (``label prompt: <<ENT>> person
    <<ENT>> location <<SEP>>``); None for a model without one."""
    positions = prompt_positions(explanation)
    if not positions:
        return None
    text = Text().append("label prompt:", style="dim")
    for position in positions:
        special = explanation.special[position]
        text.append(" ").append(
            display_token(explanation.tokens[position]), style="dim" if special else "bold"
        )
    return text


def pushes(
    row: TargetRow, names: list[str], sign: int, count: int, skip: Collection[int] = frozenset()
) -> list[tuple[str, float]]:
    """The ``count`` strongest ``(token name, score)`` of one sign outside ``skip``, leaving out
    those that round to zero at display precision (so no "−0.00" is ever given as a reason)."""
    scores = np.asarray(row.scores)
    return [
        (names[i], float(scores[i]))
        for i in strongest(scores, count, sign, skip)
        if round(abs(float(scores[i])), DIGITS) > 0
    ]


def _score(value: float, minus: str = "−") -> str:
    if round(abs(value), DIGITS) == 0:
        return f"{0:.{DIGITS}f}"
    return f"{'+' if value > 0 else minus}{abs(value):.{DIGITS}f}"


def _pushes_text(items: list[tuple[str, float]], sign: int) -> Text:
    text = Text()
    for name, value in items:
        if text:
            text.append(", ")
        text.append(name, style="green" if sign > 0 else "red")
        text.append(f" {_score(value)}", style="dim")
    return text


def _labels_text(sums: list[tuple[str, float]]) -> Text:
    """What each prompt label contributed: ``person +0.12, location −0.05``."""
    text = Text()
    for label, value in sums:
        if text:
            text.append(", ")
        shown = _score(value)
        style = "dim" if shown[0].isdigit() else "green" if value > 0 else "red"
        text.append(label).append(f" {shown}", style=style)
    return text


def _delta(row: TargetRow) -> Text:
    bad = abs(row.delta) > DELTA_WARNING
    return Text(f"{delta_text(row.delta)}{'!' if bad else ''}", style="bold red" if bad else "")


def _verdict(row: TargetRow, plain: bool = False) -> Text:
    """Whether the model was right on this target against the gold ("" without gold)."""
    if row.correct is None:
        return Text("")
    if plain:
        return Text("right" if row.correct else "wrong")
    return Text("✓ right", style="green") if row.correct else Text("✗ wrong", style="bold red")


def gold_lines(explanation: Explanation) -> list[str]:
    """The gold entities the model missed and the predicted ones not in the gold (none: [])."""
    comparison = compare_gold(explanation)
    if comparison is None:
        return []
    missed = [f"{explanation.text[g.start : g.end]} ({g.label})" for g in comparison.missed]
    spans = entity_spans(explanation)
    spurious = [f"{spans[i].text} ({spans[i].label})" for i in comparison.spurious]
    return [
        f"gold: missed {', '.join(missed) or 'none'}; "
        f"spurious (predicted, not in the gold) {', '.join(spurious) or 'none'}"
    ]


class TerminalView:
    """A rich renderable of an Explanation that picks its layout from the console it meets."""

    def __init__(self, explanation: Explanation, top: int = 3, view: View = "words") -> None:
        self.explanation = explanation
        self.top = top
        self.view = view
        self.units = shown_level(explanation, view)  # what the for/against lists name
        self.names = unit_names(explanation, view)
        self.gold = explanation.correct is not None
        self.prompt = prompt_labels(self.units)  # a span model's labels in its prompt, or ()
        self.skip = frozenset(prompt_positions(self.units))  # listed per label, not as reasons

    def _rows(self) -> Iterator[tuple[TargetRow, TargetRow, str]]:
        """Each target's row, its row over the shown units, and its text as shown."""
        for row, unit_row in zip(self.explanation, self.units):
            yield row, unit_row, target_text(self.explanation, row.target, self.view)

    def _pushes(self, unit_row: TargetRow, sign: int) -> list[tuple[str, float]]:
        return pushes(unit_row, self.names, sign, self.top, self.skip)

    def _head(self) -> list[Text]:
        """The label prompt's row (span models), then the text with its entities."""
        prompt = prompt_text(self.units)
        return [*([prompt] if prompt else []), entities_text(self.explanation)]

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        if not console.is_terminal:
            yield Text(self.plain(), no_wrap=True, overflow="ignore")
        elif options.max_width < NARROW:
            yield self._blocks()
        else:
            yield self._table()

    def _caption(self) -> list[Text]:
        settings = self.explanation.settings
        steps = f", n_steps={settings['n_steps']}" if "n_steps" in settings else ""
        parts = [
            Text(f"{settings.get('method', '')}{steps}", style="dim"),
            Text(self._legend(), style="dim"),
        ]
        parts += [Text(line, style="bold") for line in gold_lines(self.explanation)]
        warning = delta_warning(self.explanation)
        if warning:
            parts.append(Text(warning, style="bold red"))
        return parts

    def _legend(self) -> str:
        return LEGEND.format(limit=DELTA_WARNING) + (PROMPT_LEGEND if self.prompt else "")

    def _table(self) -> Group:
        table = Table(show_edge=False, header_style="bold")
        table.add_column("#", justify="right", style="dim")
        table.add_column("target")
        table.add_column("label")
        table.add_column("p", justify="right")
        table.add_column(f"top {self.top} for")
        table.add_column(f"top {self.top} against")
        table.add_column("Δ", justify="right", style="dim")
        if self.prompt:
            table.add_column("label prompt")
        if self.gold:
            table.add_column("gold")
        for row, unit_row, text in self._rows():
            table.add_row(
                str(row.target.positions[0]),
                text,
                target_label(row.target),
                f"{row.probability:.2f}",
                _pushes_text(self._pushes(unit_row, +1), +1),
                _pushes_text(self._pushes(unit_row, -1), -1),
                _delta(row),
                *([_labels_text(label_sums(self.prompt, unit_row.scores))] if self.prompt else []),
                *([_verdict(row)] if self.gold else []),
            )
        return Group(*self._head(), Text(), table, *self._caption())

    def _blocks(self) -> Group:
        parts: list[RenderableType] = [*self._head(), Text()]
        for row, unit_row, text in self._rows():
            head = Text()
            head.append(f"#{row.target.positions[0]} ", style="dim")
            head.append(text, style="bold")
            head.append(f" → {target_label(row.target)}  p {row.probability:.2f}  Δ ")
            head.append_text(_delta(row))
            if self.gold:
                head.append("  ").append_text(_verdict(row))
            parts += [
                head,
                Text("  for:     ").append_text(_pushes_text(self._pushes(unit_row, +1), +1)),
                Text("  against: ").append_text(_pushes_text(self._pushes(unit_row, -1), -1)),
            ]
            if self.prompt:
                sums = label_sums(self.prompt, unit_row.scores)
                parts.append(Text("  labels:  ").append_text(_labels_text(sums)))
        return Group(*parts, Text(), *self._caption())

    def plain(self) -> str:
        """Plain text for pipes: the tagged sentence, a legend, then one tab-separated row per
        target (scores with ASCII signs, so other tools can read them)."""
        header = ["#", "target", "label", "p", "delta", f"top {self.top} for"]
        header += [f"top {self.top} against", *(["label prompt"] if self.prompt else [])]
        header += ["gold"] if self.gold else []
        prompt = prompt_text(self.units)
        lines = [
            *([prompt.plain] if prompt else []),
            entities_text(self.explanation, plain=True).plain,
            "# " + self._legend(),
            "\t".join(header),
        ]
        for row, unit_row, text in self._rows():
            cells = [
                str(row.target.positions[0]),
                text,
                target_label(row.target),
                f"{row.probability:.2f}",
                _delta(row).plain,
                *(
                    ", ".join(f"{n} {_score(v, '-')}" for n, v in self._pushes(unit_row, s))
                    for s in (+1, -1)
                ),
                *(
                    [
                        ", ".join(
                            f"{label} {_score(v, '-')}"
                            for label, v in label_sums(self.prompt, unit_row.scores)
                        )
                    ]
                    if self.prompt
                    else []
                ),
                *([_verdict(row, plain=True).plain] if self.gold else []),
            ]
            lines.append("\t".join(cells))
        lines += [f"# {line}" for line in gold_lines(self.explanation)]
        warning = delta_warning(self.explanation)
        return "\n".join([*lines, *([f"# warning: {warning}"] if warning else [])])


def render_terminal(explanation: Explanation, top: int = 3, view: View = "words") -> TerminalView:
    """The terminal view of ``explanation`` for ``rich`` to print (adapts to the console):
    tokens as words written in the text, or as the tokenizer's pieces with ``view="tokens"``."""
    return TerminalView(explanation, top, check_view(view))


def print_terminal(
    explanation: Explanation, console: Console, top: int = 3, view: View = "words"
) -> None:
    """Print the view to ``console``: rich on a terminal; when piped, plain text never cropped
    to the console's width."""
    rendered = render_terminal(explanation, top, view)
    if console.is_terminal:
        console.print(rendered)
    else:
        console.file.write(rendered.plain() + "\n")
