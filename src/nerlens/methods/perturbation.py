"""Helpers the perturbation methods share: which tokens may be replaced, and batched scoring.

A perturbed input keeps every position (nothing shifts, the text is never re-tokenised): a token
that is "absent" has its id replaced by the baseline token id; special tokens are always kept.
Every target is scored from the same forward passes, chunked by the memory budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nerlens.methods.base import Budget
from nerlens.methods.chunking import rows_per_chunk
from nerlens.methods.scoring import TargetScores
from nerlens.model_input import ModelInput, candidate_positions, perturbed_ids
from nerlens.targets import Term


def candidates(model_input: ModelInput) -> np.ndarray:
    """:func:`candidate_positions` of ``model_input``'s text."""
    return candidate_positions(model_input.special)


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
    chunk = rows_per_chunk(model_input.kind.encoder_config, model_input.num_tokens, budget)
    values = []
    with torch.no_grad():
        for begin in range(0, len(keep), chunk):
            batch = perturbed_ids(
                ids, model_input.special, keep[begin : begin + chunk], model_input.baseline_token_id
            )
            probabilities = model_input.probabilities_for_ids(batch)
            values.append(score(probabilities.double()).cpu().numpy())
    if not values:
        return np.zeros((0, len(terms)))
    return np.concatenate(values)
