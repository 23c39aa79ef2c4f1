"""Every common encoder family, with the kind of tokenizer it ships (see tests/tiny_models.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, ByT5Tokenizer

from nerlens import Explainer, InputError, TextTooLongError
from nerlens.encoding import encode
from nerlens.models.pipeline_entities import predicted_entities
from nerlens.models.token_classifier import positions_padding_idx
from nerlens.targets import ContrastTarget, EntityTarget, TokenTarget
from numerics import assert_close_to_scale
from tiny_models import CONLL_LABELS, FAMILIES, MAX_TOKENS, TEXT, long_text, model_of, tokenizer_of

NAMES = list(FAMILIES)
STRIDE = 16


def model_probabilities(model, ids, **inputs) -> np.ndarray:
    """softmax(model(...).logits) for one input, computed without nerlens."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), **inputs).logits
    return torch.softmax(logits, dim=-1)[0].double().numpy()


def quiet_explainer(name: str, **options) -> Explainer:
    """An Explainer of the family, without the position fallback warning (tested on its own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Explainer(model_of(name), tokenizer_of(name), **options)


@pytest.mark.parametrize("embedding", ["word", "position"])
@pytest.mark.parametrize("name", NAMES)
def test_probabilities_tokens_and_offsets_are_the_models(name, embedding):
    model, tokenizer = model_of(name), tokenizer_of(name)
    explanation = quiet_explainer(name, embedding=embedding, n_steps=2)(
        TEXT, targets=[TokenTarget(1, "O")]
    )
    batch = tokenizer(TEXT, return_tensors="pt", return_offsets_mapping=True)
    offsets = batch.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        expected = torch.softmax(model(**batch).logits, dim=-1)[0].double().numpy()
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=0, atol=1e-6)
    assert explanation.tokens == tuple(tokenizer.convert_ids_to_tokens(batch["input_ids"][0]))
    for (start, end), special, offset in zip(explanation.offsets, explanation.special, offsets):
        assert special or [start, end] == offset


@pytest.mark.parametrize("name", NAMES)
def test_auto_steps_reach_the_tolerance(name):
    """Completeness: the baseline is exactly the start of the path (RoBERTa's positions too)."""
    explanation = quiet_explainer(name, n_steps="auto", tolerance=1e-3)(TEXT)
    assert len(explanation.targets) == len(explanation.tokens) - 2
    assert np.abs(explanation.deltas).max() <= 1e-3


@pytest.mark.numerics
@pytest.mark.parametrize("name", NAMES)
def test_position_embedding_works_or_says_why(name):
    model, tokenizer = model_of(name), tokenizer_of(name)
    if not FAMILIES[name].absolute_positions:
        with pytest.warns(UserWarning, match="no absolute position-embedding layer.*attention"):
            explainer = Explainer(model, tokenizer, embedding="position", n_steps=2)
        assert explainer.embedding == "word"
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explainer = Explainer(model, tokenizer, embedding="position", n_steps="auto")
    targets = [TokenTarget(p, "B-PER") for p in (1, 5, 9)]
    explanation = explainer(TEXT, targets)
    assert explanation.settings["embedding"] == "position"
    assert np.abs(explanation.deltas).max() <= 1e-3
    # the baseline puts every token at the text's first position (0, or padding_idx + 1), every
    # token still attending to every other. The attention mask must be given: without one,
    # transformers reads position ids that do not increase by one as sequences packed side by
    # side and lets each token attend only to its own "sequence" (here: itself), 2e-4 away.
    ids = tokenizer(TEXT)["input_ids"]
    first = (positions_padding_idx(model) or -1) + 1
    at_first = torch.full((1, len(ids)), first)
    full = model_probabilities(
        model, ids, position_ids=at_first, attention_mask=torch.ones_like(at_first)
    )
    assert_close_to_scale(explanation.baseline_values, full[[1, 5, 9], 3], scale=1.0)
    # so at the baseline, token 1 still sees the text's last word
    elsewhere = explainer(TEXT.replace("Paris", "Berlin"), targets[:1])
    assert elsewhere.baseline_values[0] != explanation.baseline_values[0]


@pytest.mark.parametrize("name", ["roberta", "xlm-roberta"])
def test_roberta_family_takes_max_positions_minus_padding_idx_minus_one(name):
    model, tokenizer = model_of(name), tokenizer_of(name)
    explainer = Explainer(model, tokenizer, n_steps=2)
    config = model.config
    assert explainer.max_length == config.max_position_embeddings - config.pad_token_id - 1
    assert explainer.max_length == MAX_TOKENS
    ids = tokenizer(long_text())["input_ids"]
    longest = [*ids[: MAX_TOKENS - 1], tokenizer.sep_token_id]
    model_probabilities(model, longest)  # the model takes max_length tokens ...
    with pytest.raises((IndexError, RuntimeError), match="out of"):  # ... and not one more
        model_probabilities(model, [*longest[:-1], ids[MAX_TOKENS], tokenizer.sep_token_id])
    words = long_text().split(" ")
    lengths = [len(tokenizer(" ".join(words[:n]))["input_ids"]) for n in range(1, len(words))]
    fits = max(n for n, length in enumerate(lengths, start=1) if length <= MAX_TOKENS)
    assert len(explainer(" ".join(words[:fits]), [TokenTarget(1, "O")]).tokens) <= MAX_TOKENS
    with pytest.raises(TextTooLongError):
        explainer(" ".join(words[: fits + 1]))


@pytest.mark.parametrize("name", NAMES)
def test_long_text_is_explained_in_windows(name):
    model, tokenizer = model_of(name), tokenizer_of(name)
    text = long_text()
    explainer = quiet_explainer(name, n_steps=2, long_text="window", stride=STRIDE)
    batch = tokenizer(text, return_offsets_mapping=True)
    ids = batch["input_ids"]
    assert len(ids) > 2 * explainer.max_length
    targets = [TokenTarget(p, "O") for p in range(1, len(ids) - 1, 11)]
    targets += [ContrastTarget(p, "B-PER", "O") for p in range(7, len(ids) - 1, 29)]
    explanation = explainer(text, targets)

    assert explanation.tokens == tuple(tokenizer.convert_ids_to_tokens(ids))
    for (start, end), special, offset in zip(
        explanation.offsets, explanation.special, batch["offset_mapping"]
    ):
        assert special or (start, end) == tuple(offset)

    # the windows are the tokenizer's own overflowing windows, and each token is predicted in
    # the one where it has the most context
    windows = tokenizer(
        text,
        truncation=True,
        max_length=explainer.max_length,
        stride=STRIDE,
        return_overflowing_tokens=True,
    )["input_ids"]
    assert explanation.settings["windows"] == len(windows)
    step = explainer.max_length - 2 - STRIDE
    expected = np.zeros_like(explanation.probabilities)
    best = np.full(len(ids), -1)
    for k, window in enumerate(windows):
        content = window[1:-1]
        assert content == ids[1 + k * step : 1 + k * step + len(content)]
        probabilities = model_probabilities(model, window)
        for i in range(len(content)):
            margin = min(i, len(content) - 1 - i)
            if margin > best[1 + k * step + i]:
                best[1 + k * step + i] = margin
                expected[1 + k * step + i] = probabilities[1 + i]
    # the template tokens: [CLS] from the first window, [SEP] from the last
    expected[0], expected[-1] = model_probabilities(model, windows[0])[0], probabilities[-1]
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=0, atol=1e-6)

    for row in explanation:  # each target's value is its probability, from one window
        attributed = np.flatnonzero(explanation.attributions[row.index])
        assert attributed.max() - attributed.min() < explainer.max_length
        target = row.target
        value = explanation.probabilities[target.position, 3 if target.kind == "contrast" else 0]
        if target.kind == "contrast":
            value -= explanation.probabilities[target.position, 0]
        assert explanation.target_values[row.index] == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("name", ["roberta", "deberta-v3"])
