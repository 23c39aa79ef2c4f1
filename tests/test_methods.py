"""Each method against an independent computation (Captum, or a plain loop over model calls)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation, LayerGradientXActivation
from torch.profiler import ProfilerActivity

from conftest import SEED_TEXT
from nerlens import ContrastTarget, EntityTarget, Explainer, InputError, TokenTarget, methods
from nerlens.methods import (
    AttributionMethod,
    Occlusion,
    ShapleySampling,
    available_methods,
    describe_methods,
    register_method,
)
from nerlens.runner import count_passes
from numerics import assert_close_to_scale, assert_same_explanations
from tiny_models import tiny_bert

TEXT = "Angela Merkel visited Paris."


@pytest.fixture(scope="module")
def model64(tokenizer):
    """Confident, non-linear probabilities in float64, so comparisons are exact to 1e-9."""
    model = tiny_bert(tokenizer, seed=3, hidden_size=64, num_hidden_layers=2, initializer_range=0.2)
    return copy.deepcopy(model).double().requires_grad_(False)


def targets_of(explanation):
    return [
        TokenTarget(1, "B-PER"),
        ContrastTarget(3, "B-LOC", "O"),
        EntityTarget(1, 3, "PER", ("B-PER", "I-PER")),
        TokenTarget(len(explanation.tokens) - 2, explanation.predicted_labels[-2]),
    ]


def target_function(model, target, label2id):
    """f_t(input_ids) as a plain function of a batch of ids: Σ c · softmax(logits)[p, label]."""
    terms = target.terms(label2id)

    def forward(input_ids):
        probabilities = torch.softmax(model(input_ids=input_ids).logits, -1)
        return sum(c * probabilities[:, p, lab] for p, lab, c in terms)

    return forward


def explain(model, tokenizer, method, targets=None, **options):
    explainer = Explainer(model, tokenizer, method, method_options=options)
    first = explainer(TEXT, targets=[])
    return explainer, explainer(TEXT, targets=targets or targets_of(first))


def ids_and_baseline(tokenizer, explainer):
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    special = torch.tensor(
        tokenizer.get_special_tokens_mask(ids[0], already_has_special_tokens=True)
    )
    baseline = torch.where(special.bool(), ids[0], explainer.baseline_token_id)[None]
    return ids, baseline, special.bool()


@pytest.mark.numerics
@pytest.mark.parametrize("method", ["gradient_x_input", "saliency"])
def test_gradient_methods_match_captum(model64, tokenizer, method):
    explainer, explanation = explain(model64, tokenizer, method)
    ids, _, _ = ids_and_baseline(tokenizer, explainer)
    layer = model64.get_input_embeddings()
    for row, target in enumerate(explanation.targets):
        forward = target_function(model64, target, explainer.label2id)
        reference = LayerGradientXActivation(
            forward, layer, multiply_by_inputs=method == "gradient_x_input"
        ).attribute(ids)
        reference = reference.abs() if method == "saliency" else reference
        np.testing.assert_allclose(
            explanation.attributions[row], reference.sum(-1)[0].detach().numpy(), atol=1e-10
        )
        with torch.no_grad():
            value = float(forward(ids))
        assert explanation.target_values[row] == pytest.approx(value, abs=1e-12)
    assert np.isnan(explanation.deltas).all() and np.isnan(explanation.baseline_values).all()
    assert (explanation.steps == 0).all()


def peak_cpu_bytes(call) -> int:
    """The most bytes torch's CPU allocator held at once during ``call()`` (above the start),
    from the profiler's allocation and free events in time order."""
    with torch.profiler.profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    changes = sorted(
        (e.time_range.start, e.self_cpu_memory_usage)
        for e in prof.events()
        if e.self_cpu_memory_usage
    )
    return int(np.cumsum([change for _, change in changes]).max())


def test_gradient_methods_hold_one_targets_gradient_at_a_time(tokenizer):
    """Each target's gradient is reduced as it is computed: explaining 100+ targets takes
    hardly more memory than one (0.04x their stacked gradients measured), where stacking
    their gradients (targets × tokens × hidden) took about twice that stack (1.8x).
    Saliency shares the pass (``reduced_input_gradients``) with gradient × input."""
    hidden = 256
    model = tiny_bert(tokenizer, hidden_size=hidden, intermediate_size=hidden)
    explainer = Explainer(model, tokenizer, "gradient_x_input", threads=1, progress=False)
    tokens = len(explainer(SEED_TEXT, targets=[]).tokens)
    every_label = [
        TokenTarget(p, label) for p in range(1, tokens - 1) for label in model.config.label2id
    ]
    one = peak_cpu_bytes(lambda: explainer(SEED_TEXT, targets=every_label[:1]))
    many = peak_cpu_bytes(lambda: explainer(SEED_TEXT, targets=every_label))
    stacked = len(every_label) * tokens * hidden * 4
    assert many - one < stacked / 4


