"""Gold entities: character spans with types, given by the caller or read from CoNLL/IOB files.

A gold span is ``(start, end, label)`` into the unchanged text, ``label`` being the entity type
("LOC"), as the token-classification pipeline reports ``entity_group``. CoNLL sentences become
texts by joining their words with single spaces, so their spans are exact by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from nerlens.errors import InputError
from nerlens.targets import entity_targets

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
