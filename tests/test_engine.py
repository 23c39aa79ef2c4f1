"""The call engine: shared passes and their counts, auto rounds, threads, progress, context."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import numpy as np
import pytest
import torch

from conftest import SEED_TEXT
from nerlens import Explainer, InputError, scheduling
from nerlens import progress as progress_module
from nerlens.methods import integrated_gradients, path_engine
from nerlens.methods.path_engine import chunk_bounds
from nerlens.methods.quadrature import (
    AUTO_FIRST_STEPS,
    AUTO_SEGMENT_STEPS,
    WHOLE,
    SegmentRule,
    SegmentTree,
    nested_nodes,
    quadrature,
)
from nerlens.model_input import pack
from nerlens.runner import (
    count_passes,
    memory_share,
    run_concurrently,
    workers_for,
)
from numerics import assert_same_explanations
from tiny_models import tiny_bert

CPU = torch.device("cpu")


def curved_model(tokenizer):
    """Confident, non-linear probabilities that need real integration (as in the equivalence
    tests)."""
    return tiny_bert(tokenizer, seed=3, hidden_size=64, num_hidden_layers=3, initializer_range=0.2)


@pytest.fixture(scope="module")
def curved(tokenizer):
    return curved_model(tokenizer)


# ---------------------------------------------------------------------- passes
@pytest.mark.perf_guard
def test_guard_fixed_steps_share_one_forward_and_run_one_backward_per_target(tokenizer, curved):
    with count_passes() as passes:
        explanation = Explainer(curved, tokenizer, n_steps=8)(SEED_TEXT)
    targets = len(explanation.targets)
    # two forwards at the path's ends (input, baseline), one over the 8 steps
    assert passes.as_dict() == {
        "forward": 3,
        "backward": targets,
        "forward_rows": 2 + 8,
        "backward_rows": 8 * targets,
    }
    with count_passes() as chunked:
        Explainer(curved, tokenizer, n_steps=8, internal_batch_size=3)(SEED_TEXT)
    assert (chunked.forward, chunked.backward) == (2 + 3, 3 * targets)  # chunks of 3, 3, 2


def test_passes_are_counted_per_thread(tokenizer, tiny_model):
    explainer = Explainer(tiny_model, tokenizer, n_steps=4)
    counts = {}

    def run(name: str, text: str) -> None:
        with count_passes() as passes:
            explainer(text)
        counts[name] = passes.as_dict()

    threads = [threading.Thread(target=run, args=(str(i), SEED_TEXT)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({str(c) for c in counts.values()}) == 1  # no thread sees another's passes
    assert counts["0"]["forward"] == 3


@pytest.mark.perf_guard
def test_guard_batched_backward_gives_the_loop_numbers(tokenizer, curved, monkeypatch):
    loop = Explainer(curved, tokenizer, n_steps=8)(SEED_TEXT)
    monkeypatch.setenv("NERLENS_BACKWARD", "batched")
    with count_passes() as passes:
        batched = Explainer(curved, tokenizer, n_steps=8)(SEED_TEXT)
    assert passes.backward == 1 and passes.backward_rows == 8 * len(loop.targets)
    np.testing.assert_allclose(batched.attributions, loop.attributions, atol=1e-7, rtol=0)
    monkeypatch.setenv("NERLENS_BACKWARD", "sideways")
    with pytest.raises(InputError, match="NERLENS_BACKWARD must be 'loop' or 'batched'"):
        Explainer(curved, tokenizer, n_steps=8)(SEED_TEXT)


@pytest.mark.perf_guard
def test_guard_memory_budget_bounds_every_chunk_and_every_batched_backward(
    tokenizer, curved, monkeypatch
):
    monkeypatch.setenv("NERLENS_BACKWARD", "batched")
    with count_passes() as passes:
        explanation = Explainer(curved, tokenizer, n_steps=8, max_memory_mb=1e-3)(SEED_TEXT)
    targets = len(explanation.targets)
    # a budget below one step's activations: one step per chunk, and no batched backward
    # (it would hold every target's gradients at once)
    assert (passes.forward, passes.backward) == (2 + 8, 8 * targets)
    with count_passes() as roomy:
        Explainer(curved, tokenizer, n_steps=8)(SEED_TEXT)
    assert (roomy.forward, roomy.backward) == (3, 1)


def test_chunk_bounds_trade_passes_against_wasted_rows():
    counts = [5, 5, 5, 5, 1, 1, 1, 1, 0, 0]
    # passes free: one chunk per need count wastes no backward row
    assert chunk_bounds(counts, capacity=100, pass_cost=0.0) == [(0, 4), (4, 8), (8, 10)]
    # passes dear: one forward for the whole round
    assert chunk_bounds(counts, capacity=100, pass_cost=1e6) == [(0, 10)]
    # never more rows in a chunk than the memory budget allows; as few passes as that permits
    bounds = chunk_bounds(counts, capacity=3, pass_cost=1e6)
    starts = [a for a, _ in bounds]
    assert starts == [0] + [b for _, b in bounds[:-1]] and bounds[-1][1] == 10
    assert all(b - a <= 3 for a, b in bounds) and len(bounds) == 4


# ---------------------------------------------------------------------- n_steps="auto"
@pytest.mark.perf_guard
def test_guard_auto_runs_one_shared_forward_per_round(tokenizer, curved, monkeypatch):
    """With passes made expensive, every refinement round is exactly one forward pass, and
    the backward passes per round are as many as the busiest node's targets."""
    rounds = []
    run_rows = integrated_gradients.run_rows

    def counted(model_input, score, alphas, needs, *args, **kwargs):
        rounds.append(max(len(n) for n in needs))
        return run_rows(model_input, score, alphas, needs, *args, **kwargs)

    monkeypatch.setattr(integrated_gradients, "run_rows", counted)
    monkeypatch.setattr(path_engine, "PASS_COST_TOKEN_ROWS", 1e9)
    with count_passes() as passes:
        explanation = Explainer(curved, tokenizer, n_steps="auto", tolerance=1e-5)(SEED_TEXT)
    assert np.all(np.abs(explanation.deltas) <= 1e-5)
    assert len(rounds) > 2  # some targets needed refining, some more than once
    assert passes.forward == 2 + len(rounds)
    assert passes.backward == sum(rounds)
    assert rounds[0] == len(explanation.targets)  # the first rule serves every target


