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

This module finds the units and moves positions onto them; :meth:`Explanation.aggregate
<nerlens.explanation.Explanation.aggregate>` builds the view from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np

from nerlens.errors import InputError
from nerlens.targets import ContrastTarget, EntityTarget, SpanTarget, Target, TokenTarget

if TYPE_CHECKING:
    from nerlens.entities import Entity

Level = Literal["word", "entity"]
LEVELS: tuple[Level, ...] = ("word", "entity")


def units(
    special: Sequence[bool],
    word_ids: Sequence[int | None],
    entities: Sequence[Entity],
    level: Level,
    segments: Sequence[str] = (),
) -> Units:
    """The text's units at ``level``, in text order. A label prompt's tokens between two
    special tokens (one label: ``<<ENT>> name of a person <<ENT>>``) are one unit."""
    if level not in LEVELS:
        raise InputError(f"aggregation level must be one of {list(LEVELS)}, got {level!r}")
    entity_of: dict[int, int] = {}
    if level == "entity":
        for index, entity in enumerate(entities):
            entity_of.update(dict.fromkeys(range(entity.token_start, entity.token_end), index))
    groups: list[list[int]] = []
    previous: tuple[str, int] | None = None
    prompt_label = 0
    for position, (is_special, word) in enumerate(zip(special, word_ids)):
        in_prompt = bool(segments) and segments[position] == "prompt"
        if in_prompt and not is_special:
            key: tuple[str, int] | None = ("prompt", prompt_label)
        elif is_special or word is None:
            prompt_label += int(in_prompt)
            key = None
        elif position in entity_of:
            key = ("entity", entity_of[position])
        else:
            key = ("word", word)
        if key is not None and key == previous:
            groups[-1].append(position)
        else:
            groups.append([position])
        previous = key
    return Units(groups)


@dataclass(frozen=True)
class Units:
    """The units of a text (``groups``: the token positions of each, in text order) and how
    tokens map onto them."""

    groups: list[list[int]]

    @cached_property
    def unit_of(self) -> dict[int, int]:
        """Each token position's unit."""
        return {p: u for u, group in enumerate(self.groups) for p in group}

    @property
    def firsts(self) -> list[int]:
        """The first token position of each unit."""
        return [group[0] for group in self.groups]

    def sums(self, attributions: np.ndarray) -> np.ndarray:
        """Per row of ``attributions`` (targets × tokens), the exact sum over each unit's tokens."""
        matrix = np.zeros((attributions.shape[1], len(self.groups)))
        matrix[list(self.unit_of), list(self.unit_of.values())] = 1.0
        return attributions @ matrix

    def offsets(
        self, offsets: Sequence[tuple[int, int]], special: Sequence[bool]
    ) -> tuple[tuple[int, int], ...]:
        """Each unit's characters: from its first token's start to its last token's end (a
        special token keeps its own offsets)."""
        return tuple(
            offsets[group[0]]
            if special[group[0]]
            else (offsets[group[0]][0], offsets[group[-1]][1])
            for group in self.groups
        )

    def move(self, target: Target) -> Target:
        """The target with its token positions replaced by the units that hold them."""
        if isinstance(target, EntityTarget):
            labels = self._labels(target.positions, target.labels)
            start = self.unit_of[target.start]
            return EntityTarget(start, start + len(labels), target.label, labels)
        if isinstance(target, (TokenTarget, ContrastTarget)):
            return replace(target, position=self.unit_of[target.position])
        if isinstance(target, SpanTarget):
            start, end = self.move_span((target.start, target.end))
            return replace(target, start=start, end=end)
        raise InputError(f"cannot aggregate target {target!r}")  # pragma: no cover - closed union

    def move_span(self, span: tuple[int, int]) -> tuple[int, int]:
        """The units that hold tokens ``[start, stop)``, as ``[first unit, last unit + 1)``."""
        return self.unit_of[span[0]], self.unit_of[span[1] - 1] + 1

    def move_entity(self, entity: Entity) -> Entity:
        """The predicted entity on the units that hold its tokens."""
        return replace(
            entity,
            token_start=self.unit_of[entity.token_start],
            token_end=self.unit_of[entity.token_end - 1] + 1,
            labels=self._labels(range(entity.token_start, entity.token_end), entity.labels),
        )

    def _labels(self, positions: Sequence[int], labels: Sequence[str]) -> tuple[str, ...]:
        """One label per unit covered: the label of the first token in each unit."""
        chosen: dict[int, str] = {}
        for position, label in zip(positions, labels):
            chosen.setdefault(self.unit_of[position], label)
        return tuple(chosen.values())
