"""The Hugging Face token classifier (``AutoModelForTokenClassification``): the first model kind.

Every quirk of the transformer families lives here: RoBERTa-family positions (numbered from
``padding_idx + 1``, which also shortens their maximum length), models without an absolute
position-embedding layer (DeBERTa-v3, ModernBERT: ``embedding="position"`` falls back to the word
embeddings with a warning), the tokenizer's max length, and the pipeline's subword detection
(:mod:`nerlens.models.pipeline_entities`).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens.encoding import (
    Encoding,
    baseline_ids,
    encode,
    max_input_length,
    require_fast_tokenizer,
)
from nerlens.entities import Entity, Strategy
from nerlens.errors import InputError
from nerlens.gold import GoldSpan, correctness, error_targets
from nerlens.model_input import model_device
from nerlens.models.base import Embedding, ModelKind, ModelSource, check_embedding
from nerlens.models.pipeline_entities import predicted_entities
from nerlens.targets import EntityTarget, Target

if TYPE_CHECKING:
    from nerlens.runner import ModelRunner


def label_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over labels, in at least float32."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return torch.softmax(logits, dim=-1)


def _embeddings(model: nn.Module) -> nn.Module | None:
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    return getattr(base, "embeddings", None)


def positions_padding_idx(model: nn.Module) -> int | None:
    """RoBERTa-family models (RoBERTa, XLM-R, CamemBERT, …) number their tokens from
    ``padding_idx + 1`` and give padding tokens the position ``padding_idx``: their padding_idx.
    None for models whose positions do not depend on the token ids."""
    embeddings = _embeddings(model)
    if not isinstance(getattr(embeddings, "position_embeddings", None), nn.Embedding):
        return None
    padding_idx = getattr(embeddings, "padding_idx", None)
    return None if padding_idx is None else int(padding_idx)


def position_ids(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """The position ids ``model`` computes itself for ``input_ids`` (batch, tokens)."""
    padding_idx = positions_padding_idx(model)
    if padding_idx is None:
        return torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    real = input_ids.ne(padding_idx).long()
    return torch.cumsum(real, dim=1) * real + padding_idx


def model_max_length(model: nn.Module) -> int | None:
    """The most tokens the model's position embeddings can number, where it has such a limit.

    RoBERTa-family models start counting at ``padding_idx + 1``, so they take
    ``max_position_embeddings - padding_idx - 1`` tokens (514 - 2 = 512 for roberta-base).
    """
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    padding_idx = positions_padding_idx(model)
    if limit is None or padding_idx is None:
        return limit
    return int(limit) - padding_idx - 1


def _no_position_layer_reason(model: nn.Module) -> str | None:
    """Why ``embedding="position"`` cannot work for ``model``; None when it can."""
    name = type(model).__name__
    embeddings = _embeddings(model)
    if not isinstance(getattr(embeddings, "position_embeddings", None), nn.Embedding):
        return (
            f"{name} has no absolute position-embedding layer: it encodes positions inside its "
            "attention (relative positions in DeBERTa-v3, rotary ones in ModernBERT), where no "
            "layer output can be moved to a position baseline"
        )
    if "position_ids" not in inspect.signature(model.forward).parameters:
        return f"{name}.forward takes no position_ids, so positions cannot be set to a baseline"
    return None


class TokenClassifierKind(ModelKind):
    """A transformers token-classification model: per-token logits over ``config.id2label``."""

    requirement = "a transformers token-classification model with config.id2label"
    demo_name = "demo"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        require_fast_tokenizer(tokenizer)
        self.model = model
        self.tokenizer = tokenizer
        id2label = model.config.id2label
        self.labels = tuple(id2label[i] for i in range(len(id2label)))
        self.max_length = max_input_length(tokenizer, model_max_length(model))

    # ------------------------------------------------------------------ recognising and loading
    @classmethod
    def recognises(cls, model: object) -> bool:
        return bool(getattr(getattr(model, "config", None), "id2label", None))

    @classmethod
    def handles(cls, source: ModelSource) -> bool:
        """Every source: the most general kind, asked last; transformers' error explains a
        directory or hub id that holds no such model."""
        return True

    @classmethod
    def load(cls, source: ModelSource, trust_remote_code: bool) -> tuple[Any, Any]:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        options = {"local_files_only": source.cache_only, "trust_remote_code": trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(source.location, **options)
        model = AutoModelForTokenClassification.from_pretrained(source.location, **options)
        return model.eval(), tokenizer

    @classmethod
    def load_demo(cls) -> tuple[Any, Any]:
        from nerlens.models.demo import load_demo_model

        return load_demo_model()

    # ------------------------------------------------------------------ one model
    @property
    def model_name(self) -> str:
        return str(getattr(self.model.config, "_name_or_path", "") or "")

    def verify(self, runner: ModelRunner) -> None:
        """One forward on a tiny text: the model must give per-token logits over its labels."""
        encoding = self.encode("a")
        ids = torch.tensor([encoding.input_ids], device=model_device(self.model))
        with runner.session(), torch.no_grad():
            output = self.model(input_ids=ids, attention_mask=torch.ones_like(ids))
        logits = getattr(output, "logits", None)
        expected = (1, ids.shape[1], len(self.labels))
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
            got = "no .logits" if logits is None else f"logits of shape {tuple(logits.shape)}"
            raise InputError(
                "model must be a token-classification model (AutoModelForTokenClassification) "
                "whose logits have shape (batch, tokens, labels) with one label per "
                f"config.id2label entry; {type(self.model).__name__} gives {got} for "
                f"{ids.shape[1]} tokens and {len(self.labels)} labels"
            )

    def encode(self, text: str, max_length: int | None = None) -> Encoding:
        """The tokenizer's encoding of ``text``; every token id must have a row in the model's
        embeddings (else the tokenizer is not the model's)."""
        encoding = encode(self.tokenizer, text, max_length)
        rows = self.model.get_input_embeddings().weight.shape[0]
        if max(encoding.input_ids) >= rows:
            position = next(i for i, token in enumerate(encoding.input_ids) if token >= rows)
            raise InputError(
                f"token {encoding.tokens[position]!r} has id {encoding.input_ids[position]}, but "
                f"the model embeds ids 0..{rows - 1} only; pass the tokenizer that belongs to "
                "the model"
            )
        return encoding

    def layer(self, embedding: Embedding) -> tuple[nn.Module, Embedding]:
        """The word or position embeddings. The position baseline puts every token at the text's
        first position (0 for BERT, ``padding_idx + 1`` for RoBERTa); models without an absolute
        position-embedding layer fall back to the word embeddings with a warning that says why.
        """
        check_embedding(embedding)
        if embedding == "position":
            reason = _no_position_layer_reason(self.model)
            if reason is None:
                return _embeddings(self.model).position_embeddings, "position"
            warnings.warn(
                f"embedding='position' is not available: {reason}; attributing to the word "
                "embeddings instead",
                stacklevel=3,
            )
        return self.model.get_input_embeddings(), "word"

    def path_ends(
        self, encoding: Encoding, embedding: Embedding, baseline_token_id: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The word baseline replaces every non-special id by ``baseline_token_id``; the position
        baseline moves every token to the first position. Models whose positions depend on the
        ids (RoBERTa) get the text's positions explicitly, at both ends and along the path."""
        device = model_device(self.model)
        ids = torch.tensor([encoding.input_ids], device=device)
        # The attention mask is always given, even all ones: without it transformers (5.x) reads
        # position ids that do not step by one, as the position baseline's all-first ones, as
        # sequences packed side by side, and each token would attend only to itself there.
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        positions = position_ids(self.model, ids)
        if embedding == "position" or positions_padding_idx(self.model) is not None:
            inputs["position_ids"] = positions
        if embedding == "word":
            reference = torch.tensor([baseline_ids(encoding, baseline_token_id)], device=device)
            return inputs, {**inputs, "input_ids": reference}
        return inputs, {**inputs, "position_ids": positions[:, :1].repeat(1, positions.shape[1])}

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Each token's softmax over the labels."""
        return label_probabilities(logits)

    def entities(
        self, encoding: Encoding, probabilities: np.ndarray, strategy: Strategy
    ) -> tuple[Entity, ...]:
        """Grouped as the HF token-classification pipeline groups them with ``strategy``."""
        return predicted_entities(encoding, probabilities, self.labels, self.tokenizer, strategy)

    def entity_target(self, entity: Entity) -> Target:
        """The mean probability of the entity's tags over its tokens."""
        return EntityTarget(
            entity.token_start, entity.token_end, entity.entity_group, entity.labels
        )

    def correctness(
        self,
        gold: Sequence[GoldSpan],
        document: Encoding,
        probabilities: np.ndarray,
        entities: Sequence[Entity],
        targets: Sequence[Target],
    ) -> tuple[bool, ...]:
        """Token and contrast targets by the gold tag there, entity targets entity-level
        (:func:`nerlens.gold.correctness`)."""
        return correctness(
            gold, document.offsets, document.special, self.labels, probabilities, entities, targets
        )

    def error_targets(
        self,
        gold: Sequence[GoldSpan],
        document: Encoding,
        probabilities: np.ndarray,
        entities: Sequence[Entity],
    ) -> tuple[Target, ...]:
        """Missed gold entities, contrasts at mistaken tags (:func:`nerlens.gold.error_targets`)."""
        predicted = [self.labels[i] for i in probabilities.argmax(axis=1)]
        found = tuple(self.entity_target(e) for e in entities)
        return error_targets(
            gold, document.offsets, document.special, self.labels, predicted, found
        )

    def entity_dict(self, entity: Entity) -> dict[str, Any]:
        """The token-classification pipeline's dict."""
        return entity.as_pipeline()
