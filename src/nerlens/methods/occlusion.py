"""Occlusion: how much each target drops when one token is replaced by the baseline token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nerlens.methods._perturbation import candidates, perturbed_values
from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
    ModelInput,
    ProgressCallback,
)
from nerlens.targets import Term


class Occlusion(AttributionMethod):
    """φ_t,i = f_t(x) − f_t(x with token i's id replaced by the baseline id).

    The text is never re-tokenised and positions never shift; special tokens are never occluded
    and score 0. One forward row per non-special token plus the input and the all-replaced input,
    shared by every target. ``baseline_values`` is f_t with every non-special token replaced;
    ``deltas`` are NaN (occlusion makes no completeness claim) and ``steps`` 0.
    """

    name = "occlusion"
    formula = "phi[t,i] = f_t(x) - f_t(x with token i's id replaced by the baseline id)"
    capabilities = Capabilities(
        needs_gradients=False,
        uses_baseline=True,
        has_convergence_delta=False,
        all_targets_one_pass=True,
    )

    def settings(self) -> dict[str, Any]:
        return {}

    def attribute(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        budget: Budget,
        progress: ProgressCallback | None = None,  # all targets end together: the caller counts
    ) -> Attribution:
        positions = candidates(model_input)
        n = len(positions)
        keep = np.ones((n + 2, n), dtype=bool)  # row 0: the input; row n+1: all replaced
        keep[np.arange(1, n + 1), np.arange(n)] = False
        keep[n + 1] = False
        values = perturbed_values(model_input, keep, terms, budget)
        scores = np.zeros((len(terms), model_input.num_tokens))
        scores[:, positions] = (values[0][None, :] - values[1 : n + 1]).T
        return Attribution.without_delta(scores, values[0], values[n + 1])
