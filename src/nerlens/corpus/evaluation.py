"""Gold against predictions, entity by entity: an entity is right when its span and its type
both match (seqeval's entity level).

A token classifier's entities are read from its word tags, as seqeval reads them; a span model
(GLiNER) predicts labelled spans, which are compared as they are, with no tags in between. Both
become, per document, a set of ``(type, start, end)`` character spans of its text, and one rule
scores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Entities = set[tuple[str, int, int]]  # (type, start, end): characters of the document's text
AVERAGES = ("micro avg", "macro avg", "weighted avg")


def tag_entities(text: str, tags: Sequence[str]) -> Entities:
    """The entities of the word ``tags`` of ``text`` (its words joined by single spaces, as a
    CoNLL document's text is), read as seqeval reads tags, as character spans."""
    from seqeval.metrics.sequence_labeling import get_entities

    starts = np.cumsum([0] + [len(word) + 1 for word in text.split(" ")])
    return {
        (label, int(starts[first]), int(starts[last + 1] - 1))
        for label, first, last in get_entities(list(tags))
    }


def predicted_entities(
    text: str, tags: Sequence[str] | None, entities: Iterable[Mapping[str, Any]]
) -> Entities:
    """What a model predicted in a document: the entities of its word ``tags`` where it tags
    tokens, else (a span model: ``tags`` is None) its ``entities`` as they are."""
    if tags is not None:
        return tag_entities(text, tags)
    return {(e["entity_group"], int(e["start"]), int(e["end"])) for e in entities}


def entity_scores(documents: Iterable[tuple[Entities, Entities]]) -> pd.DataFrame:
    """Precision, recall, F1 and support per type (sorted), then their micro, macro and
    weighted (by support) averages, from each document's ``(gold, predicted)`` entities: the
    rows and numbers of seqeval's ``classification_report`` (a ratio with a zero denominator
    is 0)."""
    import pandas as pd

    pairs = list(documents)
    types = sorted({label for gold, predicted in pairs for label, _, _ in gold | predicted})
    counts = np.zeros((3, len(types)))  # per type: true positives, predicted, gold
    for gold, predicted in pairs:
        for row, found in enumerate((gold & predicted, predicted, gold)):
            for label, _, _ in found:
                counts[row, types.index(label)] += 1
    support = counts[2]
    per_type = np.stack(_ratios(*counts))  # (precision, recall, f1) × types
    micro = np.stack(_ratios(*counts.sum(axis=1, keepdims=True)))[:, 0]
    macro = per_type.mean(axis=1) if types else np.zeros(3)
    weighted = np.average(per_type, axis=1, weights=support) if support.sum() else np.zeros(3)
    frame = pd.DataFrame(
        np.vstack([per_type.T, micro, macro, weighted]), columns=["precision", "recall", "f1"]
    )
    frame.insert(0, "type", [*types, *AVERAGES])
    frame["support"] = [*support.astype(int).tolist(), *[int(support.sum())] * len(AVERAGES)]
    return frame


def _ratios(
    hits: np.ndarray, predicted: np.ndarray, gold: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per column (0 where a denominator is 0)."""
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, gold, out=np.zeros_like(hits), where=gold > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return precision, recall, f1


def entity_errors(gold: Entities, predicted: Entities) -> list[tuple[str, str, int, int]]:
    """``(kind, type, start, end)`` of every false positive, then every false negative, each in
    text order."""
    return [
        (kind, label, start, end)
        for kind, wrong in (
            ("false positive", predicted - gold),
            ("false negative", gold - predicted),
        )
        for label, start, end in sorted(wrong, key=lambda e: (e[1], e[2], e[0]))
    ]
