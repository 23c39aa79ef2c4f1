"""Layer Integrated Gradients, all targets of a text from one shared set of forward passes.

The reference runs a full IG pass (``n_steps`` forwards and backwards) per target. Every target of
a text shares the same interpolated inputs, so here each chunk of steps is run forward once and
only the backward pass is repeated per target: about ``F + T·B`` instead of ``T·(F + B)``.

``n_steps="auto"`` integrates adaptively. On any segment ``[a, b]`` of the path the exact integral
of a target's total attribution is known from two forward values, ``f(b) - f(a)``, so each
segment's own completeness gap is measurable. A total can be right while its tokens are wrong
(their errors cancel), so each token's error is estimated too (:meth:`SegmentTree.check`). Starting
from one ``AUTO_FIRST_STEPS``-node Gauss–Legendre rule, a target halves its segments of largest gap
until the rest's gaps fit ``tolerance``, and its segments of largest token error until the rest's
errors fit it on every token. A half keeps the nodes of its parent that lie in it and gets new ones
where its own ``AUTO_SEGMENT_STEPS``-node rule has no node nearby; its weights integrate
polynomials exactly (interpolatory). So no gradient is ever thrown away: a target's backward rows
are its nodes. Each round is ONE shared forward over every new node any target needs (plus the new
midpoints, whose values the next round's gaps need), followed by backward passes over the targets
that need each node. Nodes gather where the model's output changes sharply, and every target ends
with ``|delta| <= tolerance`` and every token's estimated error within ``tolerance`` unless
``max_steps`` nodes were not enough. ``criterion="delta"`` checks the delta only, as Captum's
convergence delta does: fewer nodes, but a token's score may be off by more than the tolerance.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from nerlens.errors import ConvergenceWarning, InputError, OptionError, shown
from nerlens.methods._common import (
    TargetScores,
    at_least_float32,
    label_probabilities,
    steps_per_chunk,
)
from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
    ModelInput,
    ProgressCallback,
)
from nerlens.options import choice, count, number
from nerlens.runner import note_backward, run_concurrently, workers_for
from nerlens.targets import Term

Rule = Literal["gausslegendre", "riemann_trapezoid"]
RULES: tuple[Rule, ...] = ("gausslegendre", "riemann_trapezoid")
# What n_steps="auto"'s tolerance bounds: each target's delta and every token's estimated error,
# or the delta alone (what Captum's convergence delta checks: fewer steps, but token errors can
# cancel in a delta, so a token's score may be off by more than the tolerance).
Criterion = Literal["tokens", "delta"]
CRITERIA: tuple[Criterion, ...] = ("tokens", "delta")
DEFAULT_TOLERANCE = 1e-3
DEFAULT_MAX_STEPS = 256
DEFAULT_CRITERION: Criterion = "tokens"
# Chosen on the demo model (benchmarks/auto_rules.py, counts in docs/benchmarks.md): of first
# rules with 4, 6, 8, 12, 16 nodes and 2, 3, 4, 6 nodes per half, (4, 4) did the least work (forward
# plus backward rows) over the seed sentence and the 64-token text at tolerance 1e-3 when only
# deltas were checked. With token errors checked too, (4, 6) and (8, 6) count 3% fewer rows; not
# yet timed side by side, so (4, 4) stays.
AUTO_FIRST_STEPS = 4
AUTO_SEGMENT_STEPS = 4
N_STEPS = count(
    "n_steps", "auto", 1, "Integration steps, or 'auto': adaptive, until every |delta| and every "
    "token's estimated error is within the tolerance.", "method", words=("auto",),
)  # fmt: skip
RULE = choice("rule", "gausslegendre", RULES, "Quadrature rule, as Captum's methods.", "method")
TOLERANCE = number(
    "tolerance", DEFAULT_TOLERANCE, "With n_steps 'auto': the largest |convergence delta| and "
    "estimated error of a token's score allowed.", "method", above=0,
)  # fmt: skip
MAX_STEPS = count(
    "max_steps", DEFAULT_MAX_STEPS, AUTO_FIRST_STEPS, "With n_steps 'auto': at most this many "
    "steps per target.", "method",
)  # fmt: skip
CRITERION = choice(
    "criterion", DEFAULT_CRITERION, CRITERIA, "With n_steps 'auto': what the tolerance bounds, "
    "every token's error ('tokens') or the delta only.", "method",
)  # fmt: skip
Segment = tuple[float, float]
WHOLE: Segment = (0.0, 1.0)
Need = tuple[int, int, float]  # (target, slot its attribution accumulates into, weight)


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
    options = (N_STEPS, RULE, TOLERANCE, MAX_STEPS, CRITERION)

    def __init__(
        self,
        n_steps: int | Literal["auto"] = N_STEPS.default,
        rule: Rule = RULE.default,
        tolerance: float = TOLERANCE.default,
        max_steps: int = MAX_STEPS.default,
        criterion: Criterion = CRITERION.default,
    ) -> None:
        """``tolerance``, ``max_steps`` (nodes per target) and ``criterion`` (what the
        tolerance bounds) belong to ``n_steps="auto"``: other values with fixed steps are an
        error, since nothing would apply them."""
        for option, value in zip(self.options, (n_steps, rule, tolerance, max_steps, criterion)):
            option.check(value)
        only_auto = ((TOLERANCE, tolerance), (MAX_STEPS, max_steps), (CRITERION, criterion))
        adaptive = [(option.name, value) for option, value in only_auto if value != option.default]
        if adaptive and n_steps != "auto":
            given = ", ".join(f"{{{name}}}={shown(value)}" for name, value in adaptive)
            verb = "applies" if len(adaptive) == 1 else "apply"
            raise OptionError(
                f"{given} {verb} only with {{n_steps}}='auto', got {shown(n_steps)}",
                adaptive[0][0],
                [name for name, _ in adaptive[1:]] + ["n_steps"],
            )
        self.n_steps = n_steps
        self.rule = rule
        self.tolerance = float(tolerance)
        self.max_steps = max_steps
        self.criterion = criterion

    @property
    def warns_when_unconverged(self) -> bool:
        return self.n_steps == "auto"  # it warns when max_steps stops a target short

    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"n_steps": self.n_steps, "rule": self.rule}
        if self.n_steps == "auto":
            settings.update(
                tolerance=self.tolerance, max_steps=self.max_steps, criterion=self.criterion
            )
        return settings

    def attribute(
        self,
        model_input: ModelInput,
        terms: Sequence[tuple[Term, ...]],
        budget: Budget,
        progress: ProgressCallback | None = None,
    ) -> Attribution:
        device = model_input.input_probs.device
        score = TargetScores(terms, device)
        target_values = score.at(model_input.input_probs)
        baseline_values = score.at(model_input.baseline_probs)
        expected = target_values - baseline_values
        count = len(terms)

        if self.n_steps == "auto":
            values = {0.0: baseline_values, 1.0: target_values}
            scores, steps = self._adaptive(model_input, score, values, budget, progress)
        else:
            alphas, weights = quadrature(self.rule, self.n_steps)
            needs = [[(t, t, w) for t in range(count)] for w in weights]
            scores, _ = run_rows(model_input, score, alphas, needs, count, budget, progress)
            steps = np.full(count, self.n_steps, dtype=np.int64)
        deltas = scores.sum(axis=1) - expected
        return Attribution(scores, target_values, baseline_values, deltas, steps)

    def _adaptive(
        self,
        model_input: ModelInput,
        score: TargetScores,
        values: dict[float, np.ndarray],
        budget: Budget,
        progress: ProgressCallback | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adaptive composite quadrature; ``values`` maps path positions to every f(position).

        Each round runs :func:`run_rows` once: the nodes of the halves of every segment that
        some target must split, each differentiated only for the targets that lack it, and the
        segments' midpoints (values only). A half keeps its parent's nodes (:func:`nested_nodes`),
        so a target's gradient at a node is computed once and serves every rule that holds it.
        """
        count = score.count
        tree = SegmentTree(self.rule)
        gradients: list[dict[float, np.ndarray]] = [{} for _ in range(count)]
        pieces: list[set[Segment]] = [set() for _ in range(count)]
        checks: list[dict[Segment, Check]] = [{} for _ in range(count)]
        to_split: dict[Segment | None, list[int]] = {None: list(range(count))}
        done = np.zeros(count, dtype=bool)
        short = 0  # targets that max_steps stopped short of the tolerance
        while to_split:
            wanted: dict[float, set[int]] = {}  # node -> the targets that need its gradient
            middles: list[float] = []
            for segment, targets in to_split.items():
                if segment is None:  # the first round: one rule over the whole path
                    halves = [WHOLE]
                else:
                    halves = tree.halve(segment)
                    middles.append(halves[0][1])
                nodes = {x for half in halves for x in tree.rules[half].nodes}
                for t in targets:
                    pieces[t].discard(segment)  # type: ignore[arg-type]
                    pieces[t].update(halves)
                    for node in nodes - gradients[t].keys():
                        wanted.setdefault(node, set()).add(t)
            slots = [(t, node) for node, targets in wanted.items() for t in sorted(targets)]
            slot_of = {slot: k for k, slot in enumerate(slots)}
            alphas = [*wanted, *(m for m in middles if m not in wanted)]
            needs: list[list[Need]] = [
                [(t, slot_of[(t, node)], 1.0) for t in sorted(wanted.get(node, ()))]
                for node in alphas
            ]
            parts, row_values = run_rows(model_input, score, alphas, needs, len(slots), budget)
            # the path's ends keep the prediction's own values: the gaps add up to the delta
            values.update((a, v) for a, v in zip(alphas, row_values) if a not in values)
            for (t, node), part in zip(slots, parts):
                gradients[t][node] = part
            to_split = {}
            finished = 0
            for t in (t for t in range(count) if not done[t]):
                for a, b in pieces[t] - checks[t].keys():
                    exact = values[b][t] - values[a][t]
                    checks[t][(a, b)] = tree.check((a, b), gradients[t], exact)
                halve = self._to_halve({segment: checks[t][segment] for segment in pieces[t]})
                affordable = self._within_max_steps(tree, halve, checks[t], gradients[t].keys())
                if affordable:
                    for segment in affordable:
                        to_split.setdefault(segment, []).append(t)
                    continue
                done[t] = True
                finished += 1
                short += bool(halve)
            if progress is not None and finished:
                progress(finished)
        if short:
            missed = "their delta"
            if self.criterion == "tokens":
                missed += " or a token's estimated error"
            warnings.warn(
                f"{short} of {count} targets reached max_steps={self.max_steps} with {missed} "
                f"above tolerance={self.tolerance:g}; raise max_steps or the tolerance",
                ConvergenceWarning,
                stacklevel=2,
            )
        scores = np.array(
            [
                sum(tree.rules[segment].integrate(grads) for segment in sorted(segments))
                for segments, grads in zip(pieces, gradients)
            ]
        )
        return scores, np.array([len(grads) for grads in gradients])

    def _within_max_steps(
        self,
        tree: SegmentTree,
        halve: Sequence[Segment],
        checks: dict[Segment, Check],
        nodes: Collection[float],
    ) -> list[Segment]:
        """The segments of ``halve`` that a target with gradients at ``nodes`` can halve
        without passing ``max_steps`` nodes, chosen largest error first."""
        worst_first = sorted(halve, key=lambda s: -(checks[s].errors.max() + abs(checks[s].gap)))
        taken = set(nodes)
        affordable = []
        for segment in worst_first:
            new = {x for half in tree.halve(segment) for x in tree.rules[half].nodes} - taken
            if len(taken) + len(new) <= self.max_steps:
                taken |= new
                affordable.append(segment)
        return sorted(affordable)

    def _to_halve(self, checks: dict[Segment, Check]) -> list[Segment]:
        """The segments a target must halve, given its segments' checks; none once its delta
        and (with the "tokens" criterion) every token's estimated error are within
        ``tolerance``. It halves its segments of largest |gap| until the |gaps| of the rest add
        up to ``tolerance`` at most, and its segments of largest token error until the rest's
        add up to ``tolerance`` on every token."""
        ordered = sorted(checks)
        chosen: set[int] = set()
        if self.criterion == "tokens":
            chosen.update(
                exceeding([checks[segment].errors for segment in ordered], self.tolerance)
            )
        if abs(sum(checks[segment].gap for segment in ordered)) > self.tolerance:
            gaps = [np.abs([checks[segment].gap]) for segment in ordered]
            chosen.update(exceeding(gaps, self.tolerance))
        return [ordered[k] for k in sorted(chosen)]


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


