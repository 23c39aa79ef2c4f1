"""LIME: a locally weighted linear model of each target on which tokens are present."""

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
from nerlens.options import count, number, seed
from nerlens.targets import Term

N_SAMPLES = count("n_samples", 200, 2, "Perturbed texts sampled (the input is one).", "method")
KERNEL_WIDTH = number(
    "kernel_width", 0.25, "Width of the similarity kernel on cosine distances.", "method", above=0
)
ALPHA = number("alpha", 1.0, "Ridge penalty of the linear fit.", "method", at_least=0)
SEED = seed()


class Lime(AttributionMethod):
    """φ_t = β_t of the weighted ridge fit  min Σ_z π(z)(f_t(z) − b_t − β_t·z)² + α‖β_t‖².

    z ∈ {0,1}^n marks which non-special tokens are present (absent ones take the baseline id).
    As LIME's text explainer samples: z = 1 first, then for each of the other ``n_samples − 1``
    rows a count k uniform in 1..n and k random tokens removed. π(z) = exp(−d(z)²/w²) with
    d(z) = 1 − sqrt(|z|/n) the cosine distance to the input and w = ``kernel_width`` (LIME's
    default 25 on distances ×100); ``alpha`` is LIME's ridge penalty, ``seed`` reproducibility.
    All targets share the samples, the forward passes and one linear solve.
    ``baseline_values`` is f_t with every non-special token replaced; ``deltas`` are NaN.
    """

    name = "lime"
    formula = (
        "phi[t] = beta of the weighted ridge fit of f_t(z) on token presence z, "
        "weights exp(-d(z)^2/kernel_width^2), d = cosine distance to the input"
    )
    capabilities = Capabilities(
        needs_gradients=False,
        uses_baseline=True,
        has_convergence_delta=False,
        all_targets_one_pass=True,
    )

    options = (N_SAMPLES, KERNEL_WIDTH, ALPHA, SEED)

    def __init__(
        self,
        n_samples: int = N_SAMPLES.default,
        kernel_width: float = KERNEL_WIDTH.default,
        alpha: float = ALPHA.default,
        seed: int | None = SEED.default,
    ) -> None:
        self.n_samples = N_SAMPLES.check(n_samples)
        self.kernel_width = KERNEL_WIDTH.check(kernel_width)
        self.alpha = ALPHA.check(alpha)
        self.seed = SEED.check(seed)

    def settings(self) -> dict[str, Any]:
        return {
            "n_samples": self.n_samples,
            "kernel_width": self.kernel_width,
            "alpha": self.alpha,
            "seed": self.seed,
        }

    def pass_rows(self, tokens: int, targets: int) -> int:
        """The prediction, the samples, all replaced."""
        return 1 + self.n_samples + 1

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
        keep = np.ones((self.n_samples + 1, n), dtype=bool)  # last row: all replaced
        for row in range(1, self.n_samples):
            keep[row, rng.choice(n, size=rng.integers(1, n + 1), replace=False)] = False
        keep[-1] = False
        values = perturbed_values(model_input, keep, terms, budget)
        z, y = keep[:-1].astype(np.float64), values[:-1]
        distance = 1.0 - np.sqrt(z.sum(axis=1) / n)
        weight = np.exp(-(distance**2) / self.kernel_width**2)
        mean_z = weight @ z / weight.sum()
        mean_y = weight @ y / weight.sum()
        zc, yc = z - mean_z, y - mean_y
        gram = zc.T @ (weight[:, None] * zc) + self.alpha * np.eye(n)
        beta = np.linalg.solve(gram, zc.T @ (weight[:, None] * yc))  # (n, targets)
        scores = np.zeros((len(terms), model_input.num_tokens))
        scores[:, positions] = beta.T
        return Attribution.without_delta(scores, values[0], values[-1])
