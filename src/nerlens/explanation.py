"""The one result type: an immutable Explanation with exact dict/JSON round trips.

Scores are stored raw (the attribution of each token, summed over the hidden dimension), so that
completeness can be checked: ``attributions[t].sum() == target_values[t] - baseline_values[t]``
up to ``deltas[t]``. :attr:`Explanation.scores` gives the reference's L2-normalised view.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nerlens.aggregation import Level, units
from nerlens.encoding import Segment
from nerlens.entities import Entity
from nerlens.errors import InputError
from nerlens.gold import GoldSpan
from nerlens.targets import Target, TargetSpace, TokenTarget, target_from_dict, target_to_dict

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

SCHEMA_VERSION = 1


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Divide each row by its L2 norm (a zero row stays zero), as the reference does."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


@dataclass(frozen=True)
class TargetRow:
    """One explained target: what it is, how sure the model was, and every token's score."""

    index: int
    target: Target
    description: str
    probability: float
    scores: tuple[float, ...]
    tokens: tuple[str, ...]
    delta: float
    correct: bool | None = None  # the prediction matched the gold (None: no gold given)

    def pairs(self) -> list[tuple[str, float]]:
        """``(token, normalised score)`` for every input token, the reference's row format."""
        return list(zip(self.tokens, self.scores))


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why a model labelled a text as it did, for a set of targets.

    ``probabilities`` has a row per token for a token classifier; for a span model (GLiNER) a
    row per span, ``units`` giving each row's ``[start, stop)`` tokens, with the label prompt's
    tokens marked in ``segments``.
    """

    text: str
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]
    word_ids: tuple[int | None, ...]
    labels: tuple[str, ...]
    probabilities: np.ndarray  # (tokens, labels) at the input
    targets: tuple[Target, ...]
    attributions: np.ndarray  # (targets, tokens), raw
    target_values: np.ndarray  # (targets,)
    baseline_values: np.ndarray  # (targets,)
    deltas: np.ndarray  # (targets,)
    steps: np.ndarray  # (targets,)
    settings: Mapping[str, Any] = field(default_factory=dict)
    entities: tuple[Entity, ...] = ()  # predicted entities, grouped as the HF pipeline groups them
    # per target, the probability shown for it; None: computed from ``probabilities`` (views
    # such as :meth:`aggregate` keep the token-level values here)
    target_probabilities: np.ndarray | None = None
    gold: tuple[GoldSpan, ...] = ()  # the true entities the caller gave, if any
    correct: tuple[bool, ...] | None = None  # per target: prediction matches gold (None: no gold)
    segments: tuple[
        Segment, ...
    ] = ()  # per token: "prompt", "text" or "special" (empty: by special)
    units: tuple[tuple[int, int], ...] | None = None  # per row of probabilities, its tokens

    def __post_init__(self) -> None:
        # immutable all the way down: each array is held as a read-only view (no copy), so
        # ``explanation.attributions[0, 0] = 1`` raises instead of changing the Explanation
        for name in _ARRAY_FIELDS:
            array = getattr(self, name)
            if array is not None:
                view = np.asarray(array).view()
                view.flags.writeable = False
                object.__setattr__(self, name, view)
        shape = (len(self.targets), len(self.tokens))
        if self.attributions.shape != shape:
            raise InputError(f"attributions must have shape {shape}, got {self.attributions.shape}")
        if self.correct is not None and len(self.correct) != len(self.targets):
            raise InputError(
                f"correct must have one flag per target ({len(self.targets)}), "
                f"got {len(self.correct)}"
            )
        if self.target_probabilities is not None and self.target_probabilities.shape != shape[:1]:
            raise InputError(
                f"target_probabilities must have shape {shape[:1]}, "
                f"got {self.target_probabilities.shape}"
            )
        rows = len(self.tokens) if self.units is None else len(self.units)
        if self.probabilities.shape != (rows, len(self.labels)):
            raise InputError(
                f"probabilities must have shape {(rows, len(self.labels))}, "
                f"got {self.probabilities.shape}"
            )
        if self.segments and len(self.segments) != len(self.tokens):
            raise InputError(
                f"segments must have one entry per token ({len(self.tokens)}), "
                f"got {len(self.segments)}"
            )

    # ------------------------------------------------------------------ derived views
    @property
    def predicted_label_ids(self) -> np.ndarray:
        """Each row's most probable label (a token's, or a span model's span's)."""
        return self.probabilities.argmax(axis=1)

    @property
    def predicted_labels(self) -> tuple[str, ...]:
        """Each token's predicted label: the argmax of its probabilities; for a span model,
        the label of the predicted entity that covers it, else ``"O"``."""
        if self.units is None:
            return tuple(self.labels[i] for i in self.probabilities.argmax(axis=1))
        labels = ["O"] * len(self.tokens)
        for entity in self.entities:
            labels[entity.token_start : entity.token_end] = entity.labels
        return tuple(labels)

    @property
    def predicted_probabilities(self) -> np.ndarray:
        """The probability of each token's predicted label (a span model: of the entity that
        covers it, 0 outside entities)."""
        if self.units is None:
            return self.probabilities.max(axis=1)
        scores = np.zeros(len(self.tokens))
        for entity in self.entities:
            scores[entity.token_start : entity.token_end] = entity.score
        return scores

    def segment(self, position: int) -> Segment:
        """Whether token ``position`` belongs to the label prompt, the text, or is special."""
        if self.segments:
            return self.segments[position]
        return "special" if self.special[position] else "text"

    @property
    def scores(self) -> np.ndarray:
        """Attributions divided by each target's L2 norm over all tokens (the reference's view)."""
        return normalize_rows(self.attributions)

    @property
    def positions(self) -> tuple[int, ...]:
        """Token positions of the token targets, in order."""
        return tuple(t.position for t in self.targets if isinstance(t, TokenTarget))

    def surface(self, position: int) -> str:
        """The characters of the original text that token ``position`` covers."""
        start, end = self.offsets[position]
        return self.text[start:end]

    @cached_property
    def label2id(self) -> TargetSpace:
        """Each label's index in ``labels`` (and in the probabilities' columns), and each
        unit's row: what the targets' terms index."""
        return TargetSpace(self.labels, self.units)

    def target_probability(self, target: Target) -> float:
        """The model's probability for the target's (positive) label(s), averaged over positions."""
        if self.target_probabilities is not None:
            return float(self.target_probabilities[self.targets.index(target)])
        positive = [(p, lab, c) for p, lab, c in target.terms(self.label2id) if c > 0]
        weight = sum(c for _, _, c in positive)
        return float(sum(c * self.probabilities[p, lab] for p, lab, c in positive) / weight)

    def row(self, index: int) -> TargetRow:
        """The ``index``-th explained target (negative counts from the end, as in a list)."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(
                f"an Explanation is indexed by target number (an int), not {index!r}; "
                "for the target at a token position use explanation.at(position)"
            )
        count = len(self.targets)
        if not -count <= index < count:
            valid = f"0 to {count - 1}, or -{count} to -1" if count else "none"
            raise IndexError(
                f"target {index} does not exist: this Explanation has {count} targets "
                f"(valid: {valid}); for the target at a token position use "
                "explanation.at(position)"
            )
        index = int(index) % count
        target = self.targets[index]
        return TargetRow(
            index=index,
            target=target,
            description=target.describe(self.tokens),
            probability=(
                self.target_probability(target)
                if self.target_probabilities is None
                else float(self.target_probabilities[index])
            ),
            scores=tuple(normalize_rows(self.attributions[index : index + 1])[0].tolist()),
            tokens=self.tokens,
            delta=float(self.deltas[index]),
            correct=None if self.correct is None else self.correct[index],
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __iter__(self) -> Iterator[TargetRow]:
        return (self.row(i) for i in range(len(self.targets)))

    def __getitem__(self, index: int) -> TargetRow:
        """The ``index``-th explained target, as iteration, ``len`` and ``plot(target=)`` count."""
        return self.row(index)

    def at(self, position: int) -> TargetRow:
        """The token target explained at token ``position``."""
        for index, target in enumerate(self.targets):
            if isinstance(target, TokenTarget) and target.position == position:
                return self.row(index)
        raise KeyError(
            f"token position {position!r} was not explained; explained positions: "
            f"{list(self.positions)} (iterate the Explanation for entity and contrast targets)"
        )

    def aggregate(self, level: Level) -> Explanation:
        """The same explanation over words (``"word"``) or entities and words (``"entity"``).

        See :mod:`nerlens.aggregation`: each unit's raw attribution is the exact sum of its
        tokens'; ``settings["aggregated"]["token_positions"]`` maps units back to tokens.
        """
        if "aggregated" in self.settings:
            raise InputError(
                f"this Explanation is already aggregated to "
                f"{self.settings['aggregated']['level']!r}; aggregate the token-level one"
            )
        found = units(self.special, self.word_ids, self.entities, level, self.segments)
        offsets = found.offsets(self.offsets, self.special)
        prompt_labels = iter(self.labels)  # a prompt's label units, in the labels' order
        return replace(
            self,
            tokens=tuple(
                self.tokens[p]
                if self.special[p]
                else next(prompt_labels)
                if self.segment(p) == "prompt"
                else self.text[start:end]
                for p, (start, end) in zip(found.firsts, offsets)
            ),
            offsets=offsets,
            special=tuple(self.special[p] for p in found.firsts),
            word_ids=tuple(self.word_ids[p] for p in found.firsts),
            probabilities=self.probabilities if self.units else self.probabilities[found.firsts],
            units=None if self.units is None else tuple(found.move_span(u) for u in self.units),
            segments=tuple(self.segments[p] for p in found.firsts) if self.segments else (),
            targets=tuple(found.move(target) for target in self.targets),
            attributions=found.sums(self.attributions),
            entities=tuple(found.move_entity(entity) for entity in self.entities),
            target_probabilities=np.array(
                [self.row(t).probability for t in range(len(self.targets))]
            ),
            settings={
                **self.settings,
                "aggregated": {"level": level, "token_positions": found.groups},
            },
        )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` restores an equal Explanation exactly."""
        return {
            "schema_version": SCHEMA_VERSION,
            "text": self.text,
            "tokens": list(self.tokens),
            "offsets": [list(o) for o in self.offsets],
            "special": list(self.special),
            "word_ids": list(self.word_ids),
            "labels": list(self.labels),
            "probabilities": _floats(self.probabilities),
            "targets": [target_to_dict(t) for t in self.targets],
            "attributions": _floats(self.attributions),
            "target_values": _floats(self.target_values),
            "baseline_values": _floats(self.baseline_values),
            "deltas": _floats(self.deltas),
            "steps": [int(s) for s in self.steps],
            "settings": dict(self.settings),
            "entities": [entity.to_dict() for entity in self.entities],
            "gold": [[g.start, g.end, g.label] for g in self.gold],
            **({} if self.correct is None else {"correct": list(self.correct)}),
            **({"segments": list(self.segments)} if self.segments else {}),
            **({} if self.units is None else {"units": [list(u) for u in self.units]}),
            **(
                {}
                if self.target_probabilities is None
                else {"target_probabilities": _floats(self.target_probabilities)}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InputError(
                f"unsupported Explanation schema_version {version!r}; this nerlens reads "
                f"version {SCHEMA_VERSION}"
            )
        num_tokens = len(data["tokens"])
        spans = tuple((int(a), int(b)) for a, b in data["units"]) if "units" in data else None
        return cls(
            text=data["text"],
            tokens=tuple(data["tokens"]),
            offsets=tuple((int(a), int(b)) for a, b in data["offsets"]),
            special=tuple(bool(s) for s in data["special"]),
            word_ids=tuple(data["word_ids"]),
            labels=tuple(data["labels"]),
            probabilities=_array(data["probabilities"]).reshape(
                num_tokens if spans is None else len(spans), len(data["labels"])
            ),
            units=spans,
            segments=tuple(data.get("segments", ())),
            targets=tuple(target_from_dict(t) for t in data["targets"]),
            attributions=_array(data["attributions"]).reshape(len(data["targets"]), num_tokens),
            target_values=_array(data["target_values"]),
            baseline_values=_array(data["baseline_values"]),
            deltas=_array(data["deltas"]),
            steps=np.asarray(data["steps"], dtype=np.int64),
            settings=dict(data["settings"]),
            entities=tuple(Entity.from_dict(e) for e in data.get("entities", [])),
            gold=tuple(GoldSpan(*g) for g in data.get("gold", [])),
            correct=tuple(bool(c) for c in data["correct"]) if "correct" in data else None,
            target_probabilities=(
                _array(data["target_probabilities"]) if "target_probabilities" in data else None
            ),
        )

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Explanation:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write the Explanation as JSON to ``path``."""
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Explanation:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_pandas(self) -> pd.DataFrame:
        """Long format: one row per (target, token), with raw and normalised scores."""
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas: pip install 'nerlens[pandas]'") from error
        scores = self.scores
        rows = [
            {
                "target_index": t,
                "target_kind": target.kind,
                "target": target.describe(self.tokens),
                "target_label": target.label,
                "token_index": i,
                "token": token,
                "start": self.offsets[i][0],
                "end": self.offsets[i][1],
                "special": self.special[i],
                "attribution": float(self.attributions[t, i]),
                "score": float(scores[t, i]),
                "delta": float(self.deltas[t]),
                "correct": None if self.correct is None else self.correct[t],
            }
            for t, target in enumerate(self.targets)
            for i, token in enumerate(self.tokens)
        ]
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ views (lazy imports)
    def _repr_html_(self) -> str:
        """Notebooks (Jupyter, VS Code) show the interactive view."""
        from nerlens.render.interactive import render_interactive

        return render_interactive(self).data

    def save_html(self, path: str | Path) -> Path:
        """Write the interactive view as a standalone page (no network needed to open it)."""
        from nerlens.render.interactive import render_interactive

        return render_interactive(self, full_page=True).save(path)

    def show(self) -> Path | None:
        """Show the interactive view: inline in a notebook, else in the web browser (temp file)."""
        from nerlens.render.interactive import show

        return show(self)

    def plot(self, kind: str = "heatmap", path: str | Path | None = None, **options: Any) -> Figure:
        """A matplotlib figure: ``"heatmap"`` (targets × tokens) or ``"bar"`` (one target's top
        tokens); saved as PNG or SVG when ``path`` is given. Needs ``pip install 'nerlens[plot]'``.
        """
        from nerlens.render.plot import plot

        return plot(self, kind, path, **options)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return json.dumps(self.to_dict(), sort_keys=True) == json.dumps(
            other.to_dict(), sort_keys=True
        )

    __hash__ = None  # type: ignore[assignment]


_ARRAY_FIELDS = (
    "probabilities",
    "attributions",
    "target_values",
    "baseline_values",
    "deltas",
    "steps",
    "target_probabilities",
)


def _floats(values: np.ndarray) -> list[Any]:
    """Nested lists of Python floats (JSON keeps them exactly); NaN becomes None."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim > 1:
        return [_floats(row) for row in array]
    return [None if math.isnan(v) else v for v in array.tolist()]


def _array(values: Sequence[Any]) -> np.ndarray:
    """Inverse of :func:`_floats` (numpy reads None as NaN)."""
    return np.array(values, dtype=np.float64)