@pytest.mark.perf_guard
def test_guard_auto_on_the_demo_model_meets_tolerance_with_few_passes(demo):
    model, tokenizer = demo
    with count_passes() as passes:
        explanation = Explainer(model, tokenizer, n_steps="auto", tolerance=1e-3)(SEED_TEXT)
    assert np.all(np.abs(explanation.deltas) <= 1e-3)
    targets = len(explanation.targets)
    assert passes.forward <= 25
    assert passes.backward <= 6 * targets
    # a node's gradient is computed once per target: backward rows are the targets' nodes,
    # plus the rows that ride along in a channel (a chunk's rows need different targets)
    assert explanation.steps.sum() <= passes.backward_rows < 1.2 * explanation.steps.sum()
    # 196 + 487 rows (166 + 582 with only the parent's estimate of a token's error; checking
    # deltas only, about 450, which left a token's score off by 1.3e-3)
    assert passes.forward_rows + passes.backward_rows < 750


def test_auto_stops_at_the_first_rule_where_the_path_is_smooth(tokenizer, tiny_model):
    """On a random model the output is smooth along the path: the first rule's null-rule
    estimate is small and its targets need no halving (each one 4 nodes, where forcing a first
    halving gave 8), and they are still right token by token."""
    explanation = Explainer(tiny_model, tokenizer, n_steps="auto", tolerance=1e-3)(SEED_TEXT)
    assert np.all(explanation.steps == AUTO_FIRST_STEPS)
    exact = Explainer(tiny_model, tokenizer, n_steps=64)(SEED_TEXT)
    np.testing.assert_allclose(explanation.attributions, exact.attributions, atol=1e-3)


