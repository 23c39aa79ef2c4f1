"""Gradient methods: every target's gradient with respect to the attributed layer's output at
the input, from one shared forward pass, reduced per token by the method."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nerlens.methods._common import TargetScores, at_least_float32, label_probabilities
from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
    ModelInput,
    ProgressCallback,
)
from nerlens.targets import Term


def input_gradients(
    model_input: ModelInput, terms: Sequence[tuple[Term, ...]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``∂f_t/∂e`` for every target (targets, tokens, hidden) and ``e`` (tokens, hidden).

    One forward pass shared by all targets, one backward pass per target; at least float32.
    """
    layer_output = model_input.input_layer_output.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model_input.logits_at(layer_output)
        values = TargetScores(terms, layer_output.device)(label_probabilities(logits))[0]
        gradients = [
            torch.autograd.grad(values[t], layer_output, retain_graph=t < len(terms) - 1)[0][0]
            for t in range(len(terms))
        ]
    return at_least_float32(torch.stack(gradients)), at_least_float32(layer_output.detach()[0])


def gradient_attribution(
    model_input: ModelInput, terms: Sequence[tuple[Term, ...]], scores: np.ndarray
) -> Attribution:
    """An Attribution for a baseline-free gradient method: f(x) known, the rest NaN/0."""
    device = model_input.input_probs.device
    target_values = TargetScores(terms, device).at(model_input.input_probs)
    no_baseline = np.full(len(terms), np.nan)
    return Attribution.without_delta(scores, target_values, no_baseline)


class GradientMethod(AttributionMethod):
    """A baseline-free method that reduces ``∂f_t/∂e`` and ``e`` to one score per token."""

    capabilities = Capabilities(
        needs_gradients=True,
        uses_baseline=False,
        has_convergence_delta=False,
        all_targets_one_pass=True,
    )
    options = ()

    @abstractmethod
    def reduce(self, gradients: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """(targets, tokens, hidden) gradients and (tokens, hidden) e → (targets, tokens)."""

    def settings(self) -> dict[str, Any]:
        return {}

    def attribute(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        budget: Budget,
        progress: ProgressCallback | None = None,  # all targets end together: the caller counts
    ) -> Attribution:
        gradients, embedding = input_gradients(model_input, terms)
        scores = self.reduce(gradients, embedding).double().cpu().numpy()
        return gradient_attribution(model_input, terms, scores)
