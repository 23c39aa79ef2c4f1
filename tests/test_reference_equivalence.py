"""nerlens' numbers equal the per-token Captum computation the seed's library performs."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from conftest import SEED_TEXT
from nerlens import Explainer, TokenClassificationExplainer, TokenTarget
from reference import captum_reference
from tiny_models import tiny_bert

TOLERANCE = 1e-5


def curved_model(tokenizer):
    """Larger initial weights: confident, non-linear probabilities that need real integration."""
    return tiny_bert(tokenizer, seed=3, hidden_size=64, num_hidden_layers=3, initializer_range=0.2)


def test_seed_api_matches_captum_on_tiny_model(tokenizer, tiny_model):
    expected, _, _ = captum_reference(tiny_model, tokenizer, SEED_TEXT)
    result = TokenClassificationExplainer(tiny_model, tokenizer)(SEED_TEXT)
    got = np.array([[score for _, score in pairs] for pairs in result.values()])
    assert got.shape == expected.shape == (14, 14)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_seed_api_matches_captum_on_demo_model(demo):
    """Float32, as users run it: every target whose attributions are above float32 noise.

    Targets the model is saturated on ([CLS], [SEP], final punctuation: p ~ 1.0) have raw
    attribution norms of ~1e-4 and below, where normalising amplifies float32 rounding: there the
    reference itself is ~4e-5 away from a float64 computation, as are we. The float64 test below
    checks those rows exactly.
    """
    model, tokenizer = demo
    expected, raw, _ = captum_reference(model, tokenizer, SEED_TEXT)
    explainer = TokenClassificationExplainer(model, tokenizer)
    explainer(SEED_TEXT)
    above_noise = np.linalg.norm(raw, axis=1) > 1e-3
    assert above_noise.sum() >= 10
    np.testing.assert_allclose(
        explainer.explanation.scores[above_noise], expected[above_noise], atol=TOLERANCE, rtol=0
    )


def test_demo_model_matches_captum_exactly_in_float64(demo):
    model, tokenizer = demo
    model64 = copy.deepcopy(model).double()
    expected, raw, deltas = captum_reference(model64, tokenizer, SEED_TEXT)
    explainer = TokenClassificationExplainer(model64, tokenizer)
    explainer(SEED_TEXT)
    # Captum rounds the quadrature weights to float32 even for a float64 model: ~1e-9 apart
    np.testing.assert_allclose(explainer.explanation.scores, expected, atol=1e-7, rtol=0)
    np.testing.assert_allclose(explainer.explanation.attributions, raw, atol=1e-9, rtol=1e-7)
    np.testing.assert_allclose(explainer.explanation.deltas, deltas, atol=1e-7)


def test_native_api_matches_captum_and_raw_attributions(tokenizer, tiny_model):
    positions = [1, 3, 8, 10]
    expected, raw, deltas = captum_reference(tiny_model, tokenizer, SEED_TEXT, positions)
    explanation = Explainer(tiny_model, tokenizer, n_steps=50, internal_batch_size=7)(SEED_TEXT)
    rows = [explanation.positions.index(p) for p in positions]
    np.testing.assert_allclose(explanation.scores[rows], expected, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(explanation.attributions[rows], raw, atol=1e-6, rtol=1e-4)
    np.testing.assert_allclose(explanation.deltas[rows], deltas, atol=1e-6)


def test_position_embeddings_match_captum(tokenizer, tiny_model):
    expected, _, _ = captum_reference(tiny_model, tokenizer, SEED_TEXT, layer="position")
    explainer = TokenClassificationExplainer(tiny_model, tokenizer)
    explainer(SEED_TEXT, embedding_type=1)
    assert explainer.explanation.settings["embedding"] == "position"
    np.testing.assert_allclose(explainer.explanation.scores, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("chunk", [1, 3, None])
def test_chunking_does_not_change_numbers(tokenizer, tiny_model, chunk):
    reference = Explainer(tiny_model, tokenizer, n_steps=50, internal_batch_size=50)(SEED_TEXT)
    chunked = Explainer(tiny_model, tokenizer, n_steps=50, internal_batch_size=chunk)(SEED_TEXT)
    np.testing.assert_allclose(chunked.attributions, reference.attributions, atol=1e-7)


def test_completeness_gap_shrinks_with_steps(tokenizer):
    """sum(raw attributions) = f(input) - f(baseline) up to a gap that shrinks with n_steps.

    Stated tolerance: with 32 Gauss-Legendre steps every target's gap is below 1e-5 (float32
    arithmetic leaves a floor near 1e-7).
    """
    model = curved_model(tokenizer)
    gaps = {}
    for steps in (2, 8, 32):
        explanation = Explainer(model, tokenizer, n_steps=steps)(SEED_TEXT)
        completeness = explanation.attributions.sum(axis=1) - (
            explanation.target_values - explanation.baseline_values
        )
        np.testing.assert_allclose(completeness, explanation.deltas, atol=1e-9)
        gaps[steps] = np.abs(explanation.deltas).max()
    assert gaps[2] > gaps[8] > gaps[32]
    assert gaps[2] > 1e-3
    assert gaps[32] < 1e-5


def test_auto_steps_meet_tolerance_and_refine_only_unconverged_targets(tokenizer):
    model = curved_model(tokenizer)
    explanation = Explainer(model, tokenizer, n_steps="auto", tolerance=1e-5)(SEED_TEXT)
    assert np.all(np.abs(explanation.deltas) <= 1e-5)
    # targets stop refining as soon as they converge, some after fewer splits than others
    # (the first rule has 4 nodes, every split adds new ones)
    assert 4 < explanation.steps.min() < explanation.steps.max()
    assert explanation.settings["n_steps"] == "auto"
    accurate = Explainer(model, tokenizer, n_steps=64)(SEED_TEXT)
    np.testing.assert_allclose(explanation.attributions, accurate.attributions, atol=1e-4)


def test_auto_steps_on_the_demo_model_where_50_steps_are_not_enough(demo):
    """The demo model's output jumps along the path: 50 fixed steps leave deltas ~0.07."""
    model, tokenizer = demo
    auto = Explainer(model, tokenizer, n_steps="auto", tolerance=1e-3)(SEED_TEXT)
    assert np.all(np.abs(auto.deltas) <= 1e-3)
    fixed = Explainer(model, tokenizer, n_steps=50)(SEED_TEXT)
    assert np.abs(fixed.deltas).max() > 1e-2


