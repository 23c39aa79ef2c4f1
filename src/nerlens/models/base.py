"""The contract of a model kind: everything the engine needs to know about one family of models.

The engine (Explainer, windows, methods, faithfulness, views, corpus, server) never asks which
family it holds; it asks the model's kind (:func:`nerlens.models.kind_of`). A kind is bound to one
model and its tokenizer, and says:

- how to recognise and load such a model (:meth:`ModelKind.recognises`,
  :meth:`ModelKind.handles`, :meth:`ModelKind.load`, :attr:`ModelKind.demo_name`);
- how a text becomes model input (:meth:`ModelKind.encode`: tokens, offsets, special marks, and
  the template that every window repeats) and how long an input may be (``max_length``);
- which layer is attributed and how the two ends of the path are built (:meth:`ModelKind.layer`,
  :meth:`ModelKind.path_ends`, :meth:`ModelKind.baseline_token`);
- how the values that targets read come from the model's outputs
  (:meth:`ModelKind.probabilities`: ``(batch, units, labels)``; a target is a weighted sum of such
  values, see :mod:`nerlens.targets`);
- how predictions become entities (:meth:`ModelKind.entities`), an entity a target
  (:meth:`ModelKind.entity_target`) and the dict its own library gives
  (:meth:`ModelKind.entity_dict`), and which targets a call explains by default;
- which options it takes per call (:attr:`ModelKind.options`, :meth:`ModelKind.configure`: a
  zero-shot model's labels, for instance) and records (:meth:`ModelKind.settings`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from nerlens.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from nerlens.encoding import Encoding
    from nerlens.entities import Entity, Strategy
    from nerlens.gold import GoldSpan
    from nerlens.runner import ModelRunner
    from nerlens.targets import Target

Embedding = Literal["word", "position"]
"""Which embedding layer's output is attributed: the word (token) or the position embeddings."""
EMBEDDINGS: tuple[Embedding, ...] = ("word", "position")


def check_embedding(embedding: object) -> Embedding:
    """``embedding`` if it names an attributable layer, else an InputError listing them."""
    if embedding not in EMBEDDINGS:
        raise InputError(f"embedding must be one of {list(EMBEDDINGS)}, got {embedding!r}")
    return embedding  # type: ignore[return-value]


@dataclass(frozen=True)
class ModelSource:
    """Where :func:`nerlens.load_model` finds a model: a local directory or a hub id."""

    name: str  # as the user gave it
    directory: Path | None  # the local directory, None for a hub id
    cache_only: bool  # a hub id while the hub is unreachable: only the local cache may be used

    @property
    def location(self) -> str:
        """What the loaders open: the directory's path, else the hub id."""
        return self.name if self.directory is None else str(self.directory)