@pytest.mark.numerics
def test_occlusion_matches_captum_feature_ablation(model64, tokenizer):
    explainer, explanation = explain(model64, tokenizer, "occlusion")
    ids, baseline, special = ids_and_baseline(tokenizer, explainer)
    for row, target in enumerate(explanation.targets):
        forward = target_function(model64, target, explainer.label2id)
        reference = FeatureAblation(forward).attribute(ids, baselines=baseline)
        np.testing.assert_allclose(explanation.attributions[row], reference[0].numpy(), atol=1e-10)
        with torch.no_grad():
            assert explanation.baseline_values[row] == pytest.approx(float(forward(baseline)))
    assert (explanation.attributions[:, special.numpy()] == 0).all()
    assert np.isnan(explanation.deltas).all()


@pytest.mark.perf_guard
@pytest.mark.numerics
def test_guard_occlusion_runs_in_the_prediction_pass_when_it_fits(model64, tokenizer):
    """One forward pass per text (the prediction's, holding every occluded copy); a budget too
    small for that gives the same numbers (within KERNEL_RTOL) from separate passes."""
    texts = [SEED_TEXT, "Angela Merkel met Barack Obama in Berlin."]
    shared = Explainer(model64, tokenizer, "occlusion", threads=1, progress=False)
    with count_passes() as passes:
        together = shared(texts)
    assert passes.forward == len(texts)
    tokens = [len(tokenizer(text)["input_ids"]) for text in texts]
    assert passes.forward_rows == sum(n - 2 + 2 for n in tokens)  # text, copies, all replaced
    apart = Explainer(model64, tokenizer, "occlusion", threads=1, internal_batch_size=4)
    with count_passes() as passes:
        separate = apart(texts)
    assert passes.forward == sum(1 + -(-(n - 1) // 4) for n in tokens)
    assert_same_explanations(together, separate)


def test_shapley_sampling_equals_a_plain_loop_and_is_efficient(model64, tokenizer):
    explainer, explanation = explain(model64, tokenizer, "shapley_sampling", n_samples=4, seed=7)
    ids, baseline, special = ids_and_baseline(tokenizer, explainer)
    players = np.flatnonzero(~special.numpy())
    rng = np.random.default_rng(7)
    orders = [rng.permutation(len(players)) for _ in range(4)]
    for row, target in enumerate(explanation.targets):
        forward = target_function(model64, target, explainer.label2id)
        phi = np.zeros(ids.shape[1])
        for order in orders:
            present = baseline.clone()
            before = float(forward(present))
            for player in players[order]:
                present[0, player] = ids[0, player]
                after = float(forward(present))
                phi[player] += (after - before) / len(orders)
                before = after
        assert_close_to_scale(explanation.attributions[row], phi, scale=1.0)  # batched
        # efficiency, exactly: Σφ = f(x) − f(all non-special tokens replaced)
        total = explanation.attributions[row].sum()
        gap = explanation.target_values[row] - explanation.baseline_values[row]
        assert abs(total - gap) < 1e-12 and abs(explanation.deltas[row]) < 1e-12
    again = explain(model64, tokenizer, "shapley_sampling", n_samples=4, seed=7)[1]
    np.testing.assert_array_equal(again.attributions, explanation.attributions)
    other = explain(model64, tokenizer, "shapley_sampling", n_samples=4, seed=8)[1]
    assert not np.array_equal(other.attributions, explanation.attributions)


def test_lime_is_a_weighted_ridge_fit_on_shared_samples(model64, tokenizer):
    explainer, explanation = explain(model64, tokenizer, "lime", n_samples=30, seed=1)
    ids, baseline, special = ids_and_baseline(tokenizer, explainer)
    players = np.flatnonzero(~special.numpy())
    n = len(players)
    rng = np.random.default_rng(1)
    masks = [np.ones(n, dtype=bool)]
    for _ in range(29):
        mask = np.ones(n, dtype=bool)
        mask[rng.choice(n, size=rng.integers(1, n + 1), replace=False)] = False
        masks.append(mask)
    for row, target in enumerate(explanation.targets):
        forward = target_function(model64, target, explainer.label2id)
        y = []
        for mask in masks:
            perturbed = baseline.clone()
            perturbed[0, players[mask]] = ids[0, players[mask]]
            y.append(float(forward(perturbed)))
        z = np.array(masks, dtype=float)
        weight = np.exp(-((1 - np.sqrt(z.sum(1) / n)) ** 2) / 0.25**2)
        # ridge with an unpenalised intercept, as an augmented least-squares problem
        design = np.hstack([np.ones((len(z), 1)), z]) * np.sqrt(weight)[:, None]
        design = np.vstack([design, np.hstack([np.zeros((n, 1)), np.eye(n)])])
        rhs = np.concatenate([np.array(y) * np.sqrt(weight), np.zeros(n)])
        beta = np.linalg.lstsq(design, rhs, rcond=None)[0][1:]
        np.testing.assert_allclose(explanation.attributions[row, players], beta, atol=1e-9)


def test_method_object_options_and_clear_errors(tiny_model, tokenizer):
    by_object = Explainer(tiny_model, tokenizer, Occlusion())(SEED_TEXT)
    by_name = Explainer(tiny_model, tokenizer, "occlusion")(SEED_TEXT)
    np.testing.assert_array_equal(by_object.attributions, by_name.attributions)
    assert by_name.settings["method"] == "occlusion"
    short = Explainer(tiny_model, tokenizer, n_steps=2, stride=5, long_text="window")
    assert short.method.n_steps == 2 and short.stride == 5
    assert (
        Explainer(
            tiny_model, tokenizer, "shapley", method_options={"n_samples": 3}
        ).method.n_samples
        == 3
    )
    with pytest.raises(
        InputError, match=r"method 'occlusion' takes no option\(s\) \['n_steps'\] and they are not"
    ):
        Explainer(tiny_model, tokenizer, "occlusion", n_steps=3)
    with pytest.raises(InputError, match="given twice"):
        Explainer(tiny_model, tokenizer, n_steps=3, method_options={"n_steps": 4})
    with pytest.raises(InputError, match="ready method object"):
        Explainer(tiny_model, tokenizer, ShapleySampling(), method_options={"seed": 1})
    with pytest.raises(InputError, match="n_samples must be a positive int, got 0"):
        Explainer(tiny_model, tokenizer, "shapley_sampling", method_options={"n_samples": 0})
    with pytest.raises(InputError, match="unknown attribution method 'shap'"):
        Explainer(tiny_model, tokenizer, "shap")


def test_users_register_their_own_method(tiny_model, tokenizer, monkeypatch):
    for table in ("_REGISTRY", "_FORMULAS"):  # leave the real registry as it was
        monkeypatch.setattr(methods, table, dict(getattr(methods, table)))

    class Constant(AttributionMethod):
        """phi[t,i] = 1 for every token."""

        name = "constant_for_test"
        capabilities = Occlusion.capabilities

        def settings(self):
            return {}

        def attribute(self, model_input, terms, budget):
            result = Occlusion().attribute(model_input, terms, budget)
            return type(result)(
                np.ones_like(result.scores), *(vars(result)[k] for k in list(vars(result))[1:])
            )

    register_method(Constant)
    assert "constant_for_test" in available_methods()
    info = {m.name: m for m in describe_methods()}["constant_for_test"]
    assert info.formula == "phi[t,i] = 1 for every token."
    explanation = Explainer(tiny_model, tokenizer, "constant_for_test")(SEED_TEXT)
    assert (explanation.attributions == 1).all()
    assert info.options == {}  # its constructor is object's: no *args, **kwargs as options
    with pytest.raises(InputError, match=r"takes no option\(s\) \['scale'\]; it takes no options"):
        methods.create_method("constant_for_test", scale=2)

    class Scaled(Constant):
        name = "scaled_for_test"

        def __init__(self, scale: float = 1.0) -> None:  # undeclared: read from the signature
            self.scale = scale

    register_method(Scaled)
    assert methods.method_options(Scaled) == {"scale": 1.0}
    assert methods.create_method("scaled_for_test", scale=2).scale == 2
    with pytest.raises(ValueError, match="already registered"):
        register_method(Constant)