# ---------------------------------------------------------------------- the shared engine
Backward = Literal["loop", "batched"]
BACKWARD_ENV = "NERLENS_BACKWARD"
# The fixed cost of one model pass (Python, dispatch, thread wake-ups), in token-rows (one token
# of one path row through the model): about 2 ms of overhead at about 30 µs per token-row.
PASS_COST_TOKEN_ROWS = 64


def backward_strategy(channels: int, rows: int, capacity: int, layers: int) -> Backward:
    """How to run the backward passes of one chunk: one per target, or all in one batched pass.

    The default is one backward pass per target ("loop"): the issue's idle measurement had the
    batched pass 1.15x slower on the demo seed sentence; under load the two swap places, and
    there ``threads=1`` helps more (docs/benchmarks.md has both, idle and loaded).
    ``NERLENS_BACKWARD=batched`` asks for one ``is_grads_batched`` pass per chunk instead, where
    it fits the memory budget: the chunk's saved activations (``rows`` steps of ``capacity``)
    plus one layer's gradients per channel, about ``rows * channels / layers`` steps more.
    """
    wanted = os.environ.get(BACKWARD_ENV, "loop")
    if wanted not in ("loop", "batched"):
        raise InputError(f"{BACKWARD_ENV} must be 'loop' or 'batched', got {wanted!r}")
    fits = rows * (1 + channels / max(layers, 1)) <= capacity
    return "batched" if wanted == "batched" and fits else "loop"


