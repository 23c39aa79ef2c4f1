"""Encoding → ModelInput: pick the attributed embedding layer and evaluate both ends of the path."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

from nerlens.encoding import Encoding, baseline_ids
from nerlens.errors import InputError
from nerlens.methods import ModelInput
from nerlens.methods._common import label_probabilities

Embedding = Literal["word", "position"]
EMBEDDINGS: tuple[Embedding, ...] = ("word", "position")


def model_device(model: nn.Module) -> torch.device:
    """The device the model's weights live on."""
    return next(model.parameters()).device


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Run with dropout off, then give the model back in the mode the user left it in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


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


def _evaluate(
    model: nn.Module, layer: nn.Module, kwargs: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's output and the label probabilities ``(tokens, labels)`` for one input."""
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, output: captured.append(output))
    try:
        with torch.no_grad():
            logits = model(**kwargs).logits
    finally:
        handle.remove()
    return captured[0], label_probabilities(logits)[0]


def prepare(
    model: nn.Module,
    layer: nn.Module,
    embedding: Embedding,
    encoding: Encoding,
    baseline_token_id: int,
) -> ModelInput:
    """Model inputs at the text and at its baseline (``layer`` as :func:`resolve_layer` gave it).

    Both ends are evaluated once here; the path between them is the method's business.
    """
    device = model_device(model)
    ids = torch.tensor([encoding.input_ids], device=device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if embedding == "word":
        reference = torch.tensor([baseline_ids(encoding, baseline_token_id)], device=device)
        baseline = {**inputs, "input_ids": reference}
    else:
        positions = torch.arange(ids.shape[1], device=device)[None]
        inputs["position_ids"] = positions
        baseline = {**inputs, "position_ids": torch.zeros_like(positions)}
    input_out, input_probs = _evaluate(model, layer, inputs)
    baseline_out, baseline_probs = _evaluate(model, layer, baseline)
    return ModelInput(
        model=model,
        layer=layer,
        inputs=inputs,
        baseline=baseline,
        input_layer_output=input_out,
        baseline_layer_output=baseline_out,
        input_probs=input_probs,
        baseline_probs=baseline_probs,
    )
