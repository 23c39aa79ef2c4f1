"""The per-document work, a pure function of (explainer, record): both engines call it.

A record becomes either one ``documents`` row and its ``targets`` rows, or one ``errors`` row:
whatever one record raises (a bad input, a RuntimeError, a numpy error, a tokenizer's panic)
is that record's error row, and the others are explained as if it were not there. Only an
interrupt (Ctrl-C, ``SystemExit``) stops the work. Nothing here depends on which process, engine
or shard runs it, so the local and Ray engines write the same rows.

The job's own options (targets, shard size, engine) are declared here, beside its settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nerlens.corpus.readers import Record
from nerlens.encoding import validate_text
from nerlens.entities import Entity
from nerlens.errors import InputError
from nerlens.explainer import Explainer
from nerlens.explanation import Explanation
from nerlens.gold import GoldDocument, GoldSpan, gold_entities
from nerlens.options import AGGREGATION_STRATEGY, LONG_TEXT, Option, choice, count
from nerlens.targets import Target
from nerlens.windows import assign_homes, plan_windows

TARGET_CHOICES = ("tokens", "entities", "gold")
ENGINES = ("local", "ray")
# What stops a job instead of failing one record. Everything else a record raises is caught as
# a BaseException: a Rust tokenizer's panic (pyo3's PanicException) is not an Exception.
STOPS = (KeyboardInterrupt, SystemExit)


# ---------------------------------------------------------------------- the job's own options
# (the Explainer's and the method's are declared in nerlens.options and by each method)
TARGETS = choice(
    "targets", None, TARGET_CHOICES,
    "What each document explains: every token, every entity, or its gold entities (CoNLL); "
    "None: the model's default (tokens for a token classifier, entities for GLiNER).", "job",
    optional=True,
)  # fmt: skip
SHARD_SIZE = count("shard_size", 64, 1, "Documents per output shard.", "job")
ENGINE = choice("engine", "local", ENGINES, "'local' (in-process) or 'ray'.", "job")
RAY_ADDRESS = Option(
    "ray_address", None, "a str{or_none}", lambda v: v is None or isinstance(v, str),
    "Ray cluster to join ('auto', 'ray://host:10001'; None: start a local one).", "job",
)  # fmt: skip
ACTORS = count(
    "actors", None, 1, "Ray actors, one model each (None: one per GPU, else per CPU).", "job",
    optional=True,
)  # fmt: skip
JOB_OPTIONS: tuple[Option, ...] = (TARGETS, SHARD_SIZE, ENGINE, RAY_ADDRESS, ACTORS)


@dataclass(frozen=True)
class JobSettings:
    """Everything that decides a corpus job's rows; a DIR holds the rows of one JobSettings."""

    input: str
    format: str
    text_field: str = "text"
    id_field: str | None = None
    model: str = "demo"
    method: str = "integrated_gradients"
    targets: str | None = TARGETS.default  # None: the model kind's default
    ignore_labels: tuple[str, ...] = ()
    ignore_indexes: tuple[int, ...] = ()
    include_special: bool = False
    long_text: str = LONG_TEXT.default
    stride: int | None = None
    context: int | None = None
    aggregation_strategy: str = AGGREGATION_STRATEGY.default
    shard_size: int = SHARD_SIZE.default
    method_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"n_steps": "auto"}
    # the model kind's per-call options, e.g. a GLiNER model's {"labels": [...], "threshold": 0.5}
    model_options: dict[str, Any] = field(default_factory=dict)


Explained = tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any] | None]


@dataclass
class ShardRows:
    """The rows one shard adds to each table."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, explained: Explained) -> None:
        """Append one record's rows (or its error row), as :func:`explain_records` gave them."""
        document, targets, error = explained
        if error is not None:
            self.errors.append(error)
        else:
            self.documents.append(document)
            self.targets.extend(targets)


