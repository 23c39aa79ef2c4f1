"""Encoding → ModelInput: pick the attributed embedding layer and evaluate both ends of the path."""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn

from nerlens.encoding import Encoding, baseline_ids
from nerlens.errors import InputError
from nerlens.methods import ModelInput
from nerlens.methods._common import label_probabilities
from nerlens.runner import ModelRunner

Embedding = Literal["word", "position"]
EMBEDDINGS: tuple[Embedding, ...] = ("word", "position")


def model_device(model: nn.Module) -> torch.device:
    """The device the model's weights live on."""
    return next(model.parameters()).device


def position_embedding_layer(model: nn.Module) -> nn.Module | None:
    """The absolute position-embedding table, or None where positions are not usable.

    RoBERTa-style models derive positions from the input ids with a padding offset, so an
    all-zero reference position is not a valid input for them (the reference falls back too).
    """
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    embeddings = getattr(base, "embeddings", None)
    layer = getattr(embeddings, "position_embeddings", None)
    if not isinstance(layer, nn.Embedding) or getattr(embeddings, "padding_idx", None) is not None:
        return None
    return layer


def resolve_layer(model: nn.Module, embedding: Embedding) -> tuple[nn.Module, Embedding]:
    """The layer to attribute to, and which one it really is after any fallback."""
    if embedding not in EMBEDDINGS:
        raise InputError(f"embedding must be one of {list(EMBEDDINGS)}, got {embedding!r}")
    if embedding == "position":
        layer = position_embedding_layer(model)
        if layer is not None:
            return layer, "position"
        warnings.warn(
            f"{type(model).__name__} has no usable absolute position embeddings; "
            "attributing to the word embeddings instead",
            stacklevel=3,
        )
    return model.get_input_embeddings(), "word"


def prepare(
    runner: ModelRunner,
    embedding: Embedding,
    encoding: Encoding,
    baseline_token_id: int,
) -> ModelInput:
    """Model inputs at the text and at its baseline (the runner's layer as :func:`resolve_layer`
    gave it). Both ends are evaluated once here; the path between them is the method's business.
    Call inside ``runner.session()``.
    """
    device = model_device(runner.model)
    ids = torch.tensor([encoding.input_ids], device=device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if embedding == "word":
        reference = torch.tensor([baseline_ids(encoding, baseline_token_id)], device=device)
        baseline = {**inputs, "input_ids": reference}
    else:
        positions = torch.arange(ids.shape[1], device=device)[None]
        inputs["position_ids"] = positions
        baseline = {**inputs, "position_ids": torch.zeros_like(positions)}
    input_out, input_logits = runner.capture(inputs)
    baseline_out, baseline_logits = runner.capture(baseline)
    return ModelInput(
        runner=runner,
        inputs=inputs,
        baseline=baseline,
        input_layer_output=input_out,
        baseline_layer_output=baseline_out,
        input_probs=label_probabilities(input_logits)[0],
        baseline_probs=label_probabilities(baseline_logits)[0],
        special=encoding.special,
        baseline_token_id=baseline_token_id,
    )
