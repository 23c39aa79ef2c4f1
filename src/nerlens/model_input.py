"""Encoding → ModelInput: pick the attributed embedding layer and evaluate both ends of the path."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from nerlens.encoding import Encoding, baseline_ids
from nerlens.errors import InputError
from nerlens.methods import ModelInput
from nerlens.methods._common import label_probabilities
from nerlens.methods._perturbation import perturbed_ids
from nerlens.methods.base import expand_batch
from nerlens.runner import ModelRunner

Embedding = Literal["word", "position"]
EMBEDDINGS: tuple[Embedding, ...] = ("word", "position")


def model_device(model: nn.Module) -> torch.device:
    """The device the model's weights live on."""
    return next(model.parameters()).device


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


def resolve_layer(model: nn.Module, embedding: Embedding) -> tuple[nn.Module, Embedding]:
    """The layer to attribute to, and which one it really is after any fallback.

    The position baseline puts every token at the text's first position (0 for BERT,
    ``padding_idx + 1`` for RoBERTa); models without an absolute position-embedding layer fall
    back to the word embeddings with a warning that says why.
    """
    if embedding not in EMBEDDINGS:
        raise InputError(f"embedding must be one of {list(EMBEDDINGS)}, got {embedding!r}")
    if embedding == "position":
        reason = _no_position_layer_reason(model)
        if reason is None:
            return _embeddings(model).position_embeddings, "position"
        warnings.warn(
            f"embedding='position' is not available: {reason}; attributing to the word "
            "embeddings instead",
            stacklevel=3,
        )
    return model.get_input_embeddings(), "word"


def prepare(
    runner: ModelRunner,
    embedding: Embedding,
    encodings: Sequence[Encoding],
    baseline_token_id: int,
    perturbations: Sequence[np.ndarray | None] | None = None,
) -> list[ModelInput]:
    """Model inputs at each text and at its baseline (the runner's layer as :func:`resolve_layer`
    gave it), from ONE forward pass over every text: texts of one token count only.

    The texts are evaluated here, each baseline when a method first needs it; the path between
    them is the method's business. ``perturbations[i]`` (a method's target-free keep mask for
    text ``i``, see ``AttributionMethod.perturbations``) run in the same pass, right after their
    text, into ``ModelInput.perturbed``. The rows of a batch are computed independently of each
    other, so every number equals that of a pass per text up to the matrix kernels' summation
    order (the last bits, on some CPUs). Call inside ``runner.session()``.
    """
    if len({len(encoding) for encoding in encodings}) > 1:
        raise ValueError("prepare packs texts of one token count only")
    perturbations = perturbations or [None] * len(encodings)
    ends = [_path_ends(runner, embedding, e, baseline_token_id) for e in encodings]
    batches, row = [], 0
    firsts = []  # each text's row in the pass; its perturbations follow it
    for encoding, keep, (inputs, _) in zip(encodings, perturbations, ends):
        firsts.append(row)
        batch, ids = inputs, inputs["input_ids"]
        if keep is not None:
            rows = perturbed_ids(ids[0], encoding.special, keep, baseline_token_id)
            batch = {**expand_batch(inputs, 1 + len(rows)), "input_ids": torch.cat([ids, rows])}
        batches.append(batch)
        row += len(batch["input_ids"])
    outputs, logits = runner.capture(
        {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}
    )
    probabilities = label_probabilities(logits)
    return [
        ModelInput(
            runner=runner,
            inputs=inputs,
            baseline=baseline,
            input_layer_output=outputs[first : first + 1],
            input_probs=probabilities[first],
            special=encoding.special,
            baseline_token_id=baseline_token_id,
            perturbed=None
            if keep is None
            else (keep, probabilities[first + 1 : first + 1 + len(keep)]),
        )
        for encoding, keep, (inputs, baseline), first in zip(encodings, perturbations, ends, firsts)
    ]


def _path_ends(
    runner: ModelRunner, embedding: Embedding, encoding: Encoding, baseline_token_id: int
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The model's keyword arguments (a batch of one) at the text and at its baseline."""
    device = model_device(runner.model)
    ids = torch.tensor([encoding.input_ids], device=device)
    # The attention mask is always given, even all ones: without it transformers (5.x) reads
    # position ids that do not step by one, as the position baseline's all-first ones, as
    # sequences packed side by side, and each token would attend only to itself there.
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    positions = position_ids(runner.model, ids)
    if embedding == "position" or positions_padding_idx(runner.model) is not None:
        # explicit, so that the baseline and every point of the path share the text's positions
        inputs["position_ids"] = positions
    if embedding == "word":
        reference = torch.tensor([baseline_ids(encoding, baseline_token_id)], device=device)
        return inputs, {**inputs, "input_ids": reference}
    return inputs, {**inputs, "position_ids": positions[:, :1].repeat(1, positions.shape[1])}


def pack(
    lengths: Sequence[int], rows: Sequence[int], capacity: dict[int, int], smallest: float
) -> list[list[int]]:
    """Texts grouped for :func:`prepare`: each group holds texts of one token count ``n``, in
    order, as many as fit ``capacity[n]`` rows in all (``rows[i]`` is text ``i``'s).

    A text whose own pass has fewer than ``smallest`` token-rows (``rows[i] * lengths[i]``) goes
    alone: for such small products the matrix kernels may sum in another order than they do in a
    larger pass (measured with MKL below about 16), and it would not get its own pass's numbers.
    """
    groups: list[list[int]] = []
    open_group: dict[int, tuple[list[int], int]] = {}  # token count -> (its last group, rows)
    for i, (n, size) in enumerate(zip(lengths, rows)):
        if size * n < smallest:
            groups.append([i])
            continue
        members, used = open_group.get(n, ([], 0))
        if not members or used + size > capacity[n]:
            members, used = [], 0
            groups.append(members)
        members.append(i)
        open_group[n] = (members, used + size)
    return groups
