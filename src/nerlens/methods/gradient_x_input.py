"""Gradient × input on the attributed embedding layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nerlens.methods._gradient import gradient_attribution, input_gradients
from nerlens.methods.base import Attribution, AttributionMethod, Budget, Capabilities, ModelInput
from nerlens.targets import Term


class GradientXInput(AttributionMethod):
    """φ_t,i = Σ_h ∂f_t/∂e[i,h] · e[i,h], e the attributed layer's output at the input.

    A first-order Taylor term: one forward and one backward pass per target. It has no baseline
    and makes no completeness claim: ``baseline_values`` and ``deltas`` are NaN, ``steps`` 0.
    """

    name = "gradient_x_input"
    formula = "phi[t,i] = sum_h df_t/de[i,h] * e[i,h]  (e: attributed layer output at the input)"
    capabilities = Capabilities(
        needs_gradients=True,
        uses_baseline=False,
        has_convergence_delta=False,
        all_targets_one_pass=True,
    )

    def settings(self) -> dict[str, Any]:
        return {}

    def attribute(
        self, model_input: ModelInput, terms: Sequence[tuple[Term, ...]], budget: Budget
    ) -> Attribution:
        gradients, embedding = input_gradients(model_input, terms)
        scores = (gradients * embedding).sum(dim=2).double().cpu().numpy()
        return gradient_attribution(model_input, terms, scores)
