"""Occlusion: how much each target drops when one token is replaced by the baseline token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
    ModelInput,
    ProgressCallback,
)
from nerlens.methods.perturbation import candidate_positions, candidates, perturbed_values
from nerlens.methods.scoring import TargetScores
from nerlens.targets import Term


class Occlusion(AttributionMethod):
    """φ_t,i = f_t(x) − f_t(x with token i's id replaced by the baseline id).

    The text is never re-tokenised and positions never shift; special tokens are never occluded
    and score 0. One forward row per non-special token plus the all-replaced input, shared by
    every target and run in the prediction's own pass when they fit the memory budget; f_t(x) is
    the prediction's. ``baseline_values`` is f_t with every non-special token replaced;
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
    options = ()

    def settings(self) -> dict[str, Any]:
        return {}

    def pass_rows(self, tokens: int, targets: int) -> int:
        """The prediction, each token replaced alone, all replaced."""
        return tokens + 2

    def perturbations(self, special: Sequence[bool]) -> np.ndarray:
        """Each candidate replaced alone (one row each), then all of them (the last row)."""
        n = len(candidate_positions(special))
        keep = np.ones((n + 1, n), dtype=bool)
        keep[np.arange(n), np.arange(n)] = False
        keep[n] = False
        return keep

    def attribute(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        budget: Budget,
        progress: ProgressCallback | None = None,  # all targets end together: the caller counts
    ) -> Attribution:
        positions = candidates(model_input)
        values = perturbed_values(
            model_input, self.perturbations(model_input.special), terms, budget
        )
        target_values = TargetScores(terms, model_input.input_probs.device).at(
            model_input.input_probs
        )
        scores = np.zeros((len(terms), model_input.num_tokens))
        scores[:, positions] = (target_values[None, :] - values[: len(positions)]).T
        return Attribution.without_delta(scores, target_values, values[len(positions)])
