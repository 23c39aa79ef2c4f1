"""Predicted entities match the HF pipeline exactly; word and entity views sum exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import pipeline

import nerlens
from nerlens import EntityTarget, Explainer, Explanation, InputError

HELDOUT = Path(__file__).parents[1] / "training" / "data" / "heldout.jsonl"
MERKEL = (
    "We visited Paris last weekend, where Emmanuel Macron lives. Angela Merkel said U.S. thanks."
)


def heldout_texts() -> list[str]:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    return [" ".join(json.loads(line)["tokens"]) for line in lines]


@pytest.mark.parametrize(
    ("strategy", "count"), [("simple", None), ("first", 40), ("average", 40), ("max", 40)]
)
def test_entities_equal_the_pipeline_on_heldout_sentences(demo, strategy, count):
    model, tokenizer = demo
    texts = [*heldout_texts()[:count], "Angela Merkel's naïve résumé cost the U.S. $3.5bn."]
    expected = pipeline(
        "token-classification", model=model, tokenizer=tokenizer, aggregation_strategy=strategy
    )(texts)
    explainer = Explainer(model, tokenizer, aggregation_strategy=strategy)
    explanations = explainer(texts, targets=[[] for _ in texts])
    for text, explanation, want in zip(texts, explanations, expected):
        got = [entity.as_pipeline() for entity in explanation.entities]
        assert [{**g, "score": None} for g in got] == [{**w, "score": None} for w in want], text
        assert np.allclose([g["score"] for g in got], [float(w["score"]) for w in want], atol=1e-6)


def test_entity_targets_group_like_the_pipeline(demo):
    model, tokenizer = demo
    explanation = Explainer(model, tokenizer, "occlusion")(MERKEL, targets="entities")
    assert explanation.targets == tuple(
        EntityTarget(e.token_start, e.token_end, e.entity_group, e.labels)
        for e in explanation.entities
    )
    assert [e.word for e in explanation.entities] == [
        "paris",
        "emmanuel macron",
        "angela merkel",
        "u. s",
    ]


def test_word_view_sums_subwords_exactly_and_spans_words(demo):
    model, tokenizer = demo
    explanation = Explainer(model, tokenizer, "occlusion")(MERKEL)
    words = explanation.aggregate("word")
    groups = words.settings["aggregated"]["token_positions"]
    assert sorted(p for g in groups for p in g) == list(range(len(explanation.tokens)))
    for unit, group in enumerate(groups):
        np.testing.assert_array_equal(
            words.attributions[:, unit], explanation.attributions[:, group].sum(axis=1)
        )
        start, end = words.offsets[unit]
        if not words.special[unit]:
            assert words.tokens[unit] == MERKEL[start:end]
            assert {explanation.word_ids[p] for p in group} == {words.word_ids[unit]}
    assert "Macron" in words.tokens and "Merkel" in words.tokens
    assert words.targets[words.tokens.index("Merkel")] is not None
    # every token target moved to its word; probabilities shown stay the token-level ones
    for token_row, word_row in zip(explanation, words):
        assert word_row.probability == token_row.probability
        assert groups[word_row.target.position][0] <= token_row.target.position
    np.testing.assert_array_equal(words.target_values, explanation.target_values)
    assert Explanation.from_json(words.to_json()) == words
    frame = words.to_pandas()
    assert set(frame["token"]) == set(words.tokens)


def test_entity_view_makes_each_entity_one_unit(demo):
    model, tokenizer = demo
    explanation = Explainer(model, tokenizer, "occlusion")(MERKEL, targets="entities")
    view = explanation.aggregate("entity")
    assert "Emmanuel Macron" in view.tokens and "Angela Merkel" in view.tokens
    assert view.tokens[view.tokens.index("Angela Merkel") + 1] == "said"
    for row in view:
        assert isinstance(row.target, EntityTarget) and row.target.end - row.target.start == 1
        assert (
            view.tokens[row.target.start]
            == MERKEL[view.offsets[row.target.start][0] : view.offsets[row.target.start][1]]
        )
    np.testing.assert_allclose(view.attributions.sum(axis=1), explanation.attributions.sum(axis=1))
    assert Explanation.from_json(view.to_json()) == view
    with pytest.raises(InputError, match="already aggregated"):
        view.aggregate("word")
    with pytest.raises(InputError, match="'sentence'"):
        explanation.aggregate("sentence")


def test_strategy_is_checked():
    with pytest.raises(InputError, match="aggregation_strategy must be one of"):
        Explainer(*nerlens.load_model("demo"), aggregation_strategy="none")


def test_files_written_before_entities_and_gold_still_load(tiny_model, tokenizer):
    explanation = Explainer(tiny_model, tokenizer, "occlusion")("Paris in spring.")
    old = explanation.to_dict()
    for key in ("entities", "gold", "correct", "target_probabilities"):
        old.pop(key, None)
    restored = Explanation.from_dict(old)
    assert restored.entities == () and restored.gold == () and restored.correct is None
    np.testing.assert_array_equal(restored.attributions, explanation.attributions)
    assert restored.aggregate("word").tokens[1:-1] == ("Paris", "in", "spring", ".")


def test_word_strategies_never_split_a_word(demo):
    model, tokenizer = demo
    text = "Heavy rain caused the Elbe to flood parts of Magdeburg overnight ."
    simple = Explainer(model, tokenizer, "occlusion")(text, "entities")
    assert [(e.entity_group, e.word) for e in simple.entities][:2] == [
        ("LOC", "el"),
        ("MISC", "##be"),
    ]
    first = Explainer(model, tokenizer, "occlusion", aggregation_strategy="first")(text, "entities")
    assert first.targets[0] == EntityTarget(5, 7, "LOC", ("B-LOC", "I-LOC"))
    assert first.settings["aggregation_strategy"] == "first"
    assert first.aggregate("entity").tokens[5] == "Elbe"
