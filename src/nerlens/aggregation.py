"""Word- and entity-level views of an Explanation: the same interface, coarser units.

Units are maximal runs of adjacent tokens with the same key: a special token is its own unit; at
``"word"`` level the key of a token is its word (the fast tokenizer's ``word_ids``, never guessed
from ``##`` or ``▁``); at ``"entity"`` level tokens of one predicted entity
(:attr:`Explanation.entities`) share one key and every other token keeps its word's key.

The result is an :class:`~nerlens.explanation.Explanation` whose "tokens" are the units:

- ``tokens`` are the unit's characters in the text (a special token keeps its token text),
  ``offsets`` span them, and ``attributions[t, u]`` is the exact sum of the unit's tokens' raw
  attributions, so completeness (``target_values``, ``baseline_values``, ``deltas``) still holds;
- each target moves to the units that hold its tokens (a TokenTarget at token ``p`` becomes one at
  the unit holding ``p``; an EntityTarget covers the units of its span, with the label of its
  first token in each); its shown probability stays the token-level one
  (``target_probabilities``), and ``probabilities[u]`` are those of the unit's first token;
- ``settings["aggregated"]`` records the level and ``token_positions``, the token positions of
  each unit, so any view can map back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from nerlens.errors import InputError
from nerlens.targets import ContrastTarget, EntityTarget, Target, TokenTarget

if TYPE_CHECKING:
    from nerlens.explanation import Explanation

Level = Literal["word", "entity"]
LEVELS: tuple[Level, ...] = ("word", "entity")


def units(explanation: Explanation, level: Level) -> list[list[int]]:
    """Token positions of each unit, in text order."""
    if level not in LEVELS:
        raise InputError(f"aggregation level must be one of {list(LEVELS)}, got {level!r}")
    entity_of: dict[int, int] = {}
    if level == "entity":
        for index, entity in enumerate(explanation.entities):
            entity_of.update(dict.fromkeys(range(entity.token_start, entity.token_end), index))
    groups: list[list[int]] = []
    previous: tuple[str, int] | None = None
    for position, (special, word) in enumerate(zip(explanation.special, explanation.word_ids)):
        if special or word is None:
            key: tuple[str, int] | None = None
        elif position in entity_of:
            key = ("entity", entity_of[position])
        else:
            key = ("word", word)
        if key is not None and key == previous:
            groups[-1].append(position)
        else:
            groups.append([position])
        previous = key
    return groups


def aggregate(explanation: Explanation, level: Level) -> Explanation:
    """The explanation with attributions summed over words or entities (see the module doc)."""
    if "aggregated" in explanation.settings:
        raise InputError(
            f"this Explanation is already aggregated to "
            f"{explanation.settings['aggregated']['level']!r}; aggregate the token-level one"
        )
    groups = units(explanation, level)
    unit_of = {p: u for u, group in enumerate(groups) for p in group}
    matrix = np.zeros((len(explanation.tokens), len(groups)))
    matrix[list(unit_of), list(unit_of.values())] = 1.0
    offsets = tuple(_span(explanation, group) for group in groups)
    return replace(
        explanation,
        tokens=tuple(
            explanation.tokens[g[0]] if explanation.special[g[0]] else explanation.text[start:end]
            for g, (start, end) in zip(groups, offsets)
        ),
        offsets=offsets,
        special=tuple(explanation.special[g[0]] for g in groups),
        word_ids=tuple(explanation.word_ids[g[0]] for g in groups),
        probabilities=explanation.probabilities[[g[0] for g in groups]],
        targets=tuple(_move(target, unit_of) for target in explanation.targets),
        attributions=explanation.attributions @ matrix,
        entities=tuple(
            replace(
                e,
                token_start=unit_of[e.token_start],
                token_end=unit_of[e.token_end - 1] + 1,
                labels=_unit_labels(range(e.token_start, e.token_end), e.labels, unit_of),
            )
            for e in explanation.entities
        ),
        target_probabilities=np.array(
            [explanation.row(t).probability for t in range(len(explanation.targets))]
        ),
        settings={
            **explanation.settings,
            "aggregated": {"level": level, "token_positions": groups},
        },
    )


def _span(explanation: Explanation, group: list[int]) -> tuple[int, int]:
    if explanation.special[group[0]]:
        return explanation.offsets[group[0]]
    return explanation.offsets[group[0]][0], explanation.offsets[group[-1]][1]


def _unit_labels(
    positions: Sequence[int], labels: Sequence[str], unit_of: dict[int, int]
) -> tuple[str, ...]:
    """One label per unit covered: the label of the first token in each unit."""
    chosen: dict[int, str] = {}
    for position, label in zip(positions, labels):
        chosen.setdefault(unit_of[position], label)
    return tuple(chosen.values())


def _move(target: Target, unit_of: dict[int, int]) -> Target:
    """The target with its token positions replaced by the units that hold them."""
    if isinstance(target, EntityTarget):
        labels = _unit_labels(target.positions, target.labels, unit_of)
        start = unit_of[target.start]
        return EntityTarget(start, start + len(labels), target.label, labels)
    if isinstance(target, (TokenTarget, ContrastTarget)):
        return replace(target, position=unit_of[target.position])
    raise InputError(f"cannot aggregate target {target!r}")  # pragma: no cover - closed union
