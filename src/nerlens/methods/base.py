"""The contract every attribution method follows: one signature, declared capabilities."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from nerlens.methods._common import label_probabilities
from nerlens.options import Option
from nerlens.runner import ModelRunner
from nerlens.targets import Term


def expand_batch(kwargs: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor]:
    """Repeat a batch-of-one input ``size`` times (a view, no copy)."""
    return {key: value.expand(size, *value.shape[1:]) for key, value in kwargs.items()}


@dataclass(frozen=True)
class Capabilities:
    """What a method needs and offers, so callers ask instead of special-casing names."""

    needs_gradients: bool
    uses_baseline: bool
    has_convergence_delta: bool
    all_targets_one_pass: bool


@dataclass(frozen=True)
class ModelInput:
    """One encoded text, evaluated once at the input (and at the baseline when a method asks).

    ``inputs``/``baseline`` are the model's keyword arguments (batch of one) that produce the
    attributed layer's output at the two ends of the path; ``*_layer_output`` are those outputs
    and ``*_probs`` the label probabilities there (shape ``(tokens, labels)``). The baseline end
    is evaluated on first use only: perturbation and plain-gradient methods never need it, and
    for them that forward pass is a large share of a short text's cost. ``runner`` runs the
    model with that layer's output replaced, safely from any thread.
    """

    runner: ModelRunner
    inputs: dict[str, torch.Tensor]
    baseline: dict[str, torch.Tensor]
    input_layer_output: torch.Tensor
    input_probs: torch.Tensor
    special: tuple[bool, ...] = ()  # per token: a special token, never perturbed
    baseline_token_id: int | None = None  # the id that stands for "absent" in perturbations
    # the method's target-free perturbations, run with the input: keep mask, label probabilities
    perturbed: tuple[np.ndarray, torch.Tensor] | None = None

    @cached_property
    def _baseline_end(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The attributed layer's output and the label probabilities at the baseline."""
        output, logits = self.runner.capture(self.baseline)
        return output, label_probabilities(logits)[0]

    @property
    def baseline_layer_output(self) -> torch.Tensor:
        return self._baseline_end[0]

    @property
    def baseline_probs(self) -> torch.Tensor:
        return self._baseline_end[1]

    @property
    def num_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1])

    @property
    def model(self) -> nn.Module:
        return self.runner.model

    def logits_at(self, layer_output: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, tokens, labels)`` with the attributed layer's output replaced by
        ``layer_output`` ``(batch, tokens, hidden)``; every other input is the text's own."""
        return self.runner.forward(expand_batch(self.inputs, len(layer_output)), layer_output)

    def logits_for_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, tokens, labels)`` for a batch of perturbed token ids ``(batch, tokens)``
        of the text's length; every other input (attention mask, positions) is the text's own."""
        kwargs = expand_batch(self.inputs, len(input_ids))
        return self.runner.forward({**kwargs, "input_ids": input_ids})


@dataclass(frozen=True)
class Budget:
    """How much work one forward chunk may hold: a fixed number of steps, or a memory budget."""

    internal_batch_size: int | None = None
    max_memory_mb: float = 1024.0


@dataclass(frozen=True)
class Attribution:
    """Raw per-token attributions of each target, with the values that check their completeness."""

    scores: np.ndarray  # (targets, tokens), summed over the hidden dimension, not normalised
    target_values: np.ndarray  # (targets,) f(input)
    baseline_values: np.ndarray  # (targets,) f(baseline)
    deltas: np.ndarray  # (targets,) sum(scores) - (f(input) - f(baseline)); NaN when undefined
    steps: np.ndarray  # (targets,) number of integration steps used (0 when not applicable)

    @classmethod
    def without_delta(
        cls, scores: np.ndarray, target_values: np.ndarray, baseline_values: np.ndarray
    ) -> Attribution:
        """Scores of a method that makes no completeness claim: NaN deltas, no steps."""
        count = len(target_values)
        return cls(
            scores=scores,
            target_values=target_values,
            baseline_values=baseline_values,
            deltas=np.full(count, np.nan),
            steps=np.zeros(count, dtype=np.int64),
        )


ProgressCallback = Callable[[int], None]
"""Called with ``k`` each time ``k`` more targets are fully attributed (for progress bars)."""


class AttributionMethod(ABC):
    """Base of all methods: ``attribute`` explains many targets of one input at once."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # the options the constructor takes, declared once (name, default, allowed values, help);
    # None: undeclared (a user's method), read from the constructor's keyword parameters
    options: ClassVar[tuple[Option, ...] | None] = None

    @property
    def warns_when_unconverged(self) -> bool:
        """Whether the method itself warns about targets it leaves unconverged (adaptive steps
        do); else the Explainer warns about large convergence deltas."""
        return False

    @abstractmethod
    def attribute(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        budget: Budget,
        progress: ProgressCallback | None = None,
    ) -> Attribution:
        """Attribute every target (given as its probability terms) to the layer's tokens.

        A method that can should call ``progress(k)`` as targets finish; the caller counts any
        target left unreported as done when ``attribute`` returns.
        """

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The options in effect, recorded in every Explanation."""

    def perturbations(self, special: Sequence[bool]) -> np.ndarray | None:
        """The perturbed inputs this method evaluates whatever the targets are, or None.

        A boolean keep mask ``(rows, candidates)`` over the text's non-special tokens (see
        :mod:`nerlens.methods._perturbation`). The prediction pass runs these rows in its own
        batch when they fit the budget (``ModelInput.perturbed``), which saves a pass per text.
        """
        return None
