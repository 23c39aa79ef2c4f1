"""Gradient × input on the attributed embedding layer."""

from __future__ import annotations

import torch

from nerlens.methods._gradient import GradientMethod


class GradientXInput(GradientMethod):
    """φ_t,i = Σ_h ∂f_t/∂e[i,h] · e[i,h], e the attributed layer's output at the input.

    A first-order Taylor term: one forward and one backward pass per target. It has no baseline
    and makes no completeness claim: ``baseline_values`` and ``deltas`` are NaN, ``steps`` 0.
    """

    name = "gradient_x_input"
    formula = "phi[t,i] = sum_h df_t/de[i,h] * e[i,h]  (e: attributed layer output at the input)"

    def reduce(self, gradient: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return (gradient * embedding).sum(dim=-1)
