"""Prediction and target selection: one text's windows' passes → predicted labels and entities,
the targets to explain, each target's home window, and (with gold) whether each is correct.

What this stage returns (:class:`Predicted`) is all attribution needs; the
:class:`~nerlens.Explainer` runs it for each text between the passes and the attributions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from nerlens.encoding import Encoding
from nerlens.entities import Entity, Strategy
from nerlens.gold import GoldSpan
from nerlens.model_input import ModelInput
from nerlens.models.base import ModelKind
from nerlens.targets import Target, TargetSpace, token_targets
from nerlens.windows import (
    Window,
    assign_homes,
    owned_probabilities,
    probabilities_from_homes,
)

TargetSelector = Literal["tokens", "entities", "gold"]


def space_of(kind: ModelKind, document: Encoding) -> TargetSpace:
    """What targets on ``document`` index: the kind's labels, and the document's units when its
    model scores spans."""
    return TargetSpace(kind.labels, None if document.span_width is None else document.units)


@dataclass(frozen=True)
class Predicted:
    """One text after the forward passes at both path ends (every window, the extra ones around
    targets no planned window holds included): what is left is attribution."""

    kind: ModelKind  # with this call's model options
    space: TargetSpace
    document: Encoding
    windows: list[Window]
    inputs: list[ModelInput]
    probabilities: np.ndarray
    entities: tuple[Entity, ...]
    targets: tuple[Target, ...]
    homes: list[int]  # per target, the window that explains it
    gold: tuple[GoldSpan, ...] | None
    correct: tuple[bool, ...] | None


def predict(
    kind: ModelKind,
    document: Encoding,
    windows: list[Window],
    inputs: list[ModelInput],
    selection: TargetSelector | Sequence[Target],
    ignored_indexes: frozenset[int],
    ignored_labels: frozenset[str],
    include_special: bool,
    gold: tuple[GoldSpan, ...] | None = None,
    *,
    max_length: int,
    strategy: Strategy,
    prepare: Callable[[Sequence[Encoding]], list[ModelInput]],
) -> Predicted:
    """The predictions from every window's input (``inputs``), the targets they give, and, made
    by ``prepare``, the inputs of any window added around a target no window holds whole."""
    labels = kind.labels
    space = space_of(kind, document)
    probabilities = owned_probabilities(windows, inputs, (len(document.units), len(labels)))
    entities = kind.entities(document, probabilities, strategy)

    if selection == "tokens":
        predicted = [labels[i] for i in probabilities.argmax(axis=1)]
        targets: tuple[Target, ...] = token_targets(
            predicted, document.special, ignored_indexes, ignored_labels, include_special
        )
    elif selection == "entities":
        targets = tuple(kind.entity_target(e) for e in entities)
    elif selection == "gold":
        targets = kind.error_targets(gold or (), document, probabilities, entities)
    else:
        targets = tuple(selection)
    windows = list(windows)
    homes = assign_homes(document, targets, windows, max_length, kind.word_limit)
    inputs = [*inputs, *prepare([window.encoding for window in windows[len(inputs) :]])]
    units = [sorted({u for u, _, _ in target.terms(space)}) for target in targets]
    if probabilities_from_homes(probabilities, units, homes, windows, inputs):
        # the Explanation's entities follow its probabilities
        entities = kind.entities(document, probabilities, strategy)
    correct: tuple[bool, ...] | None = None
    if gold is not None:  # judged on the Explanation's own probabilities and entities
        correct = kind.correctness(gold, document, probabilities, entities, targets)
    return Predicted(
        kind,
        space,
        document,
        windows,
        inputs,
        probabilities,
        entities,
        targets,
        homes,
        gold,
        correct,
    )
