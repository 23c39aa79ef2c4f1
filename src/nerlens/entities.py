"""A predicted entity, and the strategies that group token predictions into entities.

The grouping itself belongs to the model's kind (:meth:`nerlens.models.ModelKind.entities`); for
token classifiers it mirrors the HF pipeline (:mod:`nerlens.models.pipeline_entities`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from nerlens.errors import InputError

Strategy = Literal["simple", "first", "average", "max"]
STRATEGIES: tuple[Strategy, ...] = ("simple", "first", "average", "max")
PIPELINE_KEYS = ("entity_group", "score", "word", "start", "end")


@dataclass(frozen=True)
class Entity:
    """One predicted entity: the pipeline's five fields plus its token span and token labels.

    ``token_start``/``token_end`` index the Explanation's tokens (``[start, end)``); ``labels``
    holds, per token, the tag the grouping gave it (used by ``targets="entities"``).
    """

    entity_group: str
    score: float
    word: str
    start: int
    end: int
    token_start: int
    token_end: int
    labels: tuple[str, ...]

    def as_pipeline(self) -> dict[str, Any]:
        """The dict the token-classification pipeline returns for this entity."""
        return {key: getattr(self, key) for key in PIPELINE_KEYS}

    def as_gliner(self) -> dict[str, Any]:
        """The dict GLiNER's ``predict_entities`` returns for this entity."""
        return {
            "start": self.start,
            "end": self.end,
            "text": self.word,
            "label": self.entity_group,
            "score": self.score,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entity:
        return cls(**{**data, "labels": tuple(data["labels"])})


def check_strategy(strategy: object) -> Strategy:
    if strategy not in STRATEGIES:
        raise InputError(
            f"aggregation_strategy must be one of {list(STRATEGIES)}, got {strategy!r}"
        )
    return strategy  # type: ignore[return-value]
