"""What is explained: typed targets, each a weighted sum of the model's label probabilities.

Every target reduces to *terms* ``(unit, label_id, coefficient)``; its score on an input is
``sum(coefficient * probabilities[unit, label_id])``, where the probabilities are the model
kind's (a softmax per token for a token classifier, a sigmoid per span and label for a span
model) and a unit is a row of them (a token, or a span of tokens: :attr:`Encoding.units
<nerlens.encoding.Encoding.units>`). A target names tokens and labels; the :class:`TargetSpace`
of one model input turns them into rows and columns. Because every kind of target is the same
kind of object to the engine, every method, renderer and the corpus engine serve all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from nerlens.errors import InputError

if TYPE_CHECKING:
    from nerlens.encoding import Encoding

Term = tuple[int, int, float]  # (unit: a row of the probabilities, label id, coefficient)


class TargetSpace(Mapping[str, int]):
    """The labels (each label's column) and the units (each span of tokens' row) of one model
    input's probabilities: what a target's terms index.

    It is the label → column mapping itself, so a target on token units needs nothing more;
    ``units`` (``[start, stop)`` tokens per row, None: one row per token) serve span targets.
    """

    def __init__(
        self, labels: Sequence[str], units: Sequence[tuple[int, int]] | None = None
    ) -> None:
        self._label2id = {label: i for i, label in enumerate(labels)}
        self._units = None if units is None else {span: row for row, span in enumerate(units)}

    def __getitem__(self, label: str) -> int:
        return self._label2id[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self._label2id)

    def __len__(self) -> int:
        return len(self._label2id)

    @property
    def spans(self) -> bool:
        """Whether the rows are spans of a span model (else one row per token)."""
        return self._units is not None

    def unit(self, start: int, end: int) -> int:
        """The row of the span of tokens ``[start, end)``; InputError if the model has none."""
        if self._units is None:
            raise InputError(
                "span targets are for span models (GLiNER); a token classifier explains "
                "TokenTarget, EntityTarget and ContrastTarget"
            )
        row = self._units.get((start, end))
        if row is None:
            raise InputError(
                f"tokens {start}..{end - 1} are not a span this model scores: a span must cover "
                "whole words of the text, at most the model's max_width words"
            )
        return row


def label_id(label: str, label2id: Mapping[str, int]) -> int:
    """The id of ``label``; an unknown label raises an error listing the model's labels."""
    if label not in label2id:
        raise InputError(f"label {label!r} is not one of the model's labels: {sorted(label2id)}")
    return label2id[label]


@dataclass(frozen=True)
class TokenTarget:
    """The probability of ``label`` at token ``position`` (the reference's only kind of target)."""

    position: int
    label: str
    kind: ClassVar[str] = "token"

    @property
    def positions(self) -> tuple[int, ...]:
        return (self.position,)

    def terms(self, label2id: Mapping[str, int]) -> tuple[Term, ...]:
        return ((self.position, label_id(self.label, label2id), 1.0),)

    def describe(self, tokens: Sequence[str]) -> str:
        return f"{tokens[self.position]} → {self.label}"


@dataclass(frozen=True)
class EntityTarget:
    """The mean probability of an entity's labels over its tokens ``[start, end)``.

    ``labels`` holds the label of each token of the span (e.g. B-PER, I-PER, I-PER); ``label``
    names the entity type (PER).
    """

    start: int
    end: int
    label: str
    labels: tuple[str, ...]
    kind: ClassVar[str] = "entity"

    def __post_init__(self) -> None:
        if self.end - self.start != len(self.labels) or self.end <= self.start:
            raise InputError(
                f"EntityTarget span [{self.start}, {self.end}) must be non-empty and have one "
                f"label per token, got {len(self.labels)} labels"
            )

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(range(self.start, self.end))

    def terms(self, label2id: Mapping[str, int]) -> tuple[Term, ...]:
        weight = 1.0 / len(self.labels)
        return tuple(
            (position, label_id(label, label2id), weight)
            for position, label in zip(self.positions, self.labels)
        )

    def describe(self, tokens: Sequence[str]) -> str:
        return f"{' '.join(tokens[self.start : self.end])} → {self.label}"


@dataclass(frozen=True)
class ContrastTarget:
    """Why ``label`` rather than ``foil`` at ``position``: p(label) − p(foil)."""

    position: int
    label: str
    foil: str
    kind: ClassVar[str] = "contrast"

    @property
    def positions(self) -> tuple[int, ...]:
        return (self.position,)

    def terms(self, label2id: Mapping[str, int]) -> tuple[Term, ...]:
        return (
            (self.position, label_id(self.label, label2id), 1.0),
            (self.position, label_id(self.foil, label2id), -1.0),
        )

    def describe(self, tokens: Sequence[str]) -> str:
        return f"{tokens[self.position]} → {self.label} rather than {self.foil}"


@dataclass(frozen=True)
class SpanTarget:
    """A span model's score for ``label`` on the span of tokens ``[start, end)`` (whole words);
    with ``foil``, why ``label`` rather than ``foil`` there: score(label) − score(foil)."""

    start: int
    end: int
    label: str
    foil: str | None = None
    kind: ClassVar[str] = "span"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InputError(f"SpanTarget span [{self.start}, {self.end}) must be non-empty")

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(range(self.start, self.end))

    def terms(self, label2id: Mapping[str, int]) -> tuple[Term, ...]:
        if not isinstance(label2id, TargetSpace):
            label2id = TargetSpace(list(label2id))
        unit = label2id.unit(self.start, self.end)
        own = (unit, label_id(self.label, label2id), 1.0)
        if self.foil is None:
            return (own,)
        return (own, (unit, label_id(self.foil, label2id), -1.0))

    def describe(self, tokens: Sequence[str]) -> str:
        rather = "" if self.foil is None else f" rather than {self.foil}"
        return f"{' '.join(tokens[self.start : self.end])} → {self.label}{rather}"