def explain_records(
    explainer: Explainer, records: Sequence[Record], settings: JobSettings
) -> list[Explained]:
    """Each record's ``(document row, target rows, None)`` or ``(None, [], error row)``, in order.

    The good records are explained in one call, so that texts of one length share passes. If
    that call raises (an input error: it checks every text before any model work; or anything
    else), each record goes through a call of its own, where only the failing one becomes an
    error row.
    """
    explained: dict[int, Explained] = {}
    ready: list[tuple[int, Any]] = []  # (index in records, its targets)
    for k, record in enumerate(records):
        try:
            ready.append((k, _selection(explainer, record, settings)))
        except STOPS:
            raise
        except BaseException as error:
            explained[k] = None, [], _error(record, _failure(error))
    if ready:
        selections = [selection for _, selection in ready]
        try:
            explanations = _explain(
                explainer,
                [records[k].text for k, _ in ready],
                settings.targets if settings.targets != "gold" else selections,
                settings,
            )
        except STOPS:
            raise
        except BaseException:  # found again, record by record, below
            explanations = [None] * len(ready)
        for (k, selection), explanation in zip(ready, explanations):
            record = records[k]
            try:
                if explanation is None:
                    explanation = _explain(explainer, record.text, selection, settings)
                explained[k] = _rows(explainer, record, explanation)
            except STOPS:
                raise
            except BaseException as error:
                explained[k] = None, [], _error(record, _failure(error))
    return [explained[k] for k in range(len(records))]