def run_rows(
    model_input: ModelInput,
    score: TargetScores,
    alphas: Sequence[float],
    needs: Sequence[Sequence[Need]],
    num_slots: int,
    budget: Budget,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the path points ``alphas`` forward together and differentiate each for its targets.

    ``needs[r]`` lists, for path point ``r``, the targets whose gradient there is wanted, each
    with its quadrature weight and the slot its attribution is added to. Rows go forward in as
    few chunks as the memory budget allows; a chunk's backward passes are *channels*: channel
    ``j`` differentiates, in every row at once, that row's ``j``-th target (rows are
    independent inputs), so a chunk needs as many backward passes as its busiest row has
    targets. Rows are sorted by that count, so chunks hold rows of similar need.

    Returns the slots' raw attributions ``(num_slots, tokens)`` and every target's value at
    every row ``(rows, targets)``. ``progress(k)`` is called as the last chunk's channels end.
    """
    start = model_input.baseline_layer_output.detach()
    direction = model_input.input_layer_output.detach() - start
    device, dtype = direction.device, direction.dtype
    tokens = model_input.num_tokens
    capacity = budget.internal_batch_size or steps_per_chunk(
        model_input.model, tokens, budget.max_memory_mb
    )
    layers = getattr(getattr(model_input.model, "config", None), "num_hidden_layers", 12)
    order = sorted(range(len(alphas)), key=lambda r: -len(needs[r]))
    totals = torch.zeros(num_slots, tokens, dtype=torch.float64, device=device)
    values = np.zeros((len(alphas), score.count))
    bounds = chunk_bounds([len(needs[r]) for r in order], capacity, PASS_COST_TOKEN_ROWS / tokens)
    for begin, end in bounds:
        rows = order[begin:end]
        channels = len(needs[rows[0]])
        alpha = torch.tensor([alphas[r] for r in rows], dtype=dtype, device=device)
        path = (start + alpha.view(-1, 1, 1) * direction).requires_grad_(channels > 0)
        with torch.set_grad_enabled(channels > 0):
            probabilities = label_probabilities(model_input.logits_at(path))
            row_scores = score(probabilities)
        values[rows] = score(probabilities.detach().double()).cpu().numpy()
        if not channels:
            continue
        weights, slots = _channels([needs[r] for r in rows], channels, score.count)
        weights = weights.to(device=device, dtype=row_scores.dtype)
        slots = slots.to(device)
        last = end == len(order)
        if backward_strategy(channels, len(rows), capacity, layers) == "batched":
            (grads,) = torch.autograd.grad(row_scores, path, weights, is_grads_batched=True)
            note_backward(len(rows), channels)
            for j in range(channels):
                _accumulate(totals, _per_row(grads[j], direction), slots[j])
            if progress is not None and last:
                progress(channels)
            continue
        workers = workers_for(device)
        done = progress if last else None  # each channel's end is one more target done
        if workers > 1 and channels > 1:  # the channels' passes at once, on one retained graph
            jobs = [
                _channel_job(row_scores, path, weights[j], direction, True, done)
                for j in range(channels)
            ]
            for j, per_row in enumerate(run_concurrently(jobs, workers)):
                _accumulate(totals, per_row, slots[j])
            continue
        for j in range(channels):
            retain = j < channels - 1
            job = _channel_job(row_scores, path, weights[j], direction, retain, done)
            _accumulate(totals, job(), slots[j])
    return totals.cpu().numpy(), values


def chunk_bounds(counts: Sequence[int], capacity: int, pass_cost: float) -> list[tuple[int, int]]:
    """Cut rows (sorted by how many targets need them, most first) into forward chunks.

    A chunk of ``n`` rows whose first row has ``k`` targets costs ``n`` forward rows, ``k``
    backward passes of ``n`` rows each (rows needing fewer targets ride along: waste), and
    ``1 + k`` passes of fixed overhead, ``pass_cost`` rows each. One chunk per round has the
    fewest passes; a chunk per need count wastes nothing: this finds the cheapest cut (dynamic
    programming), never larger than ``capacity`` rows (the memory budget).
    """
    best = [0.0] + [float("inf")] * len(counts)
    cut = [0] * (len(counts) + 1)
    for end in range(1, len(counts) + 1):
        for begin in range(max(0, end - capacity), end):
            k = counts[begin]
            cost = best[begin] + (end - begin) * (1 + k) + pass_cost * (1 + k)
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    bounds = []
    end = len(counts)
    while end:
        bounds.append((cut[end], end))
        end = cut[end]
    return bounds[::-1]


def _channels(
    needs: Sequence[Sequence[Need]], channels: int, targets: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel, the gradient weights ``(channels, rows, targets)`` and slots ``(channels,
    rows)`` (-1 where a row has fewer targets than channels)."""
    weights = np.zeros((channels, len(needs), targets))
    slots = np.full((channels, len(needs)), -1)
    for row, row_needs in enumerate(needs):
        for channel, (target, slot, weight) in enumerate(row_needs):
            weights[channel, row, target] = weight
            slots[channel, row] = slot
    return torch.from_numpy(weights), torch.from_numpy(slots)


def _channel_job(
    row_scores: torch.Tensor,
    path: torch.Tensor,
    weights: torch.Tensor,
    direction: torch.Tensor,
    retain_graph: bool,
    done: ProgressCallback | None,
) -> Callable[[], torch.Tensor]:
    """One channel's backward pass over every row of a chunk, as a job: each row's attribution.
    ``done(1)`` is called at its end (from the thread that ran it)."""

    def job() -> torch.Tensor:
        (grad,) = torch.autograd.grad(row_scores, path, weights, retain_graph=retain_graph)
        note_backward(len(path))
        if done is not None:
            done(1)
        return _per_row(grad, direction)

    return job


def _per_row(grad: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Each row's attribution: gradient × path direction, summed over hidden, in float64."""
    return (at_least_float32(grad) * at_least_float32(direction)).sum(dim=2).double()


def _accumulate(totals: torch.Tensor, per_row: torch.Tensor, slots: torch.Tensor) -> None:
    """Add each row's attribution to its slot (rows with slot -1 belong to no target)."""
    used = slots >= 0
    totals.index_add_(0, slots[used], per_row[used])
