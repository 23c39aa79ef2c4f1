"""Gradient methods: every target's gradient with respect to the attributed layer's output at
the input, from one shared forward pass, reduced per token by the method."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
    ModelInput,
    ProgressCallback,
)
from nerlens.methods.scoring import TargetScores, at_least_float32
from nerlens.runner import note_backward
from nerlens.targets import Term

Reduction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""One target's gradient (tokens, hidden) and the layer's output e (tokens, hidden) → (tokens,)."""


def reduced_input_gradients(
    model_input: ModelInput, terms: Sequence[tuple[Term, ...]], reduce: Reduction
) -> torch.Tensor:
    """Each target's ``∂f_t/∂e`` reduced with ``e`` to one score per token: (targets, tokens).

    One forward pass shared by all targets, one backward pass per target; at least float32.
    Each gradient (tokens, hidden) is reduced as soon as it is computed, so memory holds one
    target's gradient at a time, not every target's (targets × tokens × hidden).
    """
    layer_output = model_input.input_layer_output.detach().clone().requires_grad_(True)
    embedding = at_least_float32(layer_output.detach()[0])
    with torch.enable_grad():
        probabilities = model_input.probabilities_at(layer_output)
        values = TargetScores(terms, layer_output.device)(probabilities)[0]
        scores = []
        for t in range(len(terms)):
            (gradient,) = torch.autograd.grad(
                values[t], layer_output, retain_graph=t < len(terms) - 1
            )
            scores.append(reduce(at_least_float32(gradient[0]), embedding))
            note_backward(1)  # counted, and a cancelled call stops here
    return torch.stack(scores)


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
    def reduce(self, gradient: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """One target's (tokens, hidden) gradient and (tokens, hidden) e → (tokens,) scores."""

    def settings(self) -> dict[str, Any]:
        return {}

    def pass_rows(self, tokens: int, targets: int) -> int:
        """The prediction, one forward with gradients, one backward per target."""
        return 2 + targets

    def attribute(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        budget: Budget,
        progress: ProgressCallback | None = None,  # all targets end together: the caller counts
    ) -> Attribution:
        scores = reduced_input_gradients(model_input, terms, self.reduce)
        return gradient_attribution(model_input, terms, scores.double().cpu().numpy())
