"""Shapley value sampling over the tokens, every target from the same forward passes."""

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
from nerlens.methods.perturbation import candidates, perturbed_values
from nerlens.options import count, seed
from nerlens.targets import Term

N_SAMPLES = count("n_samples", 25, 1, "Random orders of the tokens sampled.", "method")
SEED = seed()


class ShapleySampling(AttributionMethod):
    """φ_t,i = mean over sampled orders π of f_t(S_π,i ∪ {i}) − f_t(S_π,i).

    The players are the non-special tokens; a token outside a coalition S has its id replaced by
    the baseline id (positions never shift). S_π,i is the set of tokens before i in the random
    order π; ``n_samples`` orders are drawn with ``numpy.random.default_rng(seed)``, so a seed
    makes it reproducible. The empty and the full coalition are one shared forward row each, so
    efficiency holds exactly: Σ_i φ_t,i = f_t(x) − f_t(all non-special tokens replaced), which
    ``deltas`` report (float rounding only). Cost: ``n_samples · (n − 1) + 2`` forward rows.
    """

    name = "shapley_sampling"
    formula = (
        "phi[t,i] = mean over n_samples random orders of f_t(tokens before i, and i) - "
        "f_t(tokens before i); absent tokens take the baseline id"
    )
    capabilities = Capabilities(
        needs_gradients=False,
        uses_baseline=True,
        has_convergence_delta=True,
        all_targets_one_pass=True,
    )
    options = (N_SAMPLES, SEED)

    def __init__(self, n_samples: int = N_SAMPLES.default, seed: int | None = SEED.default) -> None:
        self.n_samples = N_SAMPLES.check(n_samples)
        self.seed = SEED.check(seed)

    def settings(self) -> dict[str, Any]:
        return {"n_samples": self.n_samples, "seed": self.seed}

    def pass_rows(self, tokens: int, targets: int) -> int:
        """The prediction and the rows of the class docstring's cost."""
        return 1 + self.n_samples * max(tokens - 1, 0) + 2

    def attribute(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        budget: Budget,
        progress: ProgressCallback | None = None,  # all targets end together: the caller counts
    ) -> Attribution:
        positions = candidates(model_input)
        n = len(positions)
        rng = np.random.default_rng(self.seed)
        orders = np.array([rng.permutation(n) for _ in range(self.n_samples)])
        # row 0: nobody present; row 1: everybody; then per order the n - 1 partial coalitions
        keep = np.zeros((2 + self.n_samples * max(n - 1, 0), n), dtype=bool)
        keep[1] = True
        for s, order in enumerate(orders):
            for j in range(1, n):
                keep[2 + s * (n - 1) + j - 1, order[:j]] = True
        values = perturbed_values(model_input, keep, terms, budget)
        empty, full = values[0], values[1]
        phi = np.zeros((len(terms), n))
        for s, order in enumerate(orders):
            chain = np.vstack([empty, values[2 + s * (n - 1) : 2 + (s + 1) * (n - 1)], full])
            phi[:, order] += np.diff(chain, axis=0).T
        phi /= self.n_samples
        scores = np.zeros((len(terms), model_input.num_tokens))
        scores[:, positions] = phi
        return Attribution(
            scores=scores,
            target_values=full,
            baseline_values=empty,
            deltas=scores.sum(axis=1) - (full - empty),
            steps=np.zeros(len(terms), dtype=np.int64),
        )
