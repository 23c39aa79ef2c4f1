"""Gold entities: character spans with types, given by the caller or read from CoNLL/IOB files.

A gold span is ``(start, end, label)`` into the unchanged text, ``label`` being the entity type
("LOC"), as the token-classification pipeline reports ``entity_group``. CoNLL sentences become
texts by joining their words with single spaces, so their spans are exact by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerlens.errors import InputError
from nerlens.targets import ContrastTarget, EntityTarget, Target, entity_targets, entity_type

if TYPE_CHECKING:
    import numpy as np

    from nerlens.entities import Entity

DOCSTART = "-DOCSTART-"


@dataclass(frozen=True, order=True)
class GoldSpan:
    """One gold entity: the characters ``text[start:end]`` are an entity of type ``label``."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class GoldDocument:
    """A sentence of a CoNLL/IOB file: its text, words, tags and gold spans."""

    text: str
    words: tuple[str, ...]
    tags: tuple[str, ...]
    spans: tuple[GoldSpan, ...]
    line: int  # 1-based line of the sentence's first word in the source


def check_gold(gold: Iterable[Any], text: str) -> tuple[GoldSpan, ...]:
    """Gold spans as GoldSpans, sorted; each must be ``(start, end, label)`` inside ``text``.

    Accepts GoldSpan objects, ``(start, end, label)`` tuples/lists and ``{"start", "end",
    "label"}`` dicts. Overlapping spans are rejected (an IOB tagger cannot predict them).
    """
    spans = sorted(_as_span(item) for item in gold)
    for span in spans:
        if not 0 <= span.start < span.end <= len(text):
            raise InputError(
                f"gold span {tuple(vars(span).values())!r} is not a non-empty span of the text "
                f"(valid: 0 <= start < end <= {len(text)})"
            )
    for before, after in pairwise(spans):
        if after.start < before.end:
            raise InputError(f"gold spans {before} and {after} overlap; give disjoint spans")
    return tuple(spans)


def _as_span(item: Any) -> GoldSpan:
    if isinstance(item, GoldSpan):
        return item
    if isinstance(item, Mapping):
        item = (item.get("start"), item.get("end"), item.get("label"))
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3:
        start, end, label = item
        if (
            isinstance(start, int)
            and isinstance(end, int)
            and not isinstance(start, bool)
            and not isinstance(end, bool)
            and isinstance(label, str)
            and label.strip()
        ):
            return GoldSpan(start, end, label)
    raise InputError(
        f"a gold entity must be (start, end, label) with int offsets and a type such as 'LOC', "
        f"got {item!r}"
    )


def spans_from_tags(words: Sequence[str], tags: Sequence[str]) -> tuple[str, tuple[GoldSpan, ...]]:
    """The text (words joined by single spaces) and the gold spans of its IOB/BIOES tags."""
    if len(words) != len(tags):
        raise InputError(f"got {len(words)} words but {len(tags)} tags; give one tag per word")
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    text = " ".join(words)
    entities = entity_targets(list(tags), [False] * len(tags))
    spans = tuple(
        GoldSpan(starts[e.start], starts[e.end - 1] + len(words[e.end - 1]), e.label)
        for e in entities
    )
    return text, spans


def read_conll(source: str | Path | Iterable[str]) -> Iterator[GoldDocument]:
    """Sentences of a CoNLL/IOB file (a path, or its lines): first column the word, last the tag.

    Blank lines end a sentence; ``-DOCSTART-`` lines are skipped. A line with a single column
    raises :class:`InputError` naming its line number.
    """
    if isinstance(source, (str, Path)):
        with Path(source).open(encoding="utf-8") as lines:
            yield from read_conll(lines)
        return
    words: list[str] = []
    tags: list[str] = []
    first = 0
    for number, raw in enumerate(source, start=1):
        columns = raw.split()
        if not columns or columns[0] == DOCSTART:
            if words:
                yield _document(words, tags, first)
                words, tags = [], []
            continue
        if len(columns) < 2:
            raise InputError(
                f"line {number}: {raw.rstrip()!r} has no tag column; CoNLL lines are "
                "'WORD ... TAG' separated by whitespace"
            )
        if not words:
            first = number
        words.append(columns[0])
        tags.append(columns[-1])
    if words:
        yield _document(words, tags, first)


def _document(words: list[str], tags: list[str], line: int) -> GoldDocument:
    text, spans = spans_from_tags(words, tags)
    return GoldDocument(text, tuple(words), tuple(tags), spans, line)


# ---------------------------------------------------------------------- gold against predictions
def covered_tokens(
    span: GoldSpan, offsets: Sequence[tuple[int, int]], special: Sequence[bool]
) -> list[int]:
    """Positions of the non-special tokens whose characters overlap ``span`` (at least one)."""
    inside = [
        p
        for p, ((start, end), s) in enumerate(zip(offsets, special))
        if not s and start < span.end and span.start < end
    ]
    if not inside:
        raise InputError(f"gold span {span} covers no token of the text")
    return inside


