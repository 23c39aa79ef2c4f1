"""Parsing and printing for ``nerlens explain``'s analysis options: method options, gold
entities, word/entity views and faithfulness scores."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from nerlens.errors import InputError
from nerlens.gold import GoldSpan, spans_from_text_tags

if TYPE_CHECKING:
    import pandas as pd


def parse_method_options(values: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value is read as JSON (``50``, ``0.5``, ``null``) else as text."""
    options: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--method-option must be KEY=VALUE (e.g. n_samples=50), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options[key.strip()] = value
    return options


def parse_gold(spans: list[str] | None, tags: str | None, text: str) -> list[GoldSpan] | None:
    """Gold entities from ``START:END:TYPE`` spans and/or one IOB tag per word of ``text``."""
    if not spans and tags is None:
        return None
    gold = list(spans_from_text_tags(text, tags.split())) if tags is not None else []
    for item in spans or []:
        parts = item.split(":")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise InputError(f"--gold must be START:END:TYPE (e.g. 11:16:LOC), got {item!r}")
        gold.append(GoldSpan(int(parts[0]), int(parts[1]), parts[2]))
    return gold


def faithfulness_table(frame: pd.DataFrame) -> str:
    """The per-target faithfulness scores as a plain-text table, with the mean last."""
    columns = ["target", "comprehensiveness", "sufficiency"]
    if frame.empty:
        return "faithfulness: no targets"
    shown = frame[columns].copy()
    mean = {"target": "mean", **{c: frame[c].mean() for c in columns[1:]}}
    shown.loc[len(shown)] = mean
    return "faithfulness (AOPC over 10-50% of the tokens)\n" + shown.to_string(
        index=False, float_format=lambda v: f"{v:+.4f}"
    )