class ModelKind(ABC):
    """One family of models, bound to one ``model`` and its ``tokenizer``.

    Constructing a kind checks what can be checked without running the model (a fast tokenizer,
    for instance); :meth:`verify` runs it once on a tiny text.
    """

    requirement: ClassVar[str]  # what a model of this kind is, for the error naming every kind
    demo_name: ClassVar[str | None] = None  # the bundled model's name for load_model, if any
    options: ClassVar[tuple[str, ...]] = ()  # the options :meth:`configure` takes, per call
    default_targets: ClassVar[str] = "tokens"  # what a call explains when it names no targets
    # the target selectors (``targets="..."``) this kind serves
    selectors: ClassVar[tuple[str, ...]] = ("tokens", "entities", "gold")

    model: nn.Module
    tokenizer: Any
    labels: tuple[str, ...]  # the label of each output column, in order
    max_length: int  # the most tokens one model input may hold, template tokens included
    word_limit: int | None = None  # the most words of text one input may hold, if it counts

    # ------------------------------------------------------------------ recognising and loading
    @classmethod
    @abstractmethod
    def recognises(cls, model: object) -> bool:
        """Whether ``model`` is of this kind (cheap: no forward pass)."""

    @classmethod
    @abstractmethod
    def handles(cls, source: ModelSource) -> bool:
        """Whether ``source`` holds a model of this kind (e.g. a marker file in its directory)."""

    @classmethod
    @abstractmethod
    def load(cls, source: ModelSource, trust_remote_code: bool) -> tuple[Any, Any]:
        """``(model, tokenizer)`` from ``source``, model in eval mode; the loaders' own
        ``OSError``/``ValueError`` go up (:func:`nerlens.load_model` words them)."""

    @classmethod
    def load_demo(cls) -> tuple[Any, Any]:
        """The bundled model named :attr:`demo_name`."""
        raise NotImplementedError(f"{cls.__name__} bundles no model")

    # ------------------------------------------------------------------ one model
    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's name or path, recorded in every Explanation ('' when unknown)."""

    @property
    def encoder_config(self) -> Any:
        """The transformer config (layers, hidden size, heads) whose sizes estimate what one
        pass of the model holds in memory."""
        return getattr(self.model, "config", None)

    @abstractmethod
    def verify(self, runner: ModelRunner) -> None:
        """Run the model once on a tiny text; raise InputError if its outputs are not the kind's."""

    @abstractmethod
    def encode(self, text: str, max_length: int | None = None) -> Encoding:
        """The model input for ``text`` (which it validates); TextTooLongError past
        ``max_length`` tokens; InputError for a text this model cannot take."""

    def configure(self, **options: Any) -> ModelKind:
        """This kind with the given :attr:`options` changed (a new object; this one unchanged)."""
        if options:
            raise InputError(
                f"{', '.join(sorted(options))}: not an option of {type(self.model).__name__} "
                f"models, which take no per-call model options"
            )
        return self

    def settings(self) -> dict[str, Any]:
        """The values of :attr:`options` (labels aside), recorded in every Explanation."""
        return {}

    def baseline_token(self, token_id: int | None) -> int:
        """The id that stands for an absent token: ``token_id`` if it is one of the
        tokenizer's ids, else its pad, unk or eos token."""
        tokenizer = self.tokenizer
        if token_id is not None:
            if not isinstance(token_id, int) or not 0 <= token_id < len(tokenizer):
                raise InputError(
                    f"baseline_token_id must be a token id in 0..{len(tokenizer) - 1}, "
                    f"got {token_id!r}"
                )
            return token_id
        for candidate in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id):
            if candidate is not None:
                return int(candidate)
        raise InputError("the tokenizer has no pad, unk or eos token; pass baseline_token_id=...")

    @abstractmethod
    def layer(self, embedding: Embedding) -> tuple[nn.Module, Embedding]:
        """The layer to attribute to, and which embedding it really is after any fallback."""

    @abstractmethod
    def path_ends(
        self, encoding: Encoding, embedding: Embedding, baseline_token_id: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The model's keyword arguments (a batch of one) at the text and at its baseline.

        Every input but ``input_ids`` is shared by every row a method runs for this text."""

    @abstractmethod
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The values targets read, ``(batch, units, labels)``, from the model's logits
        (in at least float32)."""

    @abstractmethod
    def entities(
        self, encoding: Encoding, probabilities: np.ndarray, strategy: Strategy
    ) -> tuple[Entity, ...]:
        """The entities the model predicts for ``encoding`` given its ``probabilities``."""

    @abstractmethod
    def entity_target(self, entity: Entity) -> Target:
        """The target that explains a predicted ``entity``."""

    @abstractmethod
    def correctness(
        self,
        gold: Sequence[GoldSpan],
        document: Encoding,
        probabilities: np.ndarray,
        entities: Sequence[Entity],
        targets: Sequence[Target],
    ) -> tuple[bool, ...]:
        """Per target, whether the model's prediction there (``probabilities`` and
        ``entities``, as the Explanation holds them) agrees with the ``gold`` entities."""

    @abstractmethod
    def error_targets(
        self,
        gold: Sequence[GoldSpan],
        document: Encoding,
        probabilities: np.ndarray,
        entities: Sequence[Entity],
    ) -> tuple[Target, ...]:
        """Targets that ask "why not the truth?" wherever the model was wrong, in text order."""

    @abstractmethod
    def entity_dict(self, entity: Entity) -> dict[str, Any]:
        """``entity`` as the model's own library returns it (what ``nerlens tag`` prints and
        the server's tag endpoint answers)."""
