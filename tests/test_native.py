"""The native API: Explanation contents, targets, batches, round trips and error messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nerlens.methods
from conftest import SEED_TEXT
from nerlens import (
    ContrastTarget,
    EntityTarget,
    Explainer,
    Explanation,
    InputError,
    TextTooLongError,
    TokenTarget,
)
from nerlens.errors import OptionError
from numerics import assert_same_explanations
from tiny_models import CONLL_LABELS


@pytest.fixture(scope="module")
def explainer(tokenizer, tiny_model):
    return Explainer(tiny_model, tokenizer, n_steps=8)


@pytest.fixture(scope="module")
def explanation(explainer):
    return explainer(SEED_TEXT)


def test_explanation_holds_text_tokens_offsets_and_predictions(explanation):
    assert explanation.text == SEED_TEXT
    assert explanation.tokens[0] == "[CLS]" and explanation.tokens[-1] == "[SEP]"
    assert explanation.special == (True,) + (False,) * 12 + (True,)
    assert explanation.surface(3) == "Paris"  # original casing: offsets index the user's text
    assert [explanation.surface(i) for i in (9, 10)] == ["Macro", "n"]
    assert explanation.labels == tuple(CONLL_LABELS)
    np.testing.assert_allclose(explanation.probabilities.sum(axis=1), 1, atol=1e-6)
    assert len(explanation.predicted_labels) == len(explanation.tokens)


def test_special_tokens_are_not_targets_by_default(explanation, explainer):
    assert explanation.positions == tuple(range(1, 13))
    with_special = explainer(SEED_TEXT, include_special_tokens=True)
    assert with_special.positions == tuple(range(14))


def test_at_looks_up_a_token_position_with_clear_missing_key(explanation):
    row = explanation.at(3)
    assert row.target == TokenTarget(3, explanation.predicted_labels[3])
    assert row.pairs()[3][0] == "paris"
    assert explanation.attributions.shape == (12, 14)
    with pytest.raises(KeyError, match="token position 0 was not explained"):
        explanation.at(0)


def test_getitem_indexes_targets_as_len_and_iteration_do(explanation):
    rows = list(explanation)
    assert len(rows) == len(explanation) == 12
    for k in (0, 3, 11, -1, -12):
        assert explanation[k] == rows[k]  # the k-th target, not the target at token k
    assert explanation[0].target == TokenTarget(1, explanation.predicted_labels[1])
    assert explanation[-1].index == 11  # normalised, as the views number it
    np.testing.assert_allclose(explanation[-1].scores, explanation.scores[-1], rtol=1e-12)
    for k in (12, -13):
        with pytest.raises(IndexError, match=r"12 targets \(valid: 0 to 11, or -12 to -1\).*at\("):
            explanation[k]
    with pytest.raises(TypeError, match=r"explanation\.at\(position\)"):
        explanation["Paris"]


def test_json_round_trip_is_exact(explanation, tmp_path):
    again = Explanation.from_json(explanation.to_json())
    assert again == explanation
    assert np.array_equal(again.attributions, explanation.attributions)
    assert np.array_equal(again.probabilities, explanation.probabilities)
    assert again.targets == explanation.targets
    path = explanation.save(tmp_path / "e.json")
    assert Explanation.load(path) == explanation
    assert json.loads(path.read_text())["schema_version"] == 1


ARRAYS = ["probabilities", "attributions", "target_values", "baseline_values", "deltas", "steps"]


@pytest.mark.parametrize("name", ARRAYS)
def test_arrays_are_read_only_when_computed_and_when_read_back(explanation, name):
    for held in (explanation, Explanation.from_json(explanation.to_json())):
        array = getattr(held, name)
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
        with pytest.raises(ValueError, match="read-only"):
            array += 1


def test_unknown_schema_version_is_rejected(explanation):
    data = explanation.to_dict() | {"schema_version": 99}
    with pytest.raises(InputError, match="schema_version 99"):
        Explanation.from_dict(data)


def test_to_pandas_long_format(explanation):
    frame = explanation.to_pandas()
    assert len(frame) == 12 * 14
    first = frame[frame.target_index == 0]
    np.testing.assert_allclose(first.score.to_numpy(), explanation.scores[0])
    assert list(first.token) == list(explanation.tokens)


def test_entity_and_contrast_targets(explainer):
    targets = [
        EntityTarget(8, 11, "PER", ("B-PER", "I-PER", "I-PER")),
        ContrastTarget(3, "B-LOC", "B-PER"),
    ]
    explanation = explainer(SEED_TEXT, targets)
    assert explanation.targets == tuple(targets)
    probs = explanation.probabilities
    expected_entity = (probs[8, 3] + probs[9, 4] + probs[10, 4]) / 3
    assert explanation.target_values[0] == pytest.approx(expected_entity, abs=1e-6)
    assert explanation.target_values[1] == pytest.approx(probs[3, 7] - probs[3, 3], abs=1e-6)
    # the entity target is the mean of its token targets (IG is linear in the target)
    tokens = explainer(
        SEED_TEXT, [TokenTarget(8, "B-PER"), TokenTarget(9, "I-PER"), TokenTarget(10, "I-PER")]
    )
    np.testing.assert_allclose(
        explanation.attributions[0], tokens.attributions.mean(axis=0), atol=1e-7
    )


def test_entities_selector_groups_predicted_tags(explainer):
    explanation = explainer(SEED_TEXT, "entities")
    for target in explanation.targets:
        assert isinstance(target, EntityTarget)
        assert target.labels == explanation.predicted_labels[target.start : target.end]


@pytest.mark.numerics
def test_batch_equals_each_text_alone(explainer):
    texts = [SEED_TEXT, "Angela Merkel met Joe Biden in Berlin.", "ok"]
    batch = explainer(texts)
    assert [e.text for e in batch] == texts
    assert_same_explanations(batch, [explainer(text) for text in texts])


def test_ignored_indexes_and_labels(explainer, explanation):
    label = explanation.predicted_labels[5]
    result = explainer(SEED_TEXT, ignored_indexes=[1, 2], ignored_labels=[label])
    expected = [
        p for p in range(1, 13) if p not in (1, 2) and explanation.predicted_labels[p] != label
    ]
    assert list(result.positions) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "text must be a str or a list of str, got NoneType"),
        (42, "text must be a str or a list of str, got int"),
        ("", "at least one non-whitespace character, got ''"),
        (" \n\t ", "at least one non-whitespace character"),
        ([], "the list of texts is empty"),
        ([SEED_TEXT, 3], "text must be a str, got int"),
        ("Caf\udce9 in Paris", r"lone surrogate U\+DCE9 at character 3"),
        ([SEED_TEXT, "\ud83d\ude00"], r"lone surrogate U\+D83D at character 0"),
    ],
)
def test_bad_texts_raise_clear_errors(explainer, text, message):
    with pytest.raises(InputError, match=message):
        explainer(text)


def test_bad_options_raise_clear_errors(explainer, tokenizer, tiny_model):
    with pytest.raises(InputError, match=r"label 'PERSON' is not one of the model's labels"):
        explainer(SEED_TEXT, ignored_labels=["PERSON"])
    with pytest.raises(InputError, match=r"ignored_indexes \[14, 99\] are out of range"):
        explainer(SEED_TEXT, ignored_indexes=[14, 99])
    with pytest.raises(InputError, match="ignored_indexes must be ints"):
        explainer(SEED_TEXT, ignored_indexes=["1"])
    with pytest.raises(InputError, match="targets must be 'tokens', 'entities'"):
        explainer(SEED_TEXT, "words")
    with pytest.raises(InputError, match="points at token 20"):
        explainer(SEED_TEXT, [TokenTarget(20, "O")])
    with pytest.raises(InputError, match="unknown attribution method 'shap'"):
        Explainer(tiny_model, tokenizer, "shap")
    with pytest.raises(InputError, match=r"takes no option\(s\) \['steps'\]"):
        Explainer(tiny_model, tokenizer, steps=3)
    with pytest.raises(InputError, match="n_steps must be a positive int or 'auto'"):
        Explainer(tiny_model, tokenizer, n_steps=0)
    with pytest.raises(
        InputError,
        match="tolerance=0.0001, criterion='delta' apply only with n_steps='auto', got 50",
    ):
        Explainer(tiny_model, tokenizer, n_steps=50, tolerance=1e-4, criterion="delta")
    with pytest.raises(InputError, match=r"criterion must be one of \['tokens', 'delta'\]"):
        Explainer(tiny_model, tokenizer, n_steps="auto", criterion="total")
    with pytest.raises(InputError, match="tolerance must be a number > 0, got '1e-3'"):
        Explainer(tiny_model, tokenizer, n_steps="auto", tolerance="1e-3")
    with pytest.raises(InputError, match="max_steps must be an int >= 4, got 2"):
        Explainer(tiny_model, tokenizer, n_steps="auto", max_steps=2)
    with pytest.raises(InputError, match="embedding must be one of"):
        Explainer(tiny_model, tokenizer, embedding="token_type")
    with pytest.raises(
        InputError, match=r"device must be one of \['cpu', 'cuda', 'auto'\] or None"
    ):
        Explainer(tiny_model, tokenizer, device="tpu")
    with pytest.raises(InputError, match="precision='float16' needs a CUDA device"):
        Explainer(tiny_model, tokenizer, precision="float16")
    with pytest.raises(InputError, match="precision must be one of"):
        Explainer(tiny_model, tokenizer, precision="int8")


@pytest.mark.parametrize(
    ("keywords", "option"),
    [
        ({"internal_batch_size": True}, "internal_batch_size"),  # a bool is not a count
        ({"internal_batch_size": 0}, "internal_batch_size"),
        ({"max_memory_mb": float("nan")}, "max_memory_mb"),
        ({"threads": True}, "threads"),
        ({"progress": "yes"}, "progress"),
        ({"long_text": "cut"}, "long_text"),
        ({"stride": 8}, "stride"),  # without long_text="window"
        ({"n_steps": 2.5}, "n_steps"),
        ({"n_steps": 8, "max_steps": 16}, "max_steps"),
        ({"method": "lime", "kernel_width": 0}, "kernel_width"),
        ({"method": "shapley", "seed": 1.5}, "seed"),
    ],
)
def test_a_bad_option_is_named_by_the_error(tiny_model, tokenizer, keywords, option):
    """Every option error carries the option's declared name, for the CLI and server to spell."""
    with pytest.raises(InputError) as error:
        Explainer(tiny_model, tokenizer, **keywords)
    assert error.value.option == option
    assert str(error.value).startswith(option)