def _failure(error: BaseException) -> str:
    """An error row's message: an InputError's own (it names the bad value and the fix), any
    other exception's type and message."""
    if isinstance(error, InputError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _rows(explainer: Explainer, record: Record, explanation: Explanation) -> Explained:
    """The document row and target rows of an explained record."""
    gold = record.gold
    spans = gold.spans if gold is not None else None
    windows = window_spans(explainer, explanation)
    return (
        document_row(record, explanation, gold),
        target_rows(record, explanation, spans, windows),
        None,
    )


def _selection(explainer: Explainer, record: Record, settings: JobSettings) -> Any:
    """What to explain in ``record``: the job's target choice, or its gold entities; raises
    InputError for a record that cannot be explained (read error, not a usable text)."""
    if record.error is not None:
        raise InputError(record.error)
    validate_text(record.text)  # a list would be explained as several texts
    return gold_targets(explainer, record) if settings.targets == "gold" else settings.targets


def _explain(explainer: Explainer, texts: Any, targets: Any, settings: JobSettings) -> Any:
    return explainer(
        texts,
        targets,
        ignored_indexes=settings.ignore_indexes,
        ignored_labels=settings.ignore_labels,
        include_special_tokens=settings.include_special,
    )


def gold_targets(explainer: Explainer, record: Record) -> tuple[Target, ...]:
    """Per gold entity, the target the model's kind explains an entity of its tokens by (an
    EntityTarget with the gold tags; a span model's SpanTarget), as if it had predicted it."""
    if record.gold is None:
        raise InputError("--targets gold needs gold labels: give a CoNLL/IOB input")
    kind = explainer.kind
    document = kind.encode(record.text)
    spans = record.gold.spans
    covered = gold_entities(spans, document.offsets, document.special, explainer.labels)
    return tuple(
        kind.entity_target(
            Entity(
                entity_group=span.label,
                score=1.0,
                word=record.text[span.start : span.end],
                start=span.start,
                end=span.end,
                token_start=tokens.start,
                token_end=tokens.end,
                labels=tokens.labels,
            )
        )
        for span, tokens in zip(spans, covered)
    )


def document_row(
    record: Record, explanation: Explanation, gold: GoldDocument | None
) -> dict[str, Any]:
    """The ``documents`` row of an explained record.

    A token classifier's ``label_probabilities`` hold a row per token. A span model (GLiNER)
    scores every span of up to ``max_width`` words against every label, far more rows than
    tokens: only the rows of the spans a user asks about are kept (its predicted entities, the
    explained targets, the gold entities), with those spans in ``units``. Its predictions are
    labelled spans, not tags, so it has no ``predicted_tags``: gold is compared with its
    entities (:mod:`nerlens.corpus.evaluation`).
    """
    units = explanation.units
    kept = None if units is None else kept_units(explanation, gold)
    return {
        "record": record.index,
        "line": record.line,
        "doc_id": record.doc_id,
        "text": explanation.text,
        "tokens": list(explanation.tokens),
        "offsets": [list(o) for o in explanation.offsets],
        "special": list(explanation.special),
        "word_ids": list(explanation.word_ids),
        "segments": list(explanation.segments) or None,
        "predicted_labels": list(explanation.predicted_labels),
        "probabilities": explanation.predicted_probabilities.tolist(),
        "units": None if kept is None else [list(units[row]) for row in kept],
        "label_probabilities": (
            explanation.probabilities if kept is None else explanation.probabilities[kept]
        ).tolist(),
        "labels": list(explanation.labels),
        "windows": int(explanation.settings.get("windows", 1)),
        "predicted_entities": [entity.to_dict() for entity in explanation.entities],
        "gold_entities": None if gold is None else [vars(span) for span in gold.spans],
        "gold_tags": None if gold is None else list(gold.tags),
        "predicted_tags": (
            None if gold is None or units is not None else word_tags(explanation, gold)
        ),
    }


def kept_units(explanation: Explanation, gold: GoldDocument | None) -> list[int]:
    """The rows of a span model's ``probabilities`` worth storing, in order: the spans of its
    entities and targets, and those that cover a gold entity's characters exactly."""
    tokens = {(entity.token_start, entity.token_end) for entity in explanation.entities}
    tokens |= {(t.positions[0], t.positions[-1] + 1) for t in explanation.targets}
    characters = set() if gold is None else {(span.start, span.end) for span in gold.spans}
    offsets = explanation.offsets
    return [
        row
        for row, (start, end) in enumerate(explanation.units or ())
        if (start, end) in tokens or (offsets[start][0], offsets[end - 1][1]) in characters
    ]


def target_rows(
    record: Record,
    explanation: Explanation,
    gold: tuple[GoldSpan, ...] | None,
    windows: Sequence[tuple[int, int]],
) -> list[dict[str, Any]]:
    """One ``targets`` row per explained target, with the tokens ``[window_start, window_end)``
    it was attributed over (``windows``, per target) and the gold entity it falls in where
    known."""
    rows = []
    for index, target in enumerate(explanation.targets):
        start, end = _char_span(explanation, target.positions)
        gold_label, gold_exact = None, None
        if gold is not None:
            inside = [g for g in gold if g.start <= start and end <= g.end]
            gold_label = inside[0].label if inside else "O"
            gold_exact = any((g.start, g.end) == (start, end) for g in gold)
        rows.append(
            {
                "record": record.index,
                "doc_id": record.doc_id,
                "target_index": index,
                "kind": target.kind,
                "label": target.label,
                "foil": getattr(target, "foil", None),
                "target_labels": list(getattr(target, "labels", ())) or None,
                "position": target.positions[0],
                "token_end": target.positions[-1] + 1,
                "window_start": windows[index][0],
                "window_end": windows[index][1],
                "start": start,
                "end": end,
                "probability": explanation.target_probability(target),
                "target_value": float(explanation.target_values[index]),
                "baseline_value": float(explanation.baseline_values[index]),
                "delta": float(explanation.deltas[index]),
                "steps": int(explanation.steps[index]),
                "scores": explanation.attributions[index].tolist(),
                "gold_label": gold_label,
                "gold_exact": gold_exact,
            }
        )
    return rows


def window_spans(explainer: Explainer, explanation: Explanation) -> list[tuple[int, int]]:
    """Per target, the document tokens ``[start, end)`` of the model window it was explained in:
    every token unless the text was explained in windows (``long_text="window"``), where the text
    tokens outside a target's window score exactly 0 without having been weighed (the template
    tokens, such as [CLS], are in every window).

    The window is found by the explainer's own rule (:func:`nerlens.windows.assign_homes`).
    """
    num_windows = int(explanation.settings.get("windows", 1))
    if num_windows == 1:
        return [(0, len(explanation.tokens))] * len(explanation.targets)
    max_length = int(explanation.settings["max_length"])
    kind = explainer.kind
    document = kind.encode(explanation.text)
    stride = int(explanation.settings["stride"])
    windows = plan_windows(document, max_length, stride, kind.word_limit)
    homes = assign_homes(document, explanation.targets, windows, max_length, kind.word_limit)
    first, last = document.content
    spans = []
    for home in homes:
        text = [p for p in windows[home].document_positions if first <= p < last]
        spans.append((text[0], text[-1] + 1))
    return spans


def word_tags(explanation: Explanation, gold: GoldDocument) -> list[str]:
    """The predicted tag of each gold word: the label of its first token ("O" if it has none)."""
    tags, start = [], 0
    for word in gold.words:
        end = start + len(word)
        first = next(
            (
                i
                for i, (a, _) in enumerate(explanation.offsets)
                if not explanation.special[i] and start <= a < end
            ),
            None,
        )
        tags.append("O" if first is None else explanation.predicted_labels[first])
        start = end + 1
    return tags


def _char_span(explanation: Explanation, positions: tuple[int, ...]) -> tuple[int, int]:
    return explanation.offsets[positions[0]][0], explanation.offsets[positions[-1]][1]


def _error(record: Record, message: str) -> dict[str, Any]:
    return {
        "record": record.index,
        "line": record.line,
        "doc_id": record.doc_id,
        # an exception's message may quote the record's own text: keep it storable as UTF-8
        "message": message.encode("utf-8", "backslashreplace").decode("utf-8"),
    }
