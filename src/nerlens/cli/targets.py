"""What ``nerlens explain`` explains: the targets chosen on the command line (--targets,
--position, --entity, --contrast, --span), parsed and checked in CLI terms, then built from the
model's predictions. What a model can be asked is the model kind's to say (its selectors)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from nerlens.cli.common import check_choice, fail, require
from nerlens.cli.model import predict

if TYPE_CHECKING:
    from nerlens.explainer import Explainer
    from nerlens.explanation import Explanation
    from nerlens.targets import Target

SELECTORS = ("tokens", "entities", "gold")
OFFSETS = re.compile(r"(\d+):(\d+)")  # a --span's WHERE as character offsets START:END


@dataclass(frozen=True)
class SpanChoice:
    """One --span WHERE=LABEL[:FOIL]: characters ``(start, end)`` or a text (each of its
    whole-word occurrences), and ``labels``: LABEL, or LABEL:FOIL, split once the model's
    labels are known (a label may hold a colon)."""

    given: str  # as typed, for messages
    where: tuple[int, int] | str
    labels: str


@dataclass(frozen=True)
class Choice:
    """What the user asked to explain, as given on the command line."""

    targets: str | None
    positions: tuple[int, ...]
    entities: tuple[str, ...]
    contrasts: tuple[tuple[str, str], ...]
    ignore_labels: tuple[str, ...]
    ignore_indexes: tuple[int, ...]
    spans: tuple[SpanChoice, ...] = ()

    @property
    def explicit(self) -> bool:
        return bool(self.positions or self.entities or self.contrasts or self.spans)


# ---------------------------------------------------------------------- parsing
def parse_contrast(value: str) -> tuple[str, str]:
    label, _, foil = value.partition(":")
    require(
        bool(label) and bool(foil) and label != foil,
        f"--contrast must be LABEL:FOIL with two different labels, e.g. B-LOC:B-ORG; got {value!r}",
    )
    return label, foil


def parse_span(value: str, text: str) -> SpanChoice:
    """A --span ``START:END=LABEL[:FOIL]`` (character offsets) or ``TEXT=LABEL[:FOIL]``; the
    last ``=`` separates the labels, so a TEXT may hold one."""
    where, _, labels = value.rpartition("=")
    require(
        bool(where) and bool(labels.strip(":")),
        f"--span must be START:END=LABEL or TEXT=LABEL (':FOIL' for a contrast), e.g. "
        f"0:5=organization or 'Apple=organization:person'; got {value!r}",
    )
    offsets = OFFSETS.fullmatch(where)
    if offsets is None:
        require(where in text, f"--span {value!r}: {where!r} does not occur in the text")
        return SpanChoice(value, where, labels)
    start, end = int(offsets[1]), int(offsets[2])
    require(
        start < end <= len(text),
        f"--span {value!r}: START:END must satisfy START < END <= {len(text)} (the text's "
        "length in characters)",
    )
    return SpanChoice(value, (start, end), labels)


# ---------------------------------------------------------------------- checks
def check_choice_options(choice: Choice) -> None:
    """Combinations of the target options that cannot mean anything are refused, in CLI terms."""
    check_choice(choice.targets, "--targets", SELECTORS)
    require(
        not (choice.explicit and choice.targets),
        "--targets chooses every token or entity; --position, --entity, --contrast and --span "
        "choose some: give one or the other",
    )
    ignoring = choice.ignore_labels or choice.ignore_indexes
    require(
        not ignoring or not (choice.explicit or choice.targets == "entities"),
        "--ignore-label and --ignore-index apply only to token targets (--targets tokens, "
        "the default when they are given)",
    )
    require(
        not (choice.spans and (choice.positions or choice.contrasts)),
        "--span names its span and labels itself: give it without --position and --contrast",
    )


def check_against_model(explainer: Explainer, choice: Choice, model: str) -> None:
    """Every option fits the loaded model: its selectors (a span model has no token targets)
    and its labels (a zero-shot model's: those of --labels)."""
    selectors = explainer.kind.selectors
    require(
        choice.targets is None or choice.targets in selectors,
        f"--targets {choice.targets} does not apply to --model {model}: its targets are "
        f"{', '.join(selectors)}",
    )
    if "tokens" not in selectors:
        token_options = [
            flag
            for flag, given in (
                ("--position", choice.positions),
                ("--ignore-label", choice.ignore_labels),
                ("--ignore-index", choice.ignore_indexes),
            )
            if given
        ]
        require(
            not token_options,
            f"{token_options[0] if token_options else ''} applies to token targets, which "
            f"--model {model} does not have (it explains spans): name a span with "
            "--span TEXT=LABEL or START:END=LABEL",
        )
    given = [("--ignore-label", label) for label in choice.ignore_labels]
    given += [("--contrast", label) for pair in choice.contrasts for label in pair]
    for option, label in given:
        require(
            label in explainer.label2id,
            f"{option} {label!r} is not one of the model's labels: {', '.join(explainer.labels)}",
        )


# ---------------------------------------------------------------------- targets
def choose_targets(explainer: Explainer, text: str, choice: Choice) -> str | list[Target]:
    """``"tokens"``/``"entities"``/``"gold"``, or the targets chosen by --position/--entity/
    --contrast/--span.

    Without a choice, the predicted entities ("why each entity?", what a tagger's user asks
    first); a text with none, or --ignore-label/--ignore-index, gets every token where the model
    has token targets, with a note on stderr. Chosen and default targets need the model's
    predictions first: one forward pass, no attribution.
    """
    if choice.targets:
        return choice.targets
    if not choice.explicit:
        return _default(explainer, text, choice)
    predictions = predict(explainer, text)
    scores_spans = predictions.units is not None
    require(
        scores_spans or not choice.spans,
        "--span is for models that score spans (such as GLiNER); this one labels tokens: "
        "choose with --position, --entity or --contrast",
    )
    chosen: list[Target] = list(_chosen_entities(explainer, predictions, choice.entities))
    for span in choice.spans:
        chosen += _span_targets(explainer, text, span)
    if scores_spans:
        chosen += _entity_contrasts(explainer, predictions, choice.contrasts)
        return chosen
    from nerlens.targets import ContrastTarget, TokenTarget

    labels = predictions.predicted_labels
    last = len(labels) - 1
    for p in choice.positions:
        require(
            0 <= p <= last,
            f"--position {p} is out of range: the text has {len(labels)} tokens (0..{last})",
        )
    for label, foil in choice.contrasts:
        positions = choice.positions or tuple(i for i, x in enumerate(labels) if x == label)
        require(
            bool(positions),
            f"--contrast {label}:{foil}: no token is predicted {label}; "
            "add --position N to ask at chosen tokens",
        )
        chosen += [ContrastTarget(p, label, foil) for p in positions]
    if not choice.contrasts:
        chosen += [TokenTarget(p, labels[p]) for p in choice.positions]
    return chosen


def _default(explainer: Explainer, text: str, choice: Choice) -> str:
    """The entities when the model predicts some; else every token, where there are token
    targets, or nothing (the model kind's default), with a note saying what to ask instead."""
    kind = explainer.kind
    if choice.ignore_labels or choice.ignore_indexes:
        return "tokens"
    if predict(explainer, text).entities:
        return "entities"
    if "tokens" in kind.selectors:
        typer.echo(
            "note: the model predicts no entity in this text; explaining every token "
            "(--targets tokens)",
            err=True,
        )
        return "tokens"
    lower = " or lower --threshold" if "threshold" in kind.options else ""
    typer.echo(
        "note: the model predicts no entity in this text, so there is nothing to explain; "
        f"ask about a span with --span TEXT=LABEL{lower}",
        err=True,
    )
    return kind.default_targets


def _chosen_entities(
    explainer: Explainer, predictions: Explanation, wanted: tuple[str, ...]
) -> list[Target]:
    """The predicted entities whose text is one of ``wanted`` (every occurrence), in text order."""
    found: dict[str, list[Target]] = {}
    for e in predictions.entities:
        target = explainer.kind.entity_target(e)
        found.setdefault(predictions.text[e.start : e.end], []).append(target)
    for text in wanted:
        if text not in found:
            fail(
                f"--entity {text!r} is not a predicted entity; predicted: "
                f"{', '.join(repr(t) for t in found) or 'none'}"
            )
    return sorted((t for text in wanted for t in found[text]), key=lambda t: t.positions[0])


def _span_labels(explainer: Explainer, span: SpanChoice) -> tuple[str, str | None]:
    """A --span's LABEL and FOIL (None without one), both among the model's labels: the
    labels part is one label, or two different ones joined by a colon."""
    known = explainer.label2id
    if span.labels in known:
        return span.labels, None
    pairs = [
        (span.labels[:i], span.labels[i + 1 :])
        for i, char in enumerate(span.labels)
        if char == ":" and span.labels[:i] in known and span.labels[i + 1 :] in known
    ]
    require(
        len(pairs) == 1 and pairs[0][0] != pairs[0][1],
        f"--span {span.given!r}: {span.labels!r} is neither one of the model's labels "
        f"({', '.join(explainer.labels)}) nor LABEL:FOIL with two different ones",
    )
    return pairs[0]


def _span_targets(explainer: Explainer, text: str, span: SpanChoice) -> list[Target]:
    """The span's target: at its offsets, or at each whole-word occurrence of its text."""
    from nerlens.errors import InputError

    label, foil = _span_labels(explainer, span)
    if isinstance(span.where, tuple):
        places = [span.where]
    else:
        found = (m.start() for m in re.finditer(re.escape(span.where), text))
        places = [(start, start + len(span.where)) for start in found]
    targets, refusal = [], None
    for start, end in places:
        try:
            targets.append(explainer.span_target(text, start, end, label, foil))
        except InputError as error:
            refusal = refusal or error
    if not targets:
        fail(f"--span {span.given!r}: {refusal}")
    return targets


def _entity_contrasts(
    explainer: Explainer, predictions: Explanation, contrasts: tuple[tuple[str, str], ...]
) -> list[Target]:
    """--contrast LABEL:FOIL on a model that scores spans: why LABEL rather than FOIL, at
    each entity predicted LABEL."""
    chosen: list[Target] = []
    for label, foil in contrasts:
        entities = [e for e in predictions.entities if e.entity_group == label]
        require(
            bool(entities),
            f"--contrast {label}:{foil}: no entity is predicted {label}; name a span with "
            f"--span TEXT={label}:{foil}",
        )
        chosen += [
            explainer.span_target(predictions.text, e.start, e.end, label, foil) for e in entities
        ]
    return chosen
