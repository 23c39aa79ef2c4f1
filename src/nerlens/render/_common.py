"""What several renderers need: display text of tokens and targets (as written, or as word
pieces), entity spans, gold comparison, strongest tokens, a span model's label prompt."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from nerlens.aggregation import units
from nerlens.errors import CONVERGENCE_DELTA, InputError, unconverged
from nerlens.explanation import Explanation
from nerlens.gold import GoldSpan, gold_entities
from nerlens.targets import Target

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


View = Literal["words", "tokens"]
VIEWS: tuple[View, ...] = ("words", "tokens")


def check_view(view: object) -> View:
    """``view`` if it is one of :data:`VIEWS`; anything else raises naming the valid values."""
    if view not in VIEWS:
        raise InputError(f"view must be one of {list(VIEWS)}, got {view!r}")
    return view  # type: ignore[return-value]


def shown_level(explanation: Explanation, view: View) -> Explanation:
    """The units a view shows: words (:meth:`Explanation.aggregate` ``("word")``) where the
    explanation has a word view, else the explanation's own units (word pieces, or an
    aggregation the caller already chose)."""
    check_view(view)
    has_words = any(w is not None for w in explanation.word_ids)
    if view == "tokens" or "aggregated" in explanation.settings or not has_words:
        return explanation
    return explanation.aggregate("word")


def unit_names(explanation: Explanation, view: View) -> list[str]:
    """Display names of the units :func:`shown_level` gives: words as written in the text, or
    the tokenizer's pieces (``tokens``); a repeated name carries its position (``the #7``)."""
    return token_names(shown_level(explanation, view).tokens)


def _word_span(explanation: Explanation, position: int) -> tuple[int, int]:
    """The characters of the whole word that holds token ``position`` (a word's tokens are
    adjacent, so only its neighbours are looked at)."""
    word, ids = explanation.word_ids[position], explanation.word_ids
    first = last = position
    while first > 0 and ids[first - 1] == word and not explanation.special[first - 1]:
        first -= 1
    while last + 1 < len(ids) and ids[last + 1] == word and not explanation.special[last + 1]:
        last += 1
    return explanation.offsets[first][0], explanation.offsets[last][1]


def target_text(explanation: Explanation, target: Target, view: View = "words") -> str:
    """What a target is about, for people: its characters as written ("Emmanuel Macron"); a
    word piece is shown in its word ("Macron (n)"); ``view="tokens"`` gives the tokenizer's
    pieces ("emmanuel macro ##n")."""
    check_view(view)
    positions = target.positions
    if view == "tokens" or any(explanation.special[p] for p in positions):
        return " ".join(display_token(explanation.tokens[p]) for p in positions)
    start, end = explanation.offsets[positions[0]][0], explanation.offsets[positions[-1]][1]
    written = explanation.text[start:end]
    if len(positions) == 1 and explanation.word_ids[positions[0]] is not None:
        word_start, word_end = _word_span(explanation, positions[0])
        if (word_start, word_end) != (start, end):
            return f"{explanation.text[word_start:word_end]} ({written})"
    return written


def target_label(target: Target) -> str:
    """The label a target explains; a contrast names its foil: "B-LOC not O"."""
    foil = getattr(target, "foil", None)
    return f"{target.label} not {foil}" if foil else target.label


@dataclass(frozen=True)
class GoldComparison:
    """Predicted entities against the gold, entity by entity (exact span and type)."""

    missed: tuple[GoldSpan, ...]  # in the gold, not predicted exactly
    spurious: tuple[int, ...]  # indexes into Explanation.entities with no exact gold match


def compare_gold(explanation: Explanation) -> GoldComparison | None:
    """Missed and spurious entities, when the explanation was given gold (else None); spans
    are compared on the explanation's own units, as :func:`nerlens.gold.is_correct` does."""
    if explanation.correct is None:
        return None
    golds = gold_entities(
        explanation.gold, explanation.offsets, explanation.special, explanation.labels
    )
    gold_keys = {(g.start, g.end, g.label) for g in golds}
    predicted = [(e.token_start, e.token_end, e.entity_group) for e in explanation.entities]
    return GoldComparison(
        missed=tuple(
            span
            for span, g in zip(explanation.gold, golds)
            if (g.start, g.end, g.label) not in set(predicted)
        ),
        spurious=tuple(i for i, key in enumerate(predicted) if key not in gold_keys),
    )


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


def strongest(
    scores: np.ndarray, count: int, sign: int, skip: Collection[int] = frozenset()
) -> list[int]:
    """Indexes of the ``count`` largest scores of the given sign (+1 for, -1 against), leaving
    out the positions in ``skip`` (a label prompt's, which the views list per label)."""
    order = [int(i) for i in np.argsort(-sign * scores, kind="stable") if int(i) not in skip]
    return [i for i in order if sign * scores[i] > 0][:count]


def prompt_positions(explanation: Explanation) -> tuple[int, ...]:
    """The positions of a span model's label prompt (markers included), in order; ``()`` for a
    model without one (a token classifier)."""
    return tuple(p for p in range(len(explanation.tokens)) if explanation.segment(p) == "prompt")


@dataclass(frozen=True)
class PromptLabel:
    """One label of a span model's prompt and the positions of its tokens (its words in the
    prompt, between two markers)."""

    label: str
    positions: tuple[int, ...]


def prompt_labels(explanation: Explanation) -> tuple[PromptLabel, ...]:
    """The prompt's labels with their positions, in the order of :attr:`Explanation.labels`
    (grouped as :meth:`Explanation.aggregate` ``("word")`` groups them: one label is one unit
    there); ``()`` without a prompt."""
    if not prompt_positions(explanation):
        return ()
    found = units(explanation.special, explanation.word_ids, (), "word", explanation.segments)
    groups = [
        tuple(group)
        for group in found.groups
        if explanation.segment(group[0]) == "prompt" and not explanation.special[group[0]]
    ]
    return tuple(PromptLabel(label, group) for label, group in zip(explanation.labels, groups))


def label_sums(labels: Sequence[PromptLabel], scores: Sequence[float]) -> list[tuple[str, float]]:
    """Each prompt label's contribution to one target: the sum of its tokens' ``scores`` (the
    display's sum of what the Explanation holds, not a new attribution)."""
    return [(label.label, float(sum(scores[p] for p in label.positions))) for label in labels]


def delta_text(delta: float) -> str:
    """A convergence delta for display; "n/a" for methods that have none (NaN)."""
    return "n/a" if math.isnan(delta) else f"{delta:.1e}"


def delta_warning(explanation: Explanation) -> str | None:
    """The library's :class:`~nerlens.errors.ConvergenceWarning` text for this explanation's
    unconverged targets, shown in the view; None when every target converged."""
    return unconverged(explanation.deltas.tolist())
