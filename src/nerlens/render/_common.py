"""What several renderers need: display text of tokens, entity spans, strongest tokens."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nerlens.errors import CONVERGENCE_DELTA
from nerlens.explanation import Explanation

BPE_MARKERS = ("Ġ", "▁")
DELTA_WARNING = CONVERGENCE_DELTA  # a convergence delta this large: scores not to be trusted


def display_token(token: str) -> str:
    """A token as people read it: byte-level/sentencepiece space markers removed."""
    for marker in BPE_MARKERS:
        token = token.replace(marker, "")
    return token


def token_names(tokens: Sequence[str]) -> list[str]:
    """Display names of tokens; a text that occurs more than once carries its position: "the #7"."""
    shown = [display_token(t) for t in tokens]
    counts = Counter(shown)
    return [f"{t} #{i}" if counts[t] > 1 else t for i, t in enumerate(shown)]


@dataclass(frozen=True)
class EntitySpan:
    """A predicted entity as a character span of the original text."""

    start: int
    end: int
    label: str
    text: str


def entity_spans(explanation: Explanation) -> list[EntitySpan]:
    """The predicted entities of the text (:attr:`Explanation.entities`) as character spans."""
    return [
        EntitySpan(e.start, e.end, e.entity_group, explanation.text[e.start : e.end])
        for e in explanation.entities
    ]


def strongest(scores: np.ndarray, count: int, sign: int) -> list[int]:
    """Indexes of the ``count`` largest scores of the given sign (+1 for, -1 against)."""
    order = np.argsort(-sign * scores, kind="stable")
    return [int(i) for i in order[:count] if sign * scores[i] > 0]


def delta_text(delta: float) -> str:
    """A convergence delta for display; "n/a" for methods that have none (NaN)."""
    return "n/a" if math.isnan(delta) else f"{delta:.1e}"


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
