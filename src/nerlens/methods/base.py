"""The contract every attribution method follows: one signature, declared capabilities."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from nerlens.model_input import ModelInput
from nerlens.options import Option
from nerlens.targets import Term


@dataclass(frozen=True)
class Capabilities:
    """What a method needs and offers, so callers ask instead of special-casing names."""

    needs_gradients: bool
    uses_baseline: bool
    has_convergence_delta: bool
    all_targets_one_pass: bool


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

    def pass_rows(self, tokens: int, targets: int) -> int:
        """The fewest rows this method runs through the model for ``targets`` targets of a text
        of ``tokens`` tokens (special tokens not counted): forward rows, plus backward rows once
        per target they are differentiated for. A server multiplies it by the tokens per row to
        refuse, before any work, what cannot finish in time. Unless a method says: the
        prediction's one row."""
        return 1

    def perturbations(self, special: Sequence[bool]) -> np.ndarray | None:
        """The perturbed inputs this method evaluates whatever the targets are, or None.

        A boolean keep mask ``(rows, candidates)`` over the text's non-special tokens (see
        :mod:`nerlens.methods.perturbation`). The prediction pass runs these rows in its own
        batch when they fit the budget (``ModelInput.perturbed``), which saves a pass per text.
        """
        return None
