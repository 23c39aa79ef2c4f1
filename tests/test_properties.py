"""Property-based: over arbitrary unicode text the only failures are the documented errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerlens import Explainer, InputError
from tiny_models import tiny_bert


@pytest.fixture(scope="module")
def explainers(tokenizer):
    short = tiny_bert(tokenizer, max_position_embeddings=24)
    return (
        Explainer(short, tokenizer, n_steps=2),
        Explainer(short, tokenizer, n_steps=2, long_text="window", stride=4),
    )


def check(explanation, text):
    assert explanation.text == text
    n = len(explanation.tokens)
    assert explanation.attributions.shape == (len(explanation.targets), n)
    assert np.all(np.isfinite(explanation.attributions))
    for (start, end), special in zip(explanation.offsets, explanation.special):
        assert 0 <= start <= end <= len(text)
        assert special or end > start
    starts = [s for (s, _), sp in zip(explanation.offsets, explanation.special) if not sp]
    assert starts == sorted(starts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_arbitrary_text_explains_or_raises_a_documented_error(explainers, text):
    strict, windowed = explainers
    try:
        explanation = windowed(text)
    except InputError as error:
        assert not text.strip(), f"unexpected error for {text!r}: {error}"
        return
    check(explanation, text)
    try:
        check(strict(text), text)
    except InputError as error:
        assert "tokens long" in str(error)
