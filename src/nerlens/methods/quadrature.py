"""Quadrature over the integration path [0, 1], in numpy alone: fixed rules and adaptive segments.

Integrated gradients integrates each token's gradient along the path; this module says where to
evaluate it (nodes) and with which weights, as Captum keeps its ``approximation_methods`` apart
from the attribution. :func:`quadrature` gives the fixed rules of ``n_steps=N``. For
``n_steps="auto"`` a :class:`SegmentTree` cuts the path into halves, each with an interpolatory
:class:`SegmentRule` whose nodes nest in its parent's (:func:`nested_nodes`), so a gradient once
computed serves every rule that holds its node; :meth:`SegmentTree.check` measures what a
segment's integral misses (a :class:`Check`) and :func:`exceeding` picks which errors to reduce.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from nerlens.errors import InputError

Rule = Literal["gausslegendre", "riemann_trapezoid"]
RULES: tuple[Rule, ...] = ("gausslegendre", "riemann_trapezoid")
# Chosen on the demo model (benchmarks/auto_rules.py, counts in docs/benchmarks.md): of first
# rules with 4, 6, 8, 12, 16 nodes and 2, 3, 4, 6 nodes per half, (4, 4) did the least work (forward
# plus backward rows) over the seed sentence and the 64-token text at tolerance 1e-3 when only
# deltas were checked. With token errors checked too, (4, 6) and (8, 6) count 3% fewer rows; not
# yet timed side by side, so (4, 4) stays.
AUTO_FIRST_STEPS = 4
AUTO_SEGMENT_STEPS = 4
Segment = tuple[float, float]
WHOLE: Segment = (0.0, 1.0)


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


def exceeding(errors: Sequence[np.ndarray], tolerance: float) -> list[int]:
    """Which of ``errors`` to reduce: the largest, so that the rest add up to ``tolerance`` at
    most in every component (the smallest are kept while they fit)."""
    order = sorted(range(len(errors)), key=lambda k: float(errors[k].max()))
    kept = np.zeros_like(errors[0])
    for position, k in enumerate(order):
        kept = kept + errors[k]
        if kept.max() > tolerance:
            return order[position:]
    return []


class Check(NamedTuple):
    """What one target's integral over one segment is known to miss."""

    gap: float  # the rule's total minus f(b) - f(a): exact, but a sum over tokens
    errors: np.ndarray  # each token's estimated error


class SegmentTree:
    """The segments of the path made so far: each one's rule, and the segment it is half of."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.rules = {WHOLE: SegmentRule.over(WHOLE, quadrature(rule, AUTO_FIRST_STEPS)[0])}
        self.parents: dict[Segment, Segment] = {}

    def halve(self, segment: Segment) -> list[Segment]:
        """The two halves of ``segment``, each with its rule (:func:`nested_nodes`)."""
        a, b = segment
        halves = [(a, (a + b) / 2), ((a + b) / 2, b)]
        for half in halves:
            if half not in self.rules:
                inside = [x for x in self.rules[segment].nodes if half[0] <= x <= half[1]]
                self.rules[half] = SegmentRule.over(half, nested_nodes(half, inside, self.rule))
                self.parents[half] = segment
        return halves

    def check(self, segment: Segment, gradients: dict[float, np.ndarray], exact: float) -> Check:
        """A target's gap on ``segment`` (``exact`` is its f(b) - f(a)) and its tokens' errors.

        A token's error is the smaller of two estimates, each the error of a coarser rule and so
        larger than the segment's own: how far the segment's rule moves when any one of its nodes
        is left out (a null rule), and, below the whole path, half of how far the parent's rule
        is from the sum of its two halves (classic adaptive quadrature)."""
        rule = self.rules[segment]
        stacked = np.stack([gradients[x] for x in rule.nodes])
        gap = float((rule.weights @ stacked).sum() - exact)
        leave_one_out = np.abs(rule.left_out @ stacked).max(axis=0)
        if segment not in self.parents:
            return Check(gap, leave_one_out)
        a, b = parent = self.parents[segment]
        halves = [self.rules[(a, (a + b) / 2)], self.rules[((a + b) / 2, b)]]
        split = sum(half.integrate(gradients) for half in halves)
        from_parent = np.abs(self.rules[parent].integrate(gradients) - split) / 2
        return Check(gap, np.minimum(from_parent, leave_one_out))


def nested_nodes(half: Segment, inherited: Sequence[float], rule: Rule) -> tuple[float, ...]:
    """A half segment's nodes: its parent's nodes inside it, plus new ones where its own
    ``AUTO_SEGMENT_STEPS``-node rule would put them, except the rule's nodes nearest to an
    inherited one (which stands in for them). A half always gets at least one new node."""
    a, b = half
    candidates = [a + (b - a) * float(x) for x in quadrature(rule, AUTO_SEGMENT_STEPS)[0]]
    for node in inherited:
        if len(candidates) > 1:
            candidates.remove(min(candidates, key=lambda x: abs(x - node)))
    return tuple(sorted({*inherited, *candidates}))


class SegmentRule(NamedTuple):
    """The nodes of one segment of the path and the weights that integrate over it."""

    nodes: tuple[float, ...]
    weights: np.ndarray
    left_out: np.ndarray  # row j: weights minus those of the rule without node j

    @classmethod
    def over(cls, segment: Segment, nodes: Sequence[float]) -> SegmentRule:
        """The interpolatory rule: it integrates every polynomial of degree below
        ``len(nodes)`` exactly over ``segment`` (on Gauss-Legendre nodes, Gauss-Legendre)."""
        weights = interpolatory_weights(segment, nodes)
        left_out = np.array(
            [
                weights - np.insert(interpolatory_weights(segment, np.delete(nodes, j)), j, 0.0)
                for j in range(len(nodes))
            ]
        )
        return cls(tuple(float(x) for x in nodes), weights, left_out)

    def integrate(self, gradients: dict[float, np.ndarray]) -> np.ndarray:
        """One target's attribution over the segment, from its gradients at the nodes."""
        return sum(w * gradients[x] for w, x in zip(self.weights, self.nodes))


def interpolatory_weights(segment: Segment, nodes: Sequence[float]) -> np.ndarray:
    """Weights that integrate every polynomial of degree below ``len(nodes)`` exactly."""
    a, b = segment
    unit = (2 * np.asarray(nodes) - a - b) / (b - a)
    vandermonde = np.polynomial.legendre.legvander(unit, len(nodes) - 1)
    moments = np.zeros(len(nodes))
    moments[0] = 2.0  # the integral of P_0 over [-1, 1]; of every other P_k it is 0
    return np.linalg.solve(vandermonde.T, moments) * (b - a) / 2
