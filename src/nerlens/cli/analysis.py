"""Parsing and printing for ``nerlens explain``'s analysis options: gold entities and
faithfulness scores. Bad values exit with one ``error:`` line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerlens.cli.common import fail, require

if TYPE_CHECKING:
    import pandas as pd

    from nerlens.gold import GoldSpan


def parse_gold(spans: list[str] | None, tags: str | None, text: str) -> list[GoldSpan] | None:
    """Gold entities from ``START:END:TYPE`` spans and/or one IOB tag per word of ``text``."""
    from nerlens.errors import InputError
    from nerlens.gold import GoldSpan, spans_from_text_tags

    if not spans and tags is None:
        return None
    try:
        gold = list(spans_from_text_tags(text, tags.split())) if tags is not None else []
    except InputError as error:
        fail(f"--gold-tags: {error}")
    for item in spans or []:
        parts = item.split(":")
        require(
            len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and bool(parts[2]),
            f"--gold must be START:END:TYPE (e.g. 11:16:LOC), got {item!r}",
        )
        gold.append(GoldSpan(int(parts[0]), int(parts[1]), parts[2]))
    return gold


def faithfulness_table(frame: pd.DataFrame) -> str:
    """The per-target faithfulness scores as a plain-text table, with the mean last."""
    columns = ["target", "comprehensiveness", "sufficiency"]
    if frame.empty:
        return "faithfulness: no targets"
    shown = frame[columns].copy()
    shown.loc[len(shown)] = {"target": "mean", **{c: frame[c].mean() for c in columns[1:]}}
    return "faithfulness (AOPC over 10-50% of the tokens)\n" + shown.to_string(
        index=False, float_format=lambda v: f"{v:+.4f}"
    )
