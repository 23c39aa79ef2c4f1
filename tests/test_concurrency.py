"""One model explained from many threads at once, as a web server does.

Results must equal the sequential ones (within KERNEL_RTOL: calls side by side may split their
work over other worker counts than one call alone), and the user's model must be left as it was
(training flag, requires_grad flags, hooks, weights), also when a call is interrupted.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from conftest import SEED_TEXT
from nerlens import Explainer
from nerlens.targets import ContrastTarget
from numerics import assert_same_explanations
from tiny_models import long_text, model_of, tiny_bert, tokenizer_of

TEXTS = [
    SEED_TEXT,
    "Angela Merkel met Barack Obama in Berlin.",
    "The United Nations is based in New York.",
    "Zoë flew from Zürich to Tokyo 😀 with Siemens AG.",
    " ".join(f"Sentence {i} mentions Paris and Emmanuel Macron." for i in range(5)),
    "Apple hired Tim Cook; he moved to Cupertino.",
    "No entities here, only words.",
    " ".join(f"Part {i}: Berlin, Madrid and Rome." for i in range(5)),
]


def snapshot(model: torch.nn.Module) -> dict:
    """Everything an explanation must leave as it found it."""
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad is None for p in model.parameters()],
        "weights": [p.detach().clone() for p in model.parameters()],
        "hooks": [
            (
                list(m._forward_hooks),
                list(m._forward_pre_hooks),
                list(m._backward_hooks),
                list(m._backward_pre_hooks),
            )
            for m in model.modules()
        ],
    }


def assert_unchanged(model: torch.nn.Module, before: dict) -> None:
    after = snapshot(model)
    for key in ("training", "requires_grad", "grads", "hooks"):
        assert after[key] == before[key], key
    assert all(torch.equal(a, b) for a, b in zip(after["weights"], before["weights"]))


def run_together(calls):
    """Run the callables in threads that all start at the same moment; their results in order."""
    barrier = threading.Barrier(len(calls))

    def start(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(start, calls))


@pytest.fixture(scope="module")
def windowed_model(tokenizer):
    return tiny_bert(tokenizer, seed=3, max_position_embeddings=40)


@pytest.mark.numerics
def test_eight_threads_on_one_explainer_equal_sequential_calls(windowed_model, tokenizer):
    explainer = Explainer(windowed_model, tokenizer, n_steps="auto", long_text="window", stride=8)
    sequential = [explainer(text) for text in TEXTS]
    assert sum(e.settings["windows"] > 1 for e in sequential) == 2
    concurrent = run_together([lambda text=text: explainer(text) for text in TEXTS])
    assert_same_explanations(concurrent, sequential)


@pytest.mark.numerics
def test_explainers_on_two_layers_of_one_model_and_a_busy_tokenizer(windowed_model, tokenizer):
    """Word and position attributions of one model at once, with entity and contrast targets,
    while other code calls the same tokenizer with truncation (as a pipeline does)."""
    by_word = Explainer(windowed_model, tokenizer, n_steps=4, long_text="window", stride=8)
    by_position = Explainer(
        windowed_model, tokenizer, n_steps=4, embedding="position", long_text="window", stride=8
    )
    contrast = [ContrastTarget(2, "B-LOC", "O"), ContrastTarget(5, "B-PER", "I-PER")]
    calls = [
        lambda: by_word(TEXTS[4], "entities"),
        lambda: by_position(TEXTS[4], "entities"),
        lambda: by_word(TEXTS[0], contrast),
        lambda: by_position(TEXTS[0], contrast),
        lambda: by_word(TEXTS[3]),
        lambda: by_position(TEXTS[3]),
    ]
    sequential = [call() for call in calls]
    done = threading.Event()

    def pipeline_use():
        while not done.is_set():
            tokenizer(TEXTS[7], truncation=True, max_length=8)

    user = threading.Thread(target=pipeline_use)
    user.start()
    try:
        concurrent = run_together(calls)
    finally:
        done.set()
        user.join()
    assert_same_explanations(concurrent, sequential)


def test_roberta_family_in_threads_equals_sequential_calls():
    explainer = Explainer(
        model_of("xlm-roberta"), tokenizer_of("xlm-roberta"), n_steps=2, long_text="window"
    )
    texts = [long_text(3, seed) for seed in range(4)]
    sequential = [explainer(text, "entities") for text in texts]
    assert all(e.settings["windows"] > 1 for e in sequential)
    concurrent = run_together([lambda text=text: explainer(text, "entities") for text in texts])
    assert_same_explanations(concurrent, sequential)


@pytest.fixture
def users_model(tokenizer):
    """A model as a user may hold it: in training mode but for one part, partly frozen, with a
    hook of its own (which notes the threads that run the model)."""
    model = tiny_bert(tokenizer, seed=5).train()
    model.bert.encoder.layer[1].eval()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.threads = set()
    model.bert.encoder.layer[0].register_forward_hook(
        lambda module, inputs, output: model.threads.add(threading.get_ident())
    )
    return model


def test_model_is_left_as_it_was(users_model, tokenizer):
    before = snapshot(users_model)
    by_word = Explainer(users_model, tokenizer, n_steps=4)
    by_position = Explainer(users_model, tokenizer, n_steps=4, embedding="position")
    assert_unchanged(users_model, before)
    by_word(TEXTS[0])
    assert_unchanged(users_model, before)
    run_together([lambda: by_word(TEXTS[1]), lambda: by_position(TEXTS[2])] * 3)
    assert_unchanged(users_model, before)


def test_model_is_left_as_it_was_when_a_call_is_interrupted(users_model, tokenizer):
    """Ctrl-C in the middle of the model work (here while other threads explain too). Python
    raises KeyboardInterrupt in the main thread; here a hook raises it there, at the caller's
    second forward pass, so that it lands inside the work on every run (an interrupt sent from
    another thread could land after a fast call had ended)."""
    before = snapshot(users_model)
    explainer = Explainer(users_model, tokenizer, n_steps=400)
    others = Explainer(users_model, tokenizer, n_steps=4, embedding="position")
    expected = others(TEXTS[1])
    main, passes = threading.main_thread().ident, []

    def ctrl_c(module, inputs, output):
        if threading.get_ident() == main:
            passes.append(module)
            if len(passes) == 2:
                raise KeyboardInterrupt

    handle = users_model.bert.encoder.layer[0].register_forward_hook(ctrl_c)
    try:
        with ThreadPoolExecutor(3) as pool:
            running = [pool.submit(others, TEXTS[1]) for _ in range(3)]
            with pytest.raises(KeyboardInterrupt):
                explainer(TEXTS[0])
            assert [future.result() for future in running] == [expected] * 3
    finally:
        handle.remove()
    assert len(passes) == 2
    assert_unchanged(users_model, before)


def test_the_users_tokenizer_is_not_changed(windowed_model, tokenizer):
    """nerlens encodes with its own copy of the backend: settings left by other code stay, and
    do not cut nerlens' text."""
    tokenizer(TEXTS[0], truncation=True, max_length=8)  # a pipeline leaves truncation on
    before = tokenizer.backend_tokenizer.truncation
    try:
        explanation = Explainer(windowed_model, tokenizer, n_steps=2)(TEXTS[0])
        assert tokenizer.backend_tokenizer.truncation == before
        assert len(explanation.tokens) == len(tokenizer(TEXTS[0])["input_ids"]) > 8
    finally:
        tokenizer(TEXTS[0])  # back to no truncation for the other tests
