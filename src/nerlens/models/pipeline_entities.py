"""Predicted entities exactly as ``transformers.pipeline("token-classification")`` groups them.

The pipeline's ``aggregation_strategy`` values are mirrored one for one (read from transformers'
``pipelines/token_classification.py``):

- ``"simple"`` (default): each non-special token keeps its own argmax label and probability;
  adjacent tokens of the same type are grouped unless a token's tag starts with ``B-``. A word can
  be split between entities (``Angela[PER] Mer[ORG]kel[PER]``).
- ``"first"`` / ``"average"`` / ``"max"``: tokens are first merged into words (a token is a
  continuation when, for a tokenizer with a continuing-subword prefix such as ``##``, its token
  text is longer or shorter than the characters it covers; otherwise when no space precedes it).
  The word takes the label of its first token, of its averaged probabilities, or of its most
  confident token; words are then grouped as above, so a word is never split between entities.

An entity's ``score`` is the mean of its units' scores and ``word`` the tokenizer's
``convert_tokens_to_string`` of its tokens, as in the pipeline; entities of type ``O`` are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedTokenizerBase

from nerlens.encoding import Encoding
from nerlens.entities import Entity, Strategy, check_strategy


@dataclass(frozen=True)
class _Unit:
    """A token (``simple``) or a word (other strategies) with the label the pipeline gives it."""

    label: str
    score: float
    word: str
    positions: tuple[int, ...]


def predicted_entities(
    encoding: Encoding,
    probabilities: np.ndarray,
    labels: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    strategy: Strategy = "simple",
) -> tuple[Entity, ...]:
    """The entities the pipeline would return for ``encoding`` given the label ``probabilities``."""
    check_strategy(strategy)
    positions = [p for p, special in enumerate(encoding.special) if not special]
    words = [_token_word(encoding, tokenizer, p) for p in positions]
    if strategy == "simple":
        units = [
            _Unit(labels[int(probabilities[p].argmax())], float(probabilities[p].max()), w, (p,))
            for p, w in zip(positions, words)
        ]
    else:
        groups: list[list[int]] = []
        for i, p in enumerate(positions):
            if groups and _is_subword(encoding, tokenizer, p):
                groups[-1].append(i)
            else:
                groups.append([i])
        units = [
            _word_unit(
                [positions[i] for i in g],
                [words[i] for i in g],
                probabilities,
                labels,
                tokenizer,
                strategy,
            )
            for g in groups
        ]
    entities = []
    for group in _group(units):
        entity_group = group[0].label.split("-", 1)[-1]
        if entity_group == "O":
            continue
        token_positions = [p for unit in group for p in unit.positions]
        entities.append(
            Entity(
                entity_group=entity_group,
                score=float(np.nanmean([unit.score for unit in group])),
                word=tokenizer.convert_tokens_to_string([unit.word for unit in group]),
                start=encoding.offsets[token_positions[0]][0],
                end=encoding.offsets[token_positions[-1]][1],
                token_start=token_positions[0],
                token_end=token_positions[-1] + 1,
                labels=tuple(label for unit in group for label in _token_labels(unit, labels)),
            )
        )
    return tuple(entities)


def _token_word(encoding: Encoding, tokenizer: PreTrainedTokenizerBase, position: int) -> str:
    """The pipeline's ``word`` of one token: its token text, or its characters if unknown."""
    if encoding.input_ids[position] == tokenizer.unk_token_id:
        return encoding.surface(position)
    return encoding.tokens[position]


def _is_subword(encoding: Encoding, tokenizer: PreTrainedTokenizerBase, position: int) -> bool:
    """The pipeline's test for a token continuing the previous token's word."""
    if encoding.input_ids[position] == tokenizer.unk_token_id:
        return False
    start, end = encoding.offsets[position]
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None and getattr(backend.model, "continuing_subword_prefix", None):
        return len(encoding.tokens[position]) != end - start
    return start > 0 and " " not in encoding.text[start - 1 : start + 1]


def _word_unit(
    positions: list[int],
    words: list[str],
    probabilities: np.ndarray,
    labels: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    strategy: Strategy,
) -> _Unit:
    """One word's label and score under the ``first``, ``average`` or ``max`` strategy."""
    rows = probabilities[positions]
    if strategy == "first":
        scores = rows[0]
    elif strategy == "max":
        scores = rows[int(rows.max(axis=1).argmax())]
    else:
        scores = np.nanmean(rows, axis=0)
    best = int(scores.argmax())
    word = tokenizer.convert_tokens_to_string(words)
    return _Unit(labels[best], float(scores[best]), word, tuple(positions))


def _tag(label: str) -> tuple[str, str]:
    """The pipeline's ``get_tag``: only ``B-``/``I-`` are prefixes; anything else continues."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def _group(units: list[_Unit]) -> list[list[_Unit]]:
    """Adjacent units of the same type, a ``B-`` unit starting a new group (``group_entities``)."""
    groups: list[list[_Unit]] = []
    for unit in units:
        prefix, tag = _tag(unit.label)
        if groups and tag == _tag(groups[-1][-1].label)[1] and prefix != "B":
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return groups


def _token_labels(unit: _Unit, labels: Sequence[str]) -> list[str]:
    """A unit's label on its first token; later subwords of a ``B-`` word continue as ``I-``."""
    rest = unit.label
    if unit.label.startswith("B-") and f"I-{unit.label[2:]}" in labels:
        rest = f"I-{unit.label[2:]}"
    return [unit.label] + [rest] * (len(unit.positions) - 1)