def test_a_segment_rule_integrates_polynomials_exactly():
    gauss = SegmentRule.over((0.0, 1.0), quadrature("gausslegendre", 4)[0])
    np.testing.assert_allclose(gauss.weights, quadrature("gausslegendre", 4)[1], atol=1e-15)
    rule = SegmentRule.over((0.25, 0.75), [0.3, 0.41, 0.6, 0.74])
    for degree in range(4):
        exact = (0.75 ** (degree + 1) - 0.25 ** (degree + 1)) / (degree + 1)
        assert np.dot(rule.weights, np.array(rule.nodes) ** degree) == pytest.approx(exact)


def test_a_half_keeps_its_parents_nodes_and_fills_the_gaps():
    parent = SegmentRule.over((0.0, 1.0), quadrature("gausslegendre", 4)[0])
    left = nested_nodes((0.0, 0.5), [x for x in parent.nodes if x <= 0.5], "gausslegendre")
    inherited = [x for x in parent.nodes if x <= 0.5]
    assert set(inherited) <= set(left) and len(left) == AUTO_SEGMENT_STEPS
    assert all(0.0 < x < 0.5 for x in left)
    gaps = np.diff([0.0, *left, 0.5])
    assert gaps.min() > 0.02  # no new node crowds an inherited one
    # a half that already holds enough nodes still gets one of its own
    crowded = nested_nodes((0.0, 0.5), [0.05, 0.15, 0.25, 0.35, 0.45], "gausslegendre")
    assert len(crowded) == 6


def test_token_errors_are_seen_where_they_cancel_in_the_total():
    """Two tokens with a sharp bump of opposite signs: the gap, a sum over tokens, is exact
    and near 0, but their estimated errors are large; a polynomial token's is near 0."""
    tree = SegmentTree("gausslegendre")
    left, right = tree.halve(WHOLE)

    def bump(x: float) -> float:  # the derivative of a steep logistic step at 0.3
        return 30 / np.cosh(30 * (x - 0.3)) ** 2

    nodes = {*tree.rules[WHOLE].nodes, *tree.rules[left].nodes, *tree.rules[right].nodes}
    gradients = {x: np.array([x**2, bump(x), -bump(x)]) for x in nodes}
    check = tree.check(left, gradients, exact=0.5**3 / 3)  # the bumps cancel in the total
    assert abs(check.gap) < 1e-12
    assert check.errors[0] < 1e-12
    assert check.errors[1] == check.errors[2] > 1e-2
    # the whole path has no parent: its estimate is the null rule's alone, which integrates
    # the quadratic token exactly and sees the bumps
    whole = tree.check(WHOLE, gradients, exact=1 / 3)
    assert whole.errors[0] < 1e-12
    assert whole.errors[1] == whole.errors[2] > 1e-2


# ---------------------------------------------------------------------- threads
def test_threads_option_is_checked(tokenizer, tiny_model):
    for bad in (0, -1, 1.5, True, "2"):
        message = f"threads must be a positive int or None, got {bad!r}"
        with pytest.raises(InputError, match=message):
            Explainer(tiny_model, tokenizer, threads=bad)


def test_threads_apply_during_the_call_and_are_restored(tokenizer, tiny_model):
    before = torch.get_num_threads()
    explainer = Explainer(tiny_model, tokenizer, n_steps=2, threads=1)
    seen = []
    handle = tiny_model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        explainer(SEED_TEXT)
    finally:
        handle.remove()
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------------- progress
class _Recorder:
    """Stands in for the rich bar: records the total and every advance."""

    instances: ClassVar[list[_Recorder]] = []

    def __init__(self, total: int, unit: str, *, transient: bool = False) -> None:
        self.total = total
        self.unit = unit
        self.advances: list[int] = []
        _Recorder.instances.append(self)

    def __enter__(self):
        return self.advances.append

    def __exit__(self, *exc: object) -> None:
        pass


