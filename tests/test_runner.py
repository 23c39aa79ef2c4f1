"""Per-call runner state: torch's thread count per thread, cancellation between passes."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from conftest import SEED_TEXT
from nerlens import Explainer
from nerlens.runner import Cancellation, Cancelled, cancellable, count_passes, intra_op_threads


def test_two_threads_with_different_threads_each_keep_their_own_setting():
    """torch's count is per thread: a call in one thread must neither change another thread's
    count while both run nor leave either thread with the other's count afterwards."""
    both_inside = threading.Barrier(2)
    first_left = threading.Event()
    seen: dict[str, list[int]] = {}

    def call(name: str, threads: int, leave_first: bool) -> None:
        torch.set_num_threads(2)  # this thread's own setting before the call
        with intra_op_threads(threads):
            both_inside.wait()
            during = torch.get_num_threads()
            if not leave_first:
                first_left.wait()
                during_after_other_left = torch.get_num_threads()
        if leave_first:
            first_left.set()
            during_after_other_left = during
        seen[name] = [during, during_after_other_left, torch.get_num_threads()]

    threads = [
        threading.Thread(target=call, args=("three", 3, True)),
        threading.Thread(target=call, args=("one", 1, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert seen == {"three": [3, 3, 2], "one": [1, 1, 2]}


def test_nested_thread_requests_apply_in_turn_and_restore_each_other():
    before = torch.get_num_threads()
    with intra_op_threads(3):
        assert torch.get_num_threads() == 3
        with intra_op_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 3
        with intra_op_threads(None):
            assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before


def test_a_cancelled_call_stops_before_its_first_pass(demo):
    model, tokenizer = demo
    explainer = Explainer(model, tokenizer, n_steps=4, progress=False)
    cancellation = Cancellation()
    cancellation.cancel()
    with count_passes() as passes, cancellable(cancellation), pytest.raises(Cancelled):
        explainer(SEED_TEXT)
    assert passes.forward == 0 and passes.backward == 0
    assert explainer(SEED_TEXT).targets  # the same explainer works again outside the block


def test_a_call_past_its_deadline_stops_at_its_next_pass(demo):
    """A deadline raised mid-call (from its own workers' passes too) ends it within a pass."""
    model, tokenizer = demo
    explainer = Explainer(model, tokenizer, n_steps=500, threads=2, progress=False)
    flags = [p.requires_grad for p in model.parameters()]
    cancellation = Cancellation(timeout_s=0.5)
    start = time.monotonic()
    with count_passes() as passes, cancellable(cancellation), pytest.raises(Cancelled):
        explainer(SEED_TEXT * 3)  # minutes of work
    assert passes.forward >= 1
    assert time.monotonic() - start < 10
    assert [p.requires_grad for p in model.parameters()] == flags  # the guard restored them