def span_from_characters(
    document: Encoding, start: int, end: int, label: str, foil: str | None = None
) -> SpanTarget:
    """The SpanTarget on the text's words that make up characters ``[start, end)`` of
    ``document``'s text: they must begin and end at word boundaries."""
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
        raise InputError(f"a span needs character offsets 0 <= start < end, got {start}, {end}")
    inside = [
        p
        for p, (a, b) in enumerate(document.offsets)
        if document.segment(p) == "text" and start <= a and b <= end and a < b
    ]
    words = {document.word_ids[p] for p in inside}
    tokens = [p for p in range(*document.content) if document.word_ids[p] in words]
    if not inside or tokens != inside:
        raise InputError(
            f"characters {start}..{end} ({document.text[start:end]!r}) are not whole words of "
            "the text; give a span that starts and ends at word boundaries"
        )
    return SpanTarget(tokens[0], tokens[-1] + 1, label, foil)


Target = TokenTarget | EntityTarget | ContrastTarget | SpanTarget
TARGET_TYPES: dict[str, type[Target]] = {
    cls.kind: cls for cls in (TokenTarget, EntityTarget, ContrastTarget, SpanTarget)
}


def target_to_dict(target: Target) -> dict[str, Any]:
    """A JSON-ready dict of ``target``, tagged with its kind."""
    return {"kind": target.kind, **asdict(target)}


def target_from_dict(data: Mapping[str, Any]) -> Target:
    """Inverse of :func:`target_to_dict`."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind not in TARGET_TYPES:
        raise InputError(f"unknown target kind {kind!r}; known kinds: {sorted(TARGET_TYPES)}")
    if "labels" in fields:
        fields["labels"] = tuple(fields["labels"])
    return TARGET_TYPES[kind](**fields)


def check_targets(
    targets: Iterable[Target], num_tokens: int, label2id: Mapping[str, int]
) -> tuple[Target, ...]:
    """Validate positions and labels of user-given targets up front, with a clear error."""
    checked = []
    for target in targets:
        if not isinstance(target, tuple(TARGET_TYPES.values())):
            raise InputError(
                "targets must be TokenTarget, EntityTarget, ContrastTarget or SpanTarget, "
                f"got {target!r}"
            )
        if isinstance(label2id, TargetSpace) and label2id.spans != isinstance(target, SpanTarget):
            raise InputError(
                f"target {target!r} does not fit this model: "
                + (
                    "a span model (GLiNER) explains SpanTargets"
                    if label2id.spans
                    else "a token classifier explains TokenTarget, EntityTarget, ContrastTarget"
                )
            )
        for position in target.positions:
            if not 0 <= position < num_tokens:
                raise InputError(
                    f"target {target!r} points at token {position}, but the text has "
                    f"{num_tokens} tokens (valid positions: 0..{num_tokens - 1})"
                )
        target.terms(label2id)
        checked.append(target)
    return tuple(checked)


def check_ignored_labels(labels: Iterable[str], label2id: Mapping[str, int]) -> frozenset[str]:
    """Every ignored label must be one of the model's labels (the reference ignored typos)."""
    labels = list(labels)
    for label in labels:
        label_id(label, label2id)
    return frozenset(labels)


def token_targets(
    predicted_labels: Sequence[str],
    special: Sequence[bool],
    ignored_indexes: Iterable[int] = (),
    ignored_labels: Iterable[str] = (),
    include_special: bool = False,
) -> tuple[TokenTarget, ...]:
    """One target per position for its predicted label, minus the ignored ones, in order."""
    skip_positions = set(ignored_indexes)
    skip_labels = set(ignored_labels)
    return tuple(
        TokenTarget(position, label)
        for position, label in enumerate(predicted_labels)
        if position not in skip_positions
        and label not in skip_labels
        and (include_special or not special[position])
    )


def entity_type(label: str) -> tuple[str, str]:
    """Split a tag into (scheme prefix, type): 'B-PER' → ('B', 'PER'), 'O' → ('O', '')."""
    if label == "O":
        return "O", ""
    prefix, sep, rest = label.partition("-")
    if sep and prefix in {"B", "I", "E", "S", "L", "U"}:
        return prefix, rest
    return "I", label


def entity_targets(
    predicted_labels: Sequence[str], special: Sequence[bool]
) -> tuple[EntityTarget, ...]:
    """Group predicted tags into entities (BIO/IOB1/BIOES tolerant); specials end an entity."""
    entities: list[EntityTarget] = []
    start: int | None = None
    current = ""

    def close(end: int) -> None:
        if start is not None:
            entities.append(EntityTarget(start, end, current, tuple(predicted_labels[start:end])))

    for position, label in enumerate(predicted_labels):
        prefix, kind = entity_type(label)
        begins = prefix in {"B", "S", "U"} or kind != current or special[position]
        if special[position] or prefix == "O":
            close(position)
            start, current = None, ""
        elif begins or start is None:
            close(position)
            start, current = position, kind
        if prefix in {"E", "L", "S", "U"} and start is not None:
            close(position + 1)
            start, current = None, ""
    close(len(predicted_labels))
    return tuple(entities)