def test_progress_counts_targets_over_a_batch(tokenizer, curved, monkeypatch):
    _Recorder.instances.clear()
    monkeypatch.setattr(progress_module, "ProgressBar", _Recorder)
    texts = [SEED_TEXT, "Angela Merkel met Joe Biden in Berlin."]
    explanations = Explainer(curved, tokenizer, n_steps="auto", tolerance=1e-5, progress=True)(
        texts
    )
    (bar,) = _Recorder.instances
    targets = sum(len(e.targets) for e in explanations)
    assert bar.total == targets
    assert sum(bar.advances) == targets
    # auto reports targets as they converge: more than one report per text
    assert len([a for a in bar.advances if a]) > len(texts)
    _Recorder.instances.clear()
    Explainer(curved, tokenizer, n_steps=4, progress=True)(SEED_TEXT)
    (bar,) = _Recorder.instances
    assert [a for a in bar.advances if a] == [1] * bar.total  # fixed steps: one per target


def test_progress_bar_shows_targets_done_of_total():
    from rich.console import Console

    console = Console(record=True, force_terminal=True, width=100)
    bar = progress_module.ProgressBar(12, "targets", console=console)
    with bar as advance:
        advance(5)
        bar.bar.refresh()
        shown = console.export_text()
    assert "5/12" in shown and "targets" in shown and "ETA" in shown


# ---------------------------------------------------------------------- context
LONG = " ".join(f"Sentence {i} mentions Paris and Emmanuel Macron." for i in range(12))


def test_context_explains_in_shorter_windows(tokenizer, tiny_model):
    full = Explainer(tiny_model, tokenizer, n_steps=4, long_text="window")(LONG)
    shorter = Explainer(tiny_model, tokenizer, n_steps=4, long_text="window", context=32)
    short = shorter(LONG, list(full.targets))  # its own predictions may differ: less context
    assert full.settings["windows"] == 1 and full.settings["context"] is None
    assert short.settings["windows"] > 4 and short.settings["max_length"] == 32
    assert short.tokens == full.tokens and short.offsets == full.offsets
    assert (np.count_nonzero(short.attributions, axis=1) <= 32).all()
    assert np.all(np.abs(short.deltas) < 1e-3)


def test_context_errors(tokenizer, tiny_model):
    with pytest.raises(InputError, match="context=64 only applies with long_text='window'"):
        Explainer(tiny_model, tokenizer, context=64)
    for bad in (8, 64.0, True):
        with pytest.raises(InputError, match=f"context must be an int >= 16 or None, got {bad!r}"):
            Explainer(tiny_model, tokenizer, long_text="window", context=bad)


# ---------------------------------------------------------------------- concurrent work
def test_run_concurrently_keeps_order_runs_side_by_side_and_single_threaded():
    started = threading.Barrier(2, timeout=10)  # both jobs must be running at the same time

    def job(value):
        def run():
            started.wait()
            return value, threading.get_ident(), torch.get_num_threads(), workers_for(CPU)

        return run

    caller_threads = torch.get_num_threads()
    results = run_concurrently([job("a"), job("b")], workers=2)
    assert [value for value, *_ in results] == ["a", "b"]
    assert len({ident for _, ident, _, _ in results} | {threading.get_ident()}) == 3
    assert {threads for _, _, threads, _ in results} == {1}  # torch single-threaded per worker
    assert {nested for *_, nested in results} == {1}  # no nesting: work inside runs in order
    assert torch.get_num_threads() == caller_threads
    assert run_concurrently([threading.get_ident], workers=1) == [threading.get_ident()]


def test_run_concurrently_raises_the_first_failing_jobs_error_after_all_ended():
    ended = []

    def fail(message, delay):
        def run():
            time.sleep(delay)
            ended.append(message)
            raise ValueError(message)

        return run

    with pytest.raises(ValueError, match="first"):
        run_concurrently([fail("first", 0.2), fail("second", 0.0)], workers=2)
    assert sorted(ended) == ["first", "second"]


@pytest.mark.perf_guard
def test_guard_workers_share_the_memory_budget_and_count_their_passes(tokenizer, tiny_model):
    shares = run_concurrently([memory_share, memory_share, memory_share], workers=3)
    assert shares == [3, 3, 3] and memory_share() == 1
    explainer = Explainer(tiny_model, tokenizer, n_steps=3, progress=False)
    texts = ["Angela Merkel met Barack Obama in Berlin.", "Paris is in France.", SEED_TEXT]
    with count_passes() as passes:
        explainer(texts, include_special_tokens=True)
    # each text: its own forward, the baseline end, one shared path forward; one backward per
    # target, whichever worker ran it
    tokens = [len(tokenizer(text)["input_ids"]) for text in texts]
    assert passes.forward == 3 * len(texts)
    assert passes.backward == sum(tokens)


