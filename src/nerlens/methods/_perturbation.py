"""Helpers the perturbation methods share: which tokens may be replaced, and batched scoring.

A perturbed input keeps every position (nothing shifts, the text is never re-tokenised): a token
that is "absent" has its id replaced by the baseline token id; special tokens are always kept.
Every target is scored from the same forward passes, chunked by the memory budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nerlens.methods._common import TargetScores, label_probabilities, steps_per_chunk
from nerlens.methods.base import Budget, ModelInput
from nerlens.targets import Term


def candidate_positions(special: Sequence[bool]) -> np.ndarray:
    """Positions of the tokens a perturbation may replace: every non-special token."""
    return np.array([p for p, is_special in enumerate(special) if not is_special], dtype=int)


def candidates(model_input: ModelInput) -> np.ndarray:
    """:func:`candidate_positions` of ``model_input``'s text."""
    return candidate_positions(model_input.special)


def rows_per_chunk(model: nn.Module, num_tokens: int, budget: Budget, sharing: int = 1) -> int:
    """Perturbed inputs per forward pass: ``internal_batch_size``, else what fits the budget
    (a ``sharing``-th of it, when the caller runs that many passes at once)."""
    return budget.internal_batch_size or steps_per_chunk(
        model, num_tokens, budget.max_memory_mb / sharing
    )


def perturbed_values(
    model_input: ModelInput,
    keep: np.ndarray,
    terms: Sequence[tuple[Term, ...]],
    budget: Budget,
) -> np.ndarray:
    """Every target's value (float64, shape ``(rows, targets)``) on each perturbed input.

    ``keep`` is a boolean ``(rows, candidates)`` mask over :func:`candidates`: a candidate not
    kept has its token id replaced by the baseline id.
    """
    if model_input.baseline_token_id is None:
        raise ValueError("perturbation needs model_input.baseline_token_id")
    ids = model_input.inputs["input_ids"][0]
    score = TargetScores(terms, ids.device)
    if model_input.perturbed is not None and np.array_equal(model_input.perturbed[0], keep):
        return score(model_input.perturbed[1].double()).cpu().numpy()  # run with the input
    chunk = rows_per_chunk(model_input.model, model_input.num_tokens, budget)
    values = []
    with torch.no_grad():
        for begin in range(0, len(keep), chunk):
            batch = perturbed_ids(
                ids, model_input.special, keep[begin : begin + chunk], model_input.baseline_token_id
            )
            probabilities = label_probabilities(model_input.logits_for_ids(batch))
            values.append(score(probabilities.double()).cpu().numpy())
    if not values:
        return np.zeros((0, len(terms)))
    return np.concatenate(values)


def perturbed_ids(
    ids: torch.Tensor, special: Sequence[bool], keep: np.ndarray, baseline_token_id: int
) -> torch.Tensor:
    """One row of token ids ``(rows, tokens)`` per row of ``keep``: the text's ``ids`` with every
    candidate (non-special token) not kept replaced by ``baseline_token_id``."""
    positions = torch.as_tensor(candidate_positions(special), device=ids.device)
    keep_t = torch.as_tensor(np.asarray(keep, dtype=bool), device=ids.device)
    batch = ids.repeat(len(keep_t), 1)
    batch[:, positions] = torch.where(
        keep_t, ids[positions], torch.full_like(ids[positions], baseline_token_id)
    )
    return batch
