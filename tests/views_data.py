"""Explanations for the view tests: of a given shape (no model: the views only read the data),
and a tiny GLiNER's, whose label prompt the views show as its own row."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from conftest import SEED_TEXT
from nerlens import EntityTarget, Explainer, Explanation, TokenTarget

GLINER_LABELS = ("person", "location")


def long_explanation(
    labels: tuple[str, ...], words: int = 1998, entities: int = 150
) -> Explanation:
    """A ``words + 2``-token document with ``entities`` three-token entity targets and random
    scores: the shape of a long windowed explanation."""
    rng = np.random.default_rng(0)
    tokens = [f"w{i}" for i in range(words)]
    offsets, cursor = [(0, 0)], 0
    for token in tokens:
        offsets.append((cursor, cursor + len(token)))
        cursor += len(token) + 1
    offsets.append((0, 0))
    targets = tuple(
        EntityTarget(start, start + 3, "PER", ("B-PER", "I-PER", "I-PER"))
        for start in range(1, 1 + entities * 13, 13)
    )
    num = len(offsets)
    return Explanation(
        text=" ".join(tokens),
        tokens=("[CLS]", *tokens, "[SEP]"),
        offsets=tuple(offsets),
        special=(True, *[False] * words, True),
        word_ids=(None, *range(words), None),
        labels=labels,
        probabilities=rng.dirichlet(np.ones(len(labels)), size=num),
        targets=targets,
        attributions=rng.normal(size=(len(targets), num)) * rng.random((len(targets), 1)),
        target_values=np.ones(len(targets)),
        baseline_values=np.zeros(len(targets)),
        deltas=np.full(len(targets), 1e-4),
        steps=np.full(len(targets), 8, dtype=np.int64),
    )


def windowed_token_explanation(labels: tuple[str, ...], window: int = 512) -> Explanation:
    """A 2,000-token document with a token target at every word, each scored only inside its
    ``window``-token model window (zeros elsewhere), as long texts are explained."""
    base = long_explanation(labels, entities=0)
    num = len(base.tokens)
    rng = np.random.default_rng(1)
    targets = tuple(TokenTarget(p, "O") for p in range(1, num - 1))
    attributions = np.zeros((len(targets), num))
    for row, target in enumerate(targets):
        start = max(0, min(target.position - window // 2, num - window))
        attributions[row, start : start + window] = rng.normal(size=window)
    return replace(
        base,
        targets=targets,
        attributions=attributions,
        target_values=np.ones(len(targets)),
        baseline_values=np.zeros(len(targets)),
        deltas=np.full(len(targets), 1e-4),
        steps=np.full(len(targets), 8, dtype=np.int64),
    )


def gliner_explainer(gliner, labels=GLINER_LABELS) -> Explainer:
    """Occlusion on the tiny GLiNER with a prompt of ``labels``, entities above 0.3."""
    model, tokenizer = gliner
    return Explainer(model, tokenizer, "occlusion", labels=list(labels), threshold=0.3)


def gliner_explanation(gliner, labels=GLINER_LABELS, contrast: bool = False) -> Explanation:
    """The tiny GLiNER's explanation of the seed sentence: its entities as span targets, and
    with ``contrast`` one more, why "Paris" is a location rather than a person."""
    explainer = gliner_explainer(gliner, labels)
    entities = explainer(SEED_TEXT)
    if not contrast:
        return entities
    paris = SEED_TEXT.index("Paris")
    why = explainer.span_target(SEED_TEXT, paris, paris + 5, "location", foil="person")
    return explainer(SEED_TEXT, targets=[*entities.targets, why])


def label_unit_scores(explanation: Explanation, index: int) -> dict[str, float]:
    """Each prompt label's score for target ``index`` in the word view, where a label is one
    unit (read from ``aggregate("word")``, independently of the renderers)."""
    words = explanation.aggregate("word")
    scores = words.row(index).scores
    return {
        words.tokens[u]: scores[u]
        for u in range(len(words.tokens))
        if words.segment(u) == "prompt" and not words.special[u]
    }