@pytest.mark.parametrize("stride", [STRIDE, 0])
def test_entity_across_a_window_boundary_is_explained_in_one_window(name, stride):
    """Its probability and its value come from one window that holds all of it: a planned one
    where the windows overlap enough, else one centred on the entity."""
    model, tokenizer = model_of(name), tokenizer_of(name)
    text = long_text()
    explainer = quiet_explainer(name, n_steps=2, long_text="window", stride=stride)
    ids = tokenizer(text)["input_ids"]
    step = explainer.max_length - 2 - stride
    boundary = 1 + step + stride // 2  # the first token that the second window owns
    entity = EntityTarget(boundary - 3, boundary + 3, "PER", ("B-PER",) + ("I-PER",) * 5)
    explanation = explainer(text, [entity])
    value = explanation.target_values[0]
    assert value == pytest.approx(explanation.target_probability(entity), abs=1e-12)
    document = encode(tokenizer, text)  # the entities follow the probabilities too
    grouped = predicted_entities(document, explanation.probabilities, CONLL_LABELS, tokenizer)
    assert explanation.entities == tuple(grouped)

    attributed = np.flatnonzero(explanation.attributions[0][1:-1]) + 1
    start, stop = attributed.min(), attributed.max() + 1
    assert start <= entity.start and entity.end <= stop
    assert stop - start <= explainer.max_length - 2
    window = [ids[0], *ids[start:stop], ids[-1]]
    probabilities = model_probabilities(model, window)
    rows = [p - start + 1 for p in entity.positions]
    np.testing.assert_allclose(
        explanation.probabilities[list(entity.positions)], probabilities[rows], atol=1e-6
    )
    mean = np.mean([probabilities[r, 3 if r == rows[0] else 4] for r in rows])
    assert value == pytest.approx(mean, abs=1e-6)
    if stride == 0:  # no planned window holds it: one more window, centred on it
        planned = tokenizer(
            text, truncation=True, max_length=explainer.max_length, return_overflowing_tokens=True
        )["input_ids"]
        assert explanation.settings["windows"] == len(planned) + 1
        assert stop - start == explainer.max_length - 2
        assert abs((entity.start - start) - (stop - entity.end)) <= 1


@pytest.mark.parametrize("name", NAMES)
def test_slow_tokenizer_is_refused(name):
    with pytest.raises(InputError, match="fast tokenizer.*ByT5Tokenizer.*use_fast=True"):
        Explainer(model_of(name), ByT5Tokenizer(), n_steps=2)


@pytest.mark.parametrize("name", NAMES)
def test_model_that_is_not_a_token_classifier_is_refused(name):
    config = model_of(name).config
    for model, got in (
        (AutoModel.from_config(config), "no .logits"),
        (AutoModelForSequenceClassification.from_config(config), r"logits of shape \(1, 9\)"),
    ):
        with pytest.raises(
            InputError, match=f"token-classification.*{type(model).__name__}.*{got}"
        ):
            Explainer(model, tokenizer_of(name), n_steps=2)


def test_tokenizer_of_another_model_is_refused():
    with pytest.raises(InputError, match=r"has id \d+, but the model embeds ids 0\.\.\d+ only"):
        Explainer(model_of("xlm-roberta"), tokenizer_of("roberta"), n_steps=2)("Paris, 東京")