def test_option_errors_are_worded_for_each_entry_point(tiny_model, tokenizer):
    with pytest.raises(OptionError) as error:
        Explainer(tiny_model, tokenizer, n_steps=8, tolerance=0.1)
    assert error.value.worded(lambda name: f"--{name.replace('_', '-')}") == (
        "--tolerance=0.1 applies only with --n-steps='auto', got 8"
    )


def test_integrated_gradients_defaults_to_auto_steps_everywhere(tiny_model, tokenizer):
    """One default per option: the library's integrated gradients adapts its steps, as the CLI,
    server and corpus jobs do; the drop-in keeps the reference's 50."""
    from nerlens.compat import TokenClassificationExplainer

    explanation = Explainer(tiny_model, tokenizer)("Paris")
    assert explanation.settings["n_steps"] == "auto"
    assert nerlens.methods.method_options(nerlens.methods.IntegratedGradients)["n_steps"] == "auto"
    assert TokenClassificationExplainer(tiny_model, tokenizer).n_steps == 50


def test_too_long_text_raises_until_windowing_is_asked_for(explainer):
    text = "word " * 600
    with pytest.raises(TextTooLongError, match="602 tokens long .* at most 512"):
        explainer(text)


def test_model_mode_and_gradients_are_restored(tokenizer, tiny_model):
    tiny_model.train()
    try:
        Explainer(tiny_model, tokenizer, n_steps=2)("Paris")
        assert tiny_model.training
        assert all(p.requires_grad for p in tiny_model.parameters())
    finally:
        tiny_model.eval()


def test_progress_bar_shows_on_request_and_can_be_turned_off(tokenizer, tiny_model, capsys):
    texts = ["Paris is nice.", "Berlin too."]
    Explainer(tiny_model, tokenizer, n_steps=2, progress=False)(texts)
    assert "explaining" not in capsys.readouterr().out
    from rich.console import Console

    from nerlens.progress import ProgressBar

    console = Console(record=True, force_terminal=True, width=80)
    with ProgressBar(len(texts), "targets", console=console) as advance:
        advance(1)
        advance(1)
    assert "explaining" in console.export_text()


def test_the_explainers_keywords_are_the_declared_options_with_their_defaults():
    """One declaration per option: the constructor's defaults are the declared ones."""
    import inspect

    from nerlens.options import EXPLAINER_OPTIONS, MODEL_KEYWORDS

    parameters = inspect.signature(Explainer.__init__).parameters
    keywords = {
        name: p.default
        for name, p in parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in ("method_options", *MODEL_KEYWORDS)
    }
    assert keywords == {option.name: option.default for option in EXPLAINER_OPTIONS}
