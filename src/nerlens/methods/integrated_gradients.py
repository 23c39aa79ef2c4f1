"""Layer Integrated Gradients, all targets of a text from one shared set of forward passes.

The reference runs a full IG pass (``n_steps`` forwards and backwards) per target. Every target of
a text shares the same interpolated inputs, so here each chunk of steps is run forward once and
only the backward pass is repeated per target: about ``F + T·B`` instead of ``T·(F + B)``.
With ``n_steps="auto"`` each target gets the fewest Gauss–Legendre steps that bring its
convergence delta under ``tolerance``; only unconverged targets are recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from nerlens.errors import InputError
from nerlens.methods._common import (
    TargetScores,
    expand_batch,
    frozen_parameters,
    label_probabilities,
    replaced_output,
    steps_per_chunk,
)
from nerlens.methods.base import Attribution, AttributionMethod, Budget, Capabilities, ModelInput
from nerlens.targets import Term

Rule = Literal["gausslegendre", "riemann_trapezoid"]
RULES: tuple[Rule, ...] = ("gausslegendre", "riemann_trapezoid")
AUTO_FIRST_STEPS = 8


def quadrature(rule: Rule, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Path positions ``alphas`` in [0, 1] and their weights, as Captum defines the two rules."""
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return 0.5 * (1 + nodes), 0.5 * weights
    if n_steps < 2:
        raise InputError("riemann_trapezoid needs n_steps >= 2")
    alphas = np.linspace(0, 1, n_steps)
    weights = np.full(n_steps, 1.0 / (n_steps - 1))
    weights[[0, -1]] /= 2
    return alphas, weights


class IntegratedGradients(AttributionMethod):
    """Integrated Gradients on a layer's output, with a shared forward pass for all targets."""

    name = "integrated_gradients"
    capabilities = Capabilities(
        needs_gradients=True,
        uses_baseline=True,
        has_convergence_delta=True,
        all_targets_one_pass=True,
    )

    def __init__(
        self,
        n_steps: int | Literal["auto"] = 50,
        rule: Rule = "gausslegendre",
        tolerance: float = 1e-3,
        max_steps: int = 256,
    ) -> None:
        if n_steps != "auto" and (
            isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1
        ):
            raise InputError(f"n_steps must be a positive int or 'auto', got {n_steps!r}")
        if rule not in RULES:
            raise InputError(f"rule must be one of {list(RULES)}, got {rule!r}")
        if not tolerance > 0:
            raise InputError(f"tolerance must be > 0, got {tolerance!r}")
        if not isinstance(max_steps, int) or max_steps < AUTO_FIRST_STEPS:
            raise InputError(f"max_steps must be an int >= {AUTO_FIRST_STEPS}, got {max_steps!r}")
        self.n_steps = n_steps
        self.rule = rule
        self.tolerance = tolerance
        self.max_steps = max_steps

    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"n_steps": self.n_steps, "rule": self.rule}
        if self.n_steps == "auto":
            settings.update(tolerance=self.tolerance, max_steps=self.max_steps)
        return settings

    def attribute(
        self, model_input: ModelInput, terms: Sequence[tuple[Term, ...]], budget: Budget
    ) -> Attribution:
        device = model_input.input_probs.device
        score = TargetScores(terms, device)
        target_values = score(model_input.input_probs[None].double())[0].cpu().numpy()
        baseline_values = score(model_input.baseline_probs[None].double())[0].cpu().numpy()
        expected = target_values - baseline_values
        count = len(terms)
        scores = np.zeros((count, model_input.num_tokens))
        steps = np.zeros(count, dtype=np.int64)

        if self.n_steps != "auto":
            scores[:] = self._integrate(model_input, terms, self.n_steps, budget)
            steps[:] = self.n_steps
        else:
            pending = np.arange(count)
            n_steps = AUTO_FIRST_STEPS
            while pending.size:
                result = self._integrate(model_input, [terms[i] for i in pending], n_steps, budget)
                scores[pending] = result
                steps[pending] = n_steps
                gap = np.abs(result.sum(axis=1) - expected[pending])
                pending = pending[gap > self.tolerance]
                if n_steps >= self.max_steps:
                    break
                n_steps = min(2 * n_steps, self.max_steps)

        deltas = scores.sum(axis=1) - expected
        return Attribution(scores, target_values, baseline_values, deltas, steps)

    def _integrate(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        n_steps: int,
        budget: Budget,
    ) -> np.ndarray:
        """Raw attributions (targets, tokens) of ``terms`` with an ``n_steps`` quadrature."""
        model, layer = model_input.model, model_input.layer
        start = model_input.baseline_layer_output.detach()
        direction = model_input.input_layer_output.detach() - start
        device, dtype = direction.device, direction.dtype
        alphas, weights = quadrature(self.rule, n_steps)
        chunk = budget.internal_batch_size or steps_per_chunk(
            model, model_input.num_tokens, budget.max_memory_mb
        )
        score = TargetScores(terms, device)
        total = torch.zeros(len(terms), model_input.num_tokens, dtype=torch.float64, device=device)

        for begin in range(0, n_steps, chunk):
            alpha = torch.tensor(alphas[begin : begin + chunk], dtype=dtype, device=device)
            path = (start + alpha.view(-1, 1, 1) * direction).requires_grad_(True)
            with torch.enable_grad(), frozen_parameters(model), replaced_output(layer, path):
                logits = model(**expand_batch(model_input.inputs, len(alpha))).logits
            probabilities = label_probabilities(logits)
            weight = torch.tensor(
                weights[begin : begin + chunk], dtype=probabilities.dtype, device=device
            )
            weighted = score(probabilities) * weight[:, None]
            for index in range(len(terms)):
                (grad,) = torch.autograd.grad(
                    weighted[:, index].sum(), path, retain_graph=index < len(terms) - 1
                )
                total[index] += (grad * direction).sum(dim=(0, 2)).double()
        return total.cpu().numpy()
