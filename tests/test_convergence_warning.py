"""The library warns when a result's scores do not add up to its change in probability."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import SEED_TEXT
from nerlens import ConvergenceWarning, Explainer, TokenTarget

PARIS = [TokenTarget(3, "B-LOC"), TokenTarget(9, "I-PER")]


def test_a_delta_above_001_warns_naming_auto(demo):
    with pytest.warns(ConvergenceWarning, match=r'n_steps="auto"') as caught:
        explanation = Explainer(*demo, n_steps=2)(SEED_TEXT, PARIS)
    worst = np.abs(explanation.deltas).max()
    assert worst > 0.01
    assert len(caught) == 1
    assert f"(worst {worst:.2g})" in str(caught[0].message)


def test_converged_results_do_not_warn(demo):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        explanation = Explainer(*demo, n_steps="auto", tolerance=1e-3)(SEED_TEXT, PARIS)
    assert np.abs(explanation.deltas).max() <= 1e-3


def test_auto_stopped_by_max_steps_warns_naming_it(demo):
    """Four nodes cannot estimate a token's error: every target stops short of the tolerance."""
    with pytest.warns(ConvergenceWarning, match=r"2 of 2 targets reached max_steps=4 ") as caught:
        explanation = Explainer(*demo, n_steps="auto", max_steps=4)(SEED_TEXT, PARIS)
    assert list(explanation.steps) == [4, 4]
    assert len(caught) == 1  # not also the fixed-steps advice to use n_steps="auto"
    assert "raise max_steps or the tolerance" in str(caught[0].message)


@pytest.mark.parametrize("max_steps", [9, 20])
def test_auto_never_passes_max_steps(demo, max_steps):
    """A round's halvings are cut to those that fit: no target gets more than max_steps nodes."""
    with pytest.warns(ConvergenceWarning, match=f"reached max_steps={max_steps} "):
        explanation = Explainer(*demo, n_steps="auto", max_steps=max_steps)(SEED_TEXT)
    assert explanation.steps.max() <= max_steps
    assert explanation.steps.max() > max_steps - 4  # it used what it was given
