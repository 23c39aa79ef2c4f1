"""A call's schedule: which windows share a forward pass, and which windows' attributions run
side by side or alone.

At the path's ends, windows of one token count share passes on CPU (:func:`prepare_inputs`):
occlusion on a batch of short texts is a few passes, not one per text. Then each window that is
the home of some targets attributes them (:class:`WindowWork`); windows are independent, so on
CPU several run at once, single-threaded, unless one is too big to share the time evenly
(:func:`alone`). Methods report targets done as they go (:func:`attribute`), and each text's
windows' results are gathered into one (:func:`gather`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from nerlens.encoding import Encoding
from nerlens.methods import AttributionMethod, Budget
from nerlens.methods.base import Attribution, ProgressCallback
from nerlens.methods.chunking import rows_per_chunk
from nerlens.model_input import ModelInput, model_device, pack, prepare
from nerlens.models.base import Embedding, ModelKind
from nerlens.runner import ModelRunner, run_concurrently, workers_for
from nerlens.targets import Term
from nerlens.windows import Window

# Windows share a forward pass (CPU only) when each one's own pass has at least this many
# token-rows. On the Intel CPU where it was measured, MKL's products then gave every row of a
# packed pass the very bits of its own pass (below about 16 they did not); other CPUs' kernels
# differ in the last bits (7e-9 seen on an AMD EPYC), so packing promises equal numbers within
# a tolerance, not bits (tests/numerics.py's KERNEL_RTOL, README "What is exact"). On GPUs,
# cuBLAS may choose other kernels by batch size, and packing is untested there: off.
PACK_MIN_TOKEN_ROWS = 32


def prepare_inputs(
    kind: ModelKind,
    runner: ModelRunner,
    embedding: Embedding,
    baseline_token_id: int,
    method: AttributionMethod,
    budget: Budget,
    encodings: Sequence[Encoding],
) -> list[ModelInput]:
    """The windows' ModelInputs, in order. A method's target-free perturbations ride in their
    window's pass when they fit the memory budget, and on CPU windows of one token count
    share passes (:func:`pack`, as many rows as the budget allows), where every row gets the
    numbers of a pass of its own. A pass has a fixed cost (about 12 ms of a sentence's 96 on
    one core)."""
    device = model_device(runner.model)
    workers = workers_for(device)
    lengths = [len(encoding) for encoding in encodings]
    capacity = {n: rows_per_chunk(kind.encoder_config, n, budget, workers) for n in {*lengths}}
    perturbations = [method.perturbations(encoding.special) for encoding in encodings]
    perturbations = [
        None if keep is None or 1 + len(keep) > capacity[n] else keep
        for keep, n in zip(perturbations, lengths)
    ]
    rows = [1 + (0 if keep is None else len(keep)) for keep in perturbations]
    smallest = PACK_MIN_TOKEN_ROWS if device.type == "cpu" else math.inf
    packs = pack(lengths, rows, capacity, smallest)
    prepared = run_concurrently(
        [
            partial(
                prepare,
                kind,
                runner,
                embedding,
                [encodings[i] for i in members],
                baseline_token_id,
                [perturbations[i] for i in members],
            )
            for members in packs
        ],
        workers,
    )
    inputs: dict[int, ModelInput] = {}
    for members, results in zip(packs, prepared):
        inputs.update(zip(members, results))
    return [inputs[i] for i in range(len(encodings))]


@dataclass(frozen=True)
class WindowWork:
    """The targets of text ``text`` that window ``window`` explains, and a guess of the cost."""

    text: int
    window: int
    chosen: list[int]
    cost: int  # targets × tokens: what the passes of a window roughly scale with


def window_work(index: int, windows: Sequence[Window], homes: Sequence[int]) -> list[WindowWork]:
    """Text ``index``'s windows that explain at least one target (``homes``: per target, its
    window), each with its targets."""
    work = []
    for w, window in enumerate(windows):
        chosen = [t for t, home in enumerate(homes) if home == w]
        if chosen:
            work.append(WindowWork(index, w, chosen, len(chosen) * len(window.document_positions)))
    return work


def alone(costs: Sequence[int], workers: int) -> list[int]:
    """The jobs to run one at a time, each using every worker for its own passes.

    Run side by side, single-threaded, jobs end when the largest ends: that wastes workers when
    one job costs more than an even share of the rest. Such jobs (largest first, again and
    again) run alone; the rest share the workers.
    """
    order = sorted(range(len(costs)), key=lambda i: -costs[i])
    remaining = sum(costs)
    chosen: list[int] = []
    for i in order:
        if workers <= 1 or costs[i] * workers <= remaining:
            break
        chosen.append(i)
        remaining -= costs[i]
    return chosen


def run_work(
    work: Sequence[WindowWork], attribute: Callable[[WindowWork], Attribution], workers: int
) -> list[Attribution]:
    """``attribute`` of every window's work, in ``work``'s order.

    Windows (of one text or of many) are independent, so on CPU up to ``workers`` of them run
    at once, single-threaded. A window too big to share the time evenly runs first and alone,
    with its own passes spread over the workers (see :func:`alone`).
    """
    jobs = [partial(attribute, w) for w in work]
    first = alone([w.cost for w in work], workers)
    results: dict[int, Attribution] = {i: jobs[i]() for i in first}
    shared = sorted(set(range(len(work))) - set(first), key=lambda i: -work[i].cost)
    results.update(zip(shared, run_concurrently([jobs[i] for i in shared], workers)))
    return [results[i] for i in range(len(work))]


def gather(
    done: Sequence[tuple[WindowWork, Attribution]],
    windows: Sequence[Window],
    num_targets: int,
    num_tokens: int,
) -> Attribution:
    """One text's attributions from its windows' (``done``): each target's scores sit at its
    window's positions in the document, and are exactly 0 on the tokens outside it."""
    scores = np.zeros((num_targets, num_tokens))
    target_values = np.zeros(num_targets)
    baseline_values = np.zeros(num_targets)
    deltas = np.zeros(num_targets)
    steps = np.zeros(num_targets, dtype=np.int64)
    for work, result in done:
        chosen = work.chosen
        positions = list(windows[work.window].document_positions)
        for row, t in enumerate(chosen):
            scores[t, positions] = result.scores[row]
        target_values[chosen] = result.target_values
        baseline_values[chosen] = result.baseline_values
        deltas[chosen] = result.deltas
        steps[chosen] = result.steps
    return Attribution(scores, target_values, baseline_values, deltas, steps)


class Reported:
    """Passes a method's progress reports on, counting them (the rest is reported after).
    Reports may come from the method's worker threads."""

    def __init__(self, advance: ProgressCallback) -> None:
        self.advance = advance
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, done: int) -> None:
        with self._lock:
            self.count += done
        self.advance(done)


def attribute(
    method: AttributionMethod,
    model_input: ModelInput,
    terms: Sequence[tuple[Term, ...]],
    budget: Budget,
    advance: ProgressCallback,
    reports_progress: bool,
) -> Attribution:
    """The method's attributions of ``terms`` (one per target), every target reported done:
    as the method goes when it ``reports_progress``, else (a user's method written before
    progress reports) all at its end."""
    reported = Reported(advance)
    if reports_progress:
        result = method.attribute(model_input, terms, budget, reported)
    else:
        result = method.attribute(model_input, terms, budget)
    advance(len(terms) - reported.count)
    return result