def gold_tags(
    spans: Sequence[GoldSpan],
    offsets: Sequence[tuple[int, int]],
    special: Sequence[bool],
    labels: Sequence[str],
) -> tuple[str, ...]:
    """The gold tag of every token: ``B-TYPE`` on a span's first token, ``I-TYPE`` on the rest
    (a tag the model lacks falls back to ``I-TYPE`` then ``TYPE``), ``O`` outside spans."""
    tags = ["O"] * len(offsets)
    for span in spans:
        inside = covered_tokens(span, offsets, special)
        first = _model_tag(("B", "I", ""), span.label, labels)
        rest = _model_tag(("I", ""), span.label, labels)
        tags[inside[0]] = first
        for p in inside[1:]:
            tags[p] = rest
    return tuple(tags)


def check_gold_types(spans: Iterable[GoldSpan], labels: Sequence[str]) -> None:
    """Every gold type must be a type of the model's labels (checked before any model work)."""
    for span in spans:
        _model_tag(("B", "I", ""), span.label, labels)


def _model_tag(prefixes: Sequence[str], label: str, labels: Sequence[str]) -> str:
    for prefix in prefixes:
        tag = f"{prefix}-{label}" if prefix else label
        if tag in labels:
            return tag
    types = sorted({entity_type(lab)[1] for lab in labels} - {""})
    raise InputError(f"gold type {label!r} is not a type of the model's labels; types: {types}")


def gold_entities(
    spans: Sequence[GoldSpan],
    offsets: Sequence[tuple[int, int]],
    special: Sequence[bool],
    labels: Sequence[str],
) -> tuple[EntityTarget, ...]:
    """One EntityTarget per gold span, on the tokens it covers, with the gold tags."""
    tags = gold_tags(spans, offsets, special, labels)
    targets = []
    for span in spans:
        inside = covered_tokens(span, offsets, special)
        targets.append(
            EntityTarget(inside[0], inside[-1] + 1, span.label, tuple(tags[p] for p in inside))
        )
    return tuple(targets)


def is_correct(
    target: Target,
    predicted: Sequence[str],
    tags: Sequence[str],
    gold_spans: set[tuple[int, int, str]],
    predicted_spans: set[tuple[int, int, str]],
) -> bool:
    """Whether the model got the target's tokens right against the gold.

    Token and contrast targets: the predicted tag equals the gold tag at the position. Entity
    targets: the gold and the prediction both hold exactly this entity, ``(token_start,
    token_end, type)``, as in entity-level (seqeval-style) scoring.
    """
    if isinstance(target, EntityTarget):
        key = (target.start, target.end, target.label)
        return key in gold_spans and key in predicted_spans
    return predicted[target.position] == tags[target.position]


def correctness(
    spans: Sequence[GoldSpan],
    offsets: Sequence[tuple[int, int]],
    special: Sequence[bool],
    labels: Sequence[str],
    probabilities: np.ndarray,
    entities: Sequence[Entity],
    targets: Sequence[Target],
) -> tuple[bool, ...]:
    """Per target, :func:`is_correct`: whether the prediction there (``probabilities``, tokens ×
    ``labels``, and the predicted ``entities``, as an Explanation holds them) matches the gold."""
    predicted = [labels[i] for i in probabilities.argmax(axis=1)]
    tags = gold_tags(spans, offsets, special, labels)
    gold_keys = {(e.start, e.end, e.label) for e in gold_entities(spans, offsets, special, labels)}
    found_keys = {(e.token_start, e.token_end, e.entity_group) for e in entities}
    return tuple(is_correct(t, predicted, tags, gold_keys, found_keys) for t in targets)


def error_targets(
    spans: Sequence[GoldSpan],
    offsets: Sequence[tuple[int, int]],
    special: Sequence[bool],
    labels: Sequence[str],
    predicted: Sequence[str],
    predicted_entities: Sequence[EntityTarget],
) -> tuple[Target, ...]:
    """Targets that ask "why not the truth?" wherever the model was wrong, in text order.

    For a gold entity the model missed or got wrong: an EntityTarget on the gold span and type,
    and a ContrastTarget "predicted rather than gold" at its first mistaken token. For a
    predicted entity with no gold match: a ContrastTarget "predicted rather than O" at its first
    token.
    """
    tags = gold_tags(spans, offsets, special, labels)
    found = {(e.start, e.end, e.label) for e in predicted_entities}
    targets: list[Target] = []
    gold_keys = set()
    for entity in gold_entities(spans, offsets, special, labels):
        gold_keys.add((entity.start, entity.end, entity.label))
        if (entity.start, entity.end, entity.label) in found:
            continue
        targets.append(entity)
        wrong = [p for p in entity.positions if predicted[p] != tags[p]]
        if wrong:
            targets.append(ContrastTarget(wrong[0], predicted[wrong[0]], tags[wrong[0]]))
    for entity in predicted_entities:
        if (entity.start, entity.end, entity.label) not in gold_keys and tags[entity.start] == "O":
            targets.append(ContrastTarget(entity.start, predicted[entity.start], "O"))
    return tuple(sorted(targets, key=lambda t: t.positions[0]))


def spans_from_text_tags(text: str, tags: Sequence[str]) -> tuple[GoldSpan, ...]:
    """Gold spans of IOB/BIOES ``tags`` given one per whitespace-separated word of ``text``."""
    words = list(re.finditer(r"\S+", text))
    if len(words) != len(tags):
        raise InputError(
            f"got {len(tags)} gold tags for {len(words)} whitespace-separated words; "
            "give one tag per word"
        )
    entities = entity_targets(list(tags), [False] * len(tags))
    return tuple(
        GoldSpan(words[e.start].start(), words[e.end - 1].end(), e.label) for e in entities
    )
