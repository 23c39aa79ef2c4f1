"""Long documents: sliding windows stitched into one Explanation with correct offsets."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tiny_bert
from nerlens import Explainer, InputError, TextTooLongError
from nerlens.encoding import encode

TEXT = " ".join(f"Sentence {i} mentions Paris and Emmanuel Macron." for i in range(12))


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_bert(tokenizer, max_position_embeddings=40)


def test_long_text_needs_windowing(model, tokenizer):
    with pytest.raises(TextTooLongError, match="at most 40"):
        Explainer(model, tokenizer, n_steps=2)(TEXT)


def test_windows_cover_the_document_with_original_offsets(model, tokenizer):
    explanation = Explainer(model, tokenizer, n_steps=2, long_text="window", stride=8)(TEXT)
    whole = encode(tokenizer, TEXT)
    assert explanation.tokens == whole.tokens
    assert explanation.offsets == whole.offsets
    assert explanation.settings["windows"] > 2
    assert explanation.positions == tuple(range(1, len(whole) - 1))
    # every target is attributed within one model window: at most 40 non-zero tokens
    assert (np.count_nonzero(explanation.attributions, axis=1) <= 40).all()
    assert np.all(np.abs(explanation.deltas) < 1e-3)


def test_window_result_equals_explaining_that_window_alone(model, tokenizer):
    """A token in the middle of its window is explained exactly as in that window's text."""
    windowed = Explainer(model, tokenizer, n_steps=4, long_text="window", stride=8)
    explanation = windowed(TEXT)
    first_window_text = TEXT[: explanation.offsets[38][1]]  # tokens 1..38 fill window one
    alone = Explainer(model, tokenizer, n_steps=4)(first_window_text)
    position = 10
    row = explanation.positions.index(position)
    row_alone = alone.positions.index(position)
    np.testing.assert_allclose(
        explanation.attributions[row, 1:39], alone.attributions[row_alone, 1:39], atol=1e-6
    )


def test_bad_stride_is_rejected(model, tokenizer):
    with pytest.raises(InputError, match="stride=200"):
        Explainer(model, tokenizer, n_steps=2, long_text="window", stride=200)(TEXT)