NEWS = (
    "The European Central Bank kept interest rates unchanged on Thursday, as President Christine "
    "Lagarde told reporters in Frankfurt that inflation in Germany, France and Italy was easing "
    "faster than expected, while analysts at Deutsche Bank and Goldman Sachs still expect a first "
    "cut before the summer, according to a survey published by Reuters in London."
)


@pytest.mark.parametrize(
    "text, targets",
    [
        (SEED_TEXT, "tokens"),
        # with a rule that checked only totals, 'goldman' (B-ORG) scored itself 0.3515 for 0.3686
        # at delta 4e-4: its tokens' errors cancelled
        (NEWS, [TokenTarget(42, "B-ORG")]),
    ],
    ids=["seed", "goldman"],
)
def test_auto_is_accurate_token_by_token_not_only_in_total(demo, text, targets):
    """The tolerance bounds every token's score, not only a target's total (its delta)."""
    model, tokenizer = demo
    auto = Explainer(model, tokenizer, n_steps="auto", tolerance=1e-3)(text, targets)
    fine = Explainer(model, tokenizer, n_steps=200)(text, targets)
    assert np.abs(fine.deltas).max() < 1e-4
    assert np.abs(auto.attributions - fine.attributions).max() <= 1e-3


def test_the_delta_criterion_bounds_only_the_total(demo):
    """criterion="delta" stops once |delta| <= tolerance, as Captum's convergence delta checks:
    fewer nodes, and (as documented) a token's score may be off by more than the tolerance,
    because the tokens' errors cancel in the delta ('goldman' needs 16 nodes for 56, and scores
    itself 1.7e-2 off)."""
    model, tokenizer = demo
    goldman = [TokenTarget(42, "B-ORG")]
    by_tokens = Explainer(model, tokenizer, n_steps="auto")(NEWS, goldman)
    by_delta = Explainer(model, tokenizer, n_steps="auto", criterion="delta")(NEWS, goldman)
    fine = Explainer(model, tokenizer, n_steps=200)(NEWS, goldman)
    assert by_delta.settings["criterion"] == "delta"
    assert abs(by_delta.deltas[0]) <= 1e-3
    assert by_delta.steps[0] < by_tokens.steps[0]
    assert np.abs(by_delta.attributions - fine.attributions).max() > 1e-3
    assert np.abs(by_tokens.attributions - fine.attributions).max() <= 1e-3
