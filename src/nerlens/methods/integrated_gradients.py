"""Layer Integrated Gradients, all targets of a text from one shared set of forward passes.

The reference runs a full IG pass (``n_steps`` forwards and backwards) per target. Every target of
a text shares the same interpolated inputs, so here each chunk of steps is run forward once and
only the backward pass is repeated per target: about ``F + T·B`` instead of ``T·(F + B)``.

``n_steps="auto"`` integrates adaptively. On any segment ``[a, b]`` of the path the exact
integral of a target's total attribution is known from two forward values, ``f(b) - f(a)``, so
each segment's own completeness gap is measurable. Starting from one 8-node Gauss–Legendre rule,
segments whose gap exceeds their share of ``tolerance`` are halved and recomputed with 4 nodes per
half, for the unconverged targets only. Nodes gather where the model's output changes sharply,
and every target ends with ``|delta| <= tolerance`` unless ``max_steps`` nodes were not enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from nerlens.errors import InputError
from nerlens.methods._common import (
    TargetScores,
    at_least_float32,
    label_probabilities,
    steps_per_chunk,
)
from nerlens.methods.base import Attribution, AttributionMethod, Budget, Capabilities, ModelInput
from nerlens.targets import Term

Rule = Literal["gausslegendre", "riemann_trapezoid"]
RULES: tuple[Rule, ...] = ("gausslegendre", "riemann_trapezoid")
AUTO_FIRST_STEPS = 8
AUTO_SEGMENT_STEPS = 4
Segment = tuple[float, float]


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

        if self.n_steps == "auto":
            values = {0.0: baseline_values, 1.0: target_values}
            scores[:], steps[:] = self._adaptive(model_input, terms, values, budget)
        else:
            whole = [(0.0, 1.0)]
            scores[:] = self._integrate(model_input, terms, whole, self.n_steps, budget)[:, 0]
            steps[:] = self.n_steps
        deltas = scores.sum(axis=1) - expected
        return Attribution(scores, target_values, baseline_values, deltas, steps)

    def _adaptive(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        values: dict[float, np.ndarray],
        budget: Budget,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adaptive composite quadrature; ``values`` maps path positions to every f(position)."""
        whole = (0.0, 1.0)
        first = self._integrate(model_input, terms, [whole], AUTO_FIRST_STEPS, budget)
        pieces: list[dict[Segment, np.ndarray]] = [{whole: row[0]} for row in first]
        nodes = {whole: AUTO_FIRST_STEPS}
        while True:
            to_split: dict[Segment, list[int]] = {}
            for t, segments in enumerate(pieces):
                gaps = {
                    (a, b): part.sum() - (values[b][t] - values[a][t])
                    for (a, b), part in segments.items()
                }
                used = sum(nodes[segment] for segment in segments)
                if abs(sum(gaps.values())) <= self.tolerance or used >= self.max_steps:
                    continue
                for (a, b), gap in gaps.items():
                    if abs(gap) > self.tolerance * (b - a):
                        to_split.setdefault((a, b), []).append(t)
            if not to_split:
                break
            middles = [(a + b) / 2 for a, b in to_split]
            values.update(zip(middles, self._values(model_input, terms, middles)))
            groups: dict[tuple[int, ...], list[Segment]] = {}
            for segment, targets in to_split.items():
                groups.setdefault(tuple(targets), []).append(segment)
            for targets, segments in groups.items():
                halves = [h for a, b in segments for h in ((a, (a + b) / 2), ((a + b) / 2, b))]
                chosen = [terms[t] for t in targets]
                parts = self._integrate(model_input, chosen, halves, AUTO_SEGMENT_STEPS, budget)
                for row, t in enumerate(targets):
                    for segment in segments:
                        del pieces[t][segment]
                    pieces[t].update(zip(halves, parts[row]))
                nodes.update(dict.fromkeys(halves, AUTO_SEGMENT_STEPS))
        scores = np.array([sum(segments.values()) for segments in pieces])
        steps = np.array([sum(nodes[s] for s in segments) for segments in pieces])
        return scores, steps

    def _values(
        self, model_input: ModelInput, terms: Sequence[tuple[Term, ...]], alphas: list[float]
    ) -> np.ndarray:
        """Every target's value f at each path position in ``alphas``: (positions, targets)."""
        start = model_input.baseline_layer_output
        direction = model_input.input_layer_output - start
        alpha = torch.tensor(alphas, dtype=direction.dtype, device=direction.device)
        path = start + alpha.view(-1, 1, 1) * direction
        with torch.no_grad():
            logits = model_input.logits_at(path)
        scores = TargetScores(terms, direction.device)
        return scores(label_probabilities(logits).double()).cpu().numpy()

    def _integrate(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        segments: Sequence[Segment],
        n_steps: int,
        budget: Budget,
    ) -> np.ndarray:
        """Raw attributions (targets, segments, tokens), ``n_steps`` nodes per path segment.

        All targets share each chunk's forward pass; only the backward pass is per target.
        """
        start = model_input.baseline_layer_output.detach()
        direction = model_input.input_layer_output.detach() - start
        device, dtype = direction.device, direction.dtype
        unit_alphas, unit_weights = quadrature(self.rule, n_steps)
        alphas = np.concatenate([a + (b - a) * unit_alphas for a, b in segments])
        weights = np.concatenate([(b - a) * unit_weights for a, b in segments])
        row_segment = torch.as_tensor(np.repeat(np.arange(len(segments)), n_steps), device=device)
        chunk = budget.internal_batch_size or steps_per_chunk(
            model_input.model, model_input.num_tokens, budget.max_memory_mb
        )
        score = TargetScores(terms, device)
        total = torch.zeros(
            len(terms), len(segments), model_input.num_tokens, dtype=torch.float64, device=device
        )
        for begin in range(0, len(alphas), chunk):
            rows = slice(begin, begin + chunk)
            alpha = torch.tensor(alphas[rows], dtype=dtype, device=device)
            path = (start + alpha.view(-1, 1, 1) * direction).requires_grad_(True)
            with torch.enable_grad():
                logits = model_input.logits_at(path)
            probabilities = label_probabilities(logits)
            weighted = (
                score(probabilities)
                * torch.tensor(weights[rows], dtype=probabilities.dtype, device=device)[:, None]
            )
            for t in range(len(terms)):
                (grad,) = torch.autograd.grad(
                    weighted[:, t].sum(), path, retain_graph=t < len(terms) - 1
                )
                per_row = (at_least_float32(grad) * at_least_float32(direction)).sum(dim=2).double()
                total[t].index_add_(0, row_segment[rows], per_row)
        return total.cpu().numpy()
