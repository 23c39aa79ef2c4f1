"""Saliency: the size of each token's gradient on the attributed embedding layer."""

from __future__ import annotations

import torch

from nerlens.methods._gradient import GradientMethod


class Saliency(GradientMethod):
    """φ_t,i = Σ_h |∂f_t/∂e[i,h]|, e the attributed layer's output at the input.

    Never negative: it says how sensitive the target is to a token, not in which direction.
    ``baseline_values`` and ``deltas`` are NaN, ``steps`` 0.
    """

    name = "saliency"
    formula = "phi[t,i] = sum_h |df_t/de[i,h]|  (e: attributed layer output at the input)"

    def reduce(self, gradient: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return gradient.abs().sum(dim=-1)
