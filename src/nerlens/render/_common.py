"""What several renderers need: display text of tokens, entity spans, strongest tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nerlens.errors import CONVERGENCE_DELTA
from nerlens.explanation import Explanation
from nerlens.targets import entity_targets

BPE_MARKERS = ("Ġ", "▁")
DELTA_WARNING = CONVERGENCE_DELTA  # a convergence delta this large: scores not to be trusted


def display_token(token: str) -> str:
    """A token as people read it: byte-level/sentencepiece space markers removed."""
    for marker in BPE_MARKERS:
        token = token.replace(marker, "")
    return token


@dataclass(frozen=True)
class EntitySpan:
    """A predicted entity as a character span of the original text."""

    start: int
    end: int
    label: str
    text: str


def entity_spans(explanation: Explanation) -> list[EntitySpan]:
    """The predicted entities of the text, in order, with their character spans."""
    spans = []
    for entity in entity_targets(explanation.predicted_labels, explanation.special):
        start = explanation.offsets[entity.start][0]
        end = explanation.offsets[entity.end - 1][1]
        spans.append(EntitySpan(start, end, entity.label, explanation.text[start:end]))
    return spans


def strongest(scores: np.ndarray, count: int, sign: int) -> list[int]:
    """Indexes of the ``count`` largest scores of the given sign (+1 for, -1 against)."""
    order = np.argsort(-sign * scores, kind="stable")
    return [int(i) for i in order[:count] if sign * scores[i] > 0]


def unconverged(explanation: Explanation, threshold: float = DELTA_WARNING) -> list[int]:
    """Indexes of targets whose |convergence delta| exceeds ``threshold``."""
    return [i for i, delta in enumerate(explanation.deltas) if abs(delta) > threshold]


def delta_warning(explanation: Explanation) -> str | None:
    """A one-line warning naming the targets whose attributions did not converge, if any."""
    bad = unconverged(explanation)
    if not bad:
        return None
    worst = max(abs(explanation.deltas[i]) for i in bad)
    return (
        f"{len(bad)} of {len(explanation)} targets have |convergence delta| > {DELTA_WARNING:g} "
        f"(worst {worst:.2g}): their scores do not add up to the change in probability; "
        "use more steps or n_steps='auto'"
    )
