"""Long documents: sliding windows stitched into one Explanation with correct offsets."""

from __future__ import annotations

import numpy as np
import pytest

from nerlens import Explainer, InputError, TextTooLongError
from nerlens.encoding import encode
from nerlens.targets import EntityTarget, TokenTarget
from nerlens.windows import assign_homes, home_window, plan_windows
from tiny_models import tiny_bert

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


def test_windows_are_slices_of_the_document_in_its_template(tokenizer):
    """No re-tokenisation: the tokenizer's own overflowing windows, positions by construction."""
    document = encode(tokenizer, TEXT)
    windows = plan_windows(document, 40, 8)
    overflowing = tokenizer(
        TEXT, truncation=True, max_length=40, stride=8, return_overflowing_tokens=True
    )["input_ids"]
    assert [list(w.encoding.input_ids) for w in windows] == overflowing
    for window in windows:
        assert window.encoding.input_ids == tuple(
            document.input_ids[p] for p in window.document_positions
        )
        assert window.encoding.offsets == tuple(
            document.offsets[p] for p in window.document_positions
        )
    owners = sorted(w.document_positions[i] for w in windows for i in w.owned)
    assert owners == list(range(len(document)))  # every token is owned exactly once


def test_owner_is_the_window_with_most_context(tokenizer):
    document = encode(tokenizer, TEXT)
    windows = plan_windows(document, 40, 8)  # 38 content tokens a window, 30 apart
    assert [w.document_positions[1] for w in windows[:3]] == [1, 31, 61]
    owned = [[w.document_positions[i] for i in w.owned] for w in windows]
    assert owned[0] == list(range(35))  # up to the middle of the 8 shared tokens [31, 39)
    assert owned[1][0] == 35
    assert home_window([33, 34, 35, 36], windows) == 0  # both hold it; 0 gives more context
    assert home_window([35], windows) == 1
    assert home_window([30, 31], windows) == 0
    assert home_window([37, 40], windows) == 1
    assert home_window([38, 39], windows) == 1


def test_a_target_no_window_holds_gets_one_window_centred_on_it(tokenizer):
    document = encode(tokenizer, TEXT)
    windows = plan_windows(document, 40, 2)  # 38 content tokens a window, 36 apart
    planned = len(windows)
    across = EntityTarget(35, 40, "LOC", ("B-LOC",) + ("I-LOC",) * 4)  # over the 2 shared
    targets = [TokenTarget(3, "O"), across, TokenTarget(38, "O"), across]
    homes = assign_homes(document, targets, windows, 40)
    assert homes == [0, planned, home_window([38], windows[:planned]), planned]
    assert len(windows) == planned + 1  # one added window serves both copies of the target
    # its 38 content tokens centred on tokens 35..39: 16 before them, 17 after
    assert windows[planned].document_positions[1:-1] == tuple(range(19, 57))


def test_stride_is_checked(model, tokenizer):
    with pytest.raises(InputError, match="stride must be a non-negative int or None, got -1"):
        Explainer(model, tokenizer, long_text="window", stride=-1)
    with pytest.raises(InputError, match="stride=8 only applies with long_text='window'"):
        Explainer(model, tokenizer, stride=8)