@pytest.mark.numerics
def test_texts_and_windows_side_by_side_equal_one_thread_one_by_one(tokenizer):
    """Texts, windows and a text's targets run on workers; the numbers are those of one thread
    explaining each text alone (within KERNEL_RTOL: other passes, other kernels)."""
    model = tiny_bert(tokenizer, seed=3, hidden_size=64, num_hidden_layers=3,
                      initializer_range=0.2, max_position_embeddings=40)  # fmt: skip
    texts = [SEED_TEXT, "Angela Merkel met Barack Obama in Berlin.", "Paris is in France."]
    long = " ".join(f"Part {i}: Berlin, Madrid and Rome." for i in range(6))
    options = dict(n_steps="auto", long_text="window", stride=8, progress=False)
    together = Explainer(model, tokenizer, threads=2, **options)([*texts, long])
    alone = Explainer(model, tokenizer, threads=1, **options)
    assert together[-1].settings["windows"] > 1
    for text, explanation in zip([*texts, long], together):
        assert_same_explanations(explanation, alone(text))


def test_a_window_too_big_to_share_runs_alone():
    assert scheduling.alone([100, 10, 10], workers=2) == [0]
    assert scheduling.alone([10, 10, 10, 10], workers=2) == []
    assert scheduling.alone([50, 40, 5, 5], workers=2) == []  # 50 <= half of 100: side by side
    assert scheduling.alone([60, 30, 30, 1], workers=4) == [0, 1, 2, 3]  # the last: alone anyway
    assert scheduling.alone([60, 30], workers=1) == []


# ---------------------------------------------------------------------- packing short texts
SHORT_TEXTS = [  # the first and the third have 10 tokens with the demo tokenizer
    "Alice met Bob in Paris last week.",
    "Angela Merkel visited the Louvre with Macron.",
    "Carol saw Dan in Rome last year.",
    "John Smith works for Google in London.",
]


@pytest.mark.perf_guard
@pytest.mark.numerics
@pytest.mark.parametrize(
    ("method", "options"), [("occlusion", {}), ("integrated_gradients", {"n_steps": 4})]
)
def test_guard_texts_of_one_length_share_passes_with_the_numbers_of_each_alone(
    demo, method, options
):
    model, tokenizer = demo
    explainer = Explainer(model, tokenizer, method, threads=1, **options)
    # 34 tokens each: big enough to pack even as one row (PACK_MIN_TOKEN_ROWS)
    texts = [" ".join([SHORT_TEXTS[0]] * 4), *SHORT_TEXTS[1:], " ".join([SHORT_TEXTS[2]] * 4)]
    with count_passes() as packed:
        batch = explainer(texts, "entities")
    with count_passes() as alone_passes:
        alone = [explainer(text, "entities") for text in texts]
    assert_same_explanations(batch, alone)
    assert packed.forward_rows == alone_passes.forward_rows
    if method == "occlusion":  # two 34-token and two 10-token texts with their perturbations
        assert packed.forward == alone_passes.forward - 2
    else:  # a one-row pass of 10 tokens is too small to pack; the two 34-token ones share one
        assert packed.forward == alone_passes.forward - 1


def test_pack_groups_texts_of_one_length_within_capacity():
    lengths = [10, 12, 10, 10, 12, 10]
    rows = [4, 5, 4, 4, 5, 4]
    assert pack(lengths, rows, {10: 8, 12: 10}, 32) == [[0, 2], [1, 4], [3, 5]]
    # a text with more rows than the capacity still gets its pass, alone
    assert pack([10, 10], [9, 4], {10: 8}, 32) == [[0], [1]]
    # a pass smaller than the smallest packed one stays alone (the kernels sum differently)
    assert pack([10, 10, 10], [4, 1, 4], {10: 8}, 32) == [[0, 2], [1]]
