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

The rules live in :mod:`nerlens.methods.quadrature` (numpy) and the passes in
:mod:`nerlens.methods.path_engine` (torch); this module holds the method and its adaptive driver.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from typing import Any, Literal

import numpy as np

from nerlens.defaults import DEFAULT_N_STEPS
from nerlens.errors import ConvergenceWarning, OptionError, shown
from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
    ModelInput,
    ProgressCallback,
)
from nerlens.methods.path_engine import Need, run_rows
from nerlens.methods.quadrature import (
    AUTO_FIRST_STEPS,
    RULES,
    WHOLE,
    Check,
    Rule,
    Segment,
    SegmentTree,
    exceeding,
    quadrature,
)
from nerlens.methods.scoring import TargetScores
from nerlens.options import choice, count, number
from nerlens.targets import Term

# What n_steps="auto"'s tolerance bounds: each target's delta and every token's estimated error,
# or the delta alone (what Captum's convergence delta checks: fewer steps, but token errors can
# cancel in a delta, so a token's score may be off by more than the tolerance).
Criterion = Literal["tokens", "delta"]
CRITERIA: tuple[Criterion, ...] = ("tokens", "delta")
DEFAULT_TOLERANCE = 1e-3
DEFAULT_MAX_STEPS = 256
DEFAULT_CRITERION: Criterion = "tokens"
N_STEPS = count(
    "n_steps", DEFAULT_N_STEPS, 1, "Integration steps, or 'auto': adaptive, until every |delta| "
    "and every token's estimated error is within the tolerance.", "method", words=("auto",),
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

    def pass_rows(self, tokens: int, targets: int) -> int:
        """Both path ends, then each step forward once and backward per target ("auto": its
        first rule's steps, the least it runs)."""
        steps = AUTO_FIRST_STEPS if self.n_steps == "auto" else self.n_steps
        return 2 + steps * (1 + targets)

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
