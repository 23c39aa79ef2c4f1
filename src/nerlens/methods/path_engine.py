"""The path engine of integrated gradients (torch): rows of the path forward, targets backward.

Every target of a text shares the same interpolated inputs, so each chunk of path points
(*rows*) runs forward once and only the backward passes are repeated per target. :func:`run_rows`
takes the rows any quadrature asks for, each with the targets that need its gradient, cuts them
into chunks that fit the memory budget (:func:`chunk_bounds`) and adds every weighted gradient ×
path direction into its target's slot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from nerlens.errors import InputError
from nerlens.methods.base import Budget, ModelInput, ProgressCallback
from nerlens.methods.chunking import steps_per_chunk
from nerlens.methods.scoring import TargetScores, at_least_float32
from nerlens.runner import note_backward, run_concurrently, workers_for

Need = tuple[int, int, float]  # (target, slot its attribution accumulates into, weight)
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
    config = model_input.kind.encoder_config
    capacity = budget.internal_batch_size or steps_per_chunk(config, tokens, budget.max_memory_mb)
    layers = getattr(config, "num_hidden_layers", 12)
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
            probabilities = model_input.probabilities_at(path)
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
