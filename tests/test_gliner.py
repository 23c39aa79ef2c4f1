"""GLiNER, the second model kind: its input, entities and scores against GLiNER's own code.

Oracles: ``predict_entities`` for entities, GLiNER's own batch (``prepare_batch`` +
``collate_batch``) and forward for span scores, autograd through that forward with a hook on the
word embeddings for gradient×input, the forward with one id replaced for occlusion.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import nerlens
from nerlens import Explainer, Explanation
from nerlens.errors import InputError, TextTooLongError
from nerlens.targets import SpanTarget
from nerlens.windows import assign_homes

TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."
LABELS = ["person", "location"]


def gliner_batch(model, text: str, labels: list[str]) -> tuple[dict, dict]:
    """GLiNER's own model inputs for ``text`` and the maps from characters to its words."""
    prepared = model.prepare_batch([text], labels)
    batch = model.collate_batch(
        prepared["input_x"], prepared["entity_types"], model.create_collator()
    )
    keys = ("input_ids", "attention_mask", "words_mask", "text_lengths", "span_idx", "span_mask")
    return {key: batch[key] for key in keys}, prepared


def gliner_scores(model, inputs: dict) -> torch.Tensor:
    """``sigmoid(logits)`` ``(words, max_width, labels)`` from GLiNER's own forward."""
    with torch.no_grad():
        return torch.sigmoid(model(**inputs).logits[0])


def span_of(explanation: Explanation, surface: str) -> tuple[int, int]:
    """The tokens ``[start, end)`` of the words that spell ``surface`` in the text."""
    first = explanation.text.index(surface)
    last = first + len(surface)
    positions = [
        p
        for p, (a, b) in enumerate(explanation.offsets)
        if explanation.segment(p) == "text" and first <= a and b <= last
    ]
    return positions[0], positions[-1] + 1


@pytest.fixture(scope="module")
def explainer(gliner):
    model, tokenizer = gliner
    return Explainer(model, tokenizer, "integrated_gradients", labels=LABELS, threshold=0.5)


def test_load_model_returns_the_gliner_model_and_its_tokenizer(gliner_dir):
    model, tokenizer = nerlens.load_model(gliner_dir)
    assert type(model).__name__ == "UniEncoderSpanGLiNER"
    assert tokenizer is model.data_processor.transformer_tokenizer
    assert isinstance(model.predict_entities(TEXT, LABELS), list)


def test_tokens_are_the_prompt_then_the_text_as_gliner_builds_them(gliner, explainer):
    model, _ = gliner
    explanation = explainer(TEXT)
    inputs, _ = gliner_batch(model, TEXT, LABELS)
    assert list(
        explanation.tokens
    ) == model.data_processor.transformer_tokenizer.convert_ids_to_tokens(
        inputs["input_ids"][0].tolist()
    )
    assert explanation.tokens[:6] == (
        "[CLS]",
        "<<ENT>>",
        "person",
        "<<ENT>>",
        "location",
        "<<SEP>>",
    )
    assert explanation.segments[:6] == ("special", "prompt", "prompt", "prompt", "prompt", "prompt")
    assert explanation.special[:6] == (True, True, False, True, False, True)
    assert explanation.segments[-1] == "special"
    for position, (start, end) in enumerate(explanation.offsets):
        if explanation.segment(position) == "text":
            assert TEXT[start:end].lower() == explanation.tokens[position].removeprefix("##")
        else:
            assert (start, end) == (0, 0)


@pytest.mark.parametrize(
    ("threshold", "flat_ner", "multi_label"),
    [
        (0.5, True, False),
        (0.3, True, False),
        (0.3, False, False),
        (0.3, True, True),
        (0.9, True, False),
    ],
)
def test_entities_equal_predict_entities(gliner, threshold, flat_ner, multi_label):
    model, tokenizer = gliner
    texts = [TEXT, "Angela Merkel met Apple in Berlin-Mitte on the 3rd of May; it rained."]
    labels = ["person", "organization", "location"]
    explainer = Explainer(model, tokenizer, "saliency", labels=labels)
    options = {"threshold": threshold, "flat_ner": flat_ner, "multi_label": multi_label}
    for text in texts:
        expected = model.predict_entities(text, labels, **options)
        explanation = explainer(text, **options)
        got = [entity.as_gliner() for entity in explanation.entities]
        assert [(e["start"], e["end"], e["text"], e["label"]) for e in got] == [
            (e["start"], e["end"], e["text"], e["label"]) for e in expected
        ]
        np.testing.assert_allclose(
            [e["score"] for e in got], [e["score"] for e in expected], atol=1e-5
        )
        assert explanation.settings["threshold"] == threshold
        # the default targets are the entities, each valued at its own score
        assert [t.label for t in explanation.targets] == [e["label"] for e in expected]
        np.testing.assert_allclose(
            explanation.target_values, [e["score"] for e in expected], atol=1e-5
        )


def test_span_targets_score_as_gliners_forward(gliner, explainer):
    model, _ = gliner
    explanation = explainer(TEXT, targets=[])
    inputs, prepared = gliner_batch(model, TEXT, LABELS)
    scores = gliner_scores(model, inputs)
    starts = prepared["start_token_map"][0]
    targets, expected = [], []
    for surface, label, foil in [
        ("Paris", "location", None),
        ("Emmanuel Macron", "person", None),
        ("Paris last", "person", "location"),
        ("lives.", "location", None),
    ]:
        start, end = span_of(explanation, surface)
        targets.append(SpanTarget(start, end, label, foil))
        first = starts.index(TEXT.index(surface))
        width = len(surface.replace(".", " .").split()) - 1
        value = scores[first, width, LABELS.index(label)]
        if foil is not None:
            value = value - scores[first, width, LABELS.index(foil)]
        expected.append(float(value))
    explained = explainer(TEXT, targets=targets)
    np.testing.assert_allclose(explained.target_values, expected, atol=1e-6)
    assert explained[2].description == "paris last → person rather than location"


def test_gradient_x_input_equals_autograd_through_gliners_forward(gliner):
    model, tokenizer = gliner
    inputs, prepared = gliner_batch(model, TEXT, LABELS)
    embeddings = model.model.token_rep_layer.get_input_embeddings()
    kept: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        kept.append(output)

    handle = embeddings.register_forward_hook(keep)
    try:
        logits = model(**inputs).logits[0]
    finally:
        handle.remove()
    first = prepared["start_token_map"][0].index(TEXT.index("Macron"))
    torch.sigmoid(logits[first, 0, 0]).backward()
    expected = (kept[0].grad * kept[0]).sum(-1)[0].detach().numpy()
    model.zero_grad()
    explanation = Explainer(model, tokenizer, "gradient_x_input", labels=LABELS)(TEXT, targets=[])
    start, end = span_of(explanation, "Macron")
    result = Explainer(model, tokenizer, "gradient_x_input", labels=LABELS)(
        TEXT, targets=[SpanTarget(start, end, "person")]
    )
    np.testing.assert_allclose(result.attributions[0], expected, rtol=1e-4, atol=1e-7)


def test_occlusion_equals_gliners_forward_with_one_id_replaced(gliner):
    model, tokenizer = gliner
    inputs, prepared = gliner_batch(model, TEXT, LABELS)
    first = prepared["start_token_map"][0].index(TEXT.index("Paris"))
    full = float(gliner_scores(model, inputs)[first, 0, 1])
    explainer = Explainer(model, tokenizer, "occlusion", labels=LABELS)
    start, end = span_of(explainer(TEXT, targets=[]), "Paris")
    explanation = explainer(TEXT, targets=[SpanTarget(start, end, "location")])
    pad = tokenizer.pad_token_id
    for position in range(len(explanation.tokens)):
        if explanation.special[position]:
            assert explanation.attributions[0, position] == 0.0  # markers and specials stay
            continue
        ids = inputs["input_ids"].clone()
        ids[0, position] = pad
        occluded = float(gliner_scores(model, {**inputs, "input_ids": ids})[first, 0, 1])
        assert explanation.attributions[0, position] == pytest.approx(full - occluded, abs=1e-6)
    label_word = explanation.tokens.index("location")
    assert explanation.segment(label_word) == "prompt"
    assert explanation.attributions[0, label_word] != 0.0  # the label's own word is explained


def test_integrated_gradients_auto_converges_on_every_entity(gliner):
    model, tokenizer = gliner
    explanation = Explainer(model, tokenizer, labels=LABELS, threshold=0.3)(TEXT)
    assert len(explanation.targets) > 0
    assert np.all(np.abs(explanation.deltas) <= 1e-3)
    np.testing.assert_allclose(
        explanation.attributions.sum(axis=1),
        explanation.target_values - explanation.baseline_values,
        atol=1e-3,
    )


def test_span_targets_from_characters(explainer):
    apple = "Apple sued Samsung in Paris."
    why_not = explainer.span_target(apple, 0, 5, "location", foil="person")
    assert why_not == SpanTarget(6, 7, "location", "person")
    assert (
        explainer(apple, targets=[why_not])[0].description == "apple → location rather than person"
    )
    both = explainer.span_target(apple, 11, 28, "person", labels=["person"])
    assert (both.start, both.end) == (6, 10)  # one label less: the text starts two tokens earlier
    with pytest.raises(InputError, match=r"characters 1\.\.5 \('pple'\) are not whole words"):
        explainer.span_target(apple, 1, 5, "location")


def test_gold_judges_spans_and_explains_the_errors(explainer):
    gold = [(11, 16, "location"), (37, 52, "person")]  # Paris, Emmanuel Macron
    explanation = explainer(TEXT, gold=gold, threshold=0.3)
    paris, macron = span_of(explanation, "Paris"), span_of(explanation, "Emmanuel Macron")
    truth = {(*paris, "location"), (*macron, "person")}
    found = {(e.token_start, e.token_end, e.entity_group) for e in explanation.entities}
    assert explanation.correct == tuple(
        (t.start, t.end, t.label) in truth for t in explanation.targets
    )
    errors = explainer(TEXT, targets="gold", gold=gold, threshold=0.3)
    expected = sorted((truth - found) | (found - truth))
    assert [(t.start, t.end, t.label) for t in errors.targets] == expected
    assert errors.correct == (False,) * len(expected)


def test_labels_per_call_change_the_prompt(gliner, explainer):
    reordered = explainer(TEXT, labels=["location", "person"])
    assert reordered.tokens[1:6] == ("<<ENT>>", "location", "<<ENT>>", "person", "<<SEP>>")
    assert reordered.labels == ("location", "person")
    assert explainer.labels == tuple(LABELS)  # the Explainer's own labels are unchanged


def test_words_and_prompt_labels_aggregate(explainer):
    explanation = explainer(TEXT, labels=["name of a person", "location"], threshold=0.3)
    words = explanation.aggregate("word")
    assert words.tokens[:6] == (
        "[CLS]",
        "<<ENT>>",
        "name of a person",
        "<<ENT>>",
        "location",
        "<<SEP>>",
    )
    assert "Macron" in words.tokens  # macro + ##n: one GLiNER word
    np.testing.assert_allclose(words.attributions.sum(axis=1), explanation.attributions.sum(axis=1))
    for target, entity in zip(words.targets, words.entities):
        start, end = words.offsets[target.start][0], words.offsets[target.end - 1][1]
        assert words.text[start:end] == entity.word  # each target now covers its entity's words


def test_round_trip_and_faithfulness_on_span_targets(explainer):
    explanation = explainer(TEXT, threshold=0.3)
    again = Explanation.from_json(explanation.to_json())
    assert again == explanation
    assert again.units == explanation.units and again.segments == explanation.segments
    assert again.label2id.unit(*again.units[3]) == 3
    scores = explainer.evaluate(explanation)
    assert list(scores["target_kind"]) == ["span"] * len(explanation.targets)
    np.testing.assert_allclose(scores["value"], explanation.target_values, atol=1e-6)


def test_long_texts_are_explained_in_windows_with_the_prompt_in_each(gliner):
    model, tokenizer = gliner
    sentence = "Angela Merkel met Olaf Scholz in Berlin on Monday."  # 10 words
    text = " ".join([sentence] * 5)  # 50 words: the model takes 24
    with pytest.raises(TextTooLongError, match="50 words long but the model accepts at most 24"):
        Explainer(model, tokenizer, "saliency", labels=LABELS)(text)
    explainer = Explainer(model, tokenizer, "occlusion", labels=LABELS, long_text="window")
    explanation = explainer(text, threshold=0.3)
    assert explanation.settings["windows"] > 2
    assert explanation.entities and len(explanation.targets) == len(explanation.entities)
    np.testing.assert_allclose(
        explanation.target_values, [e.score for e in explanation.entities], atol=1e-6
    )
    for row in explanation:  # the prompt is in every window: its label words are explained
        label_word = explanation.tokens.index(row.target.label)
        assert explanation.attributions[row.index, label_word] != 0.0
    # a text within the limit is one window, as GLiNER itself reads it
    short = explainer(sentence, threshold=0.3)
    assert short.settings["windows"] == 1
    assert [e.as_gliner()["text"] for e in short.entities] == [
        e["text"] for e in model.predict_entities(sentence, LABELS, threshold=0.3)
    ]


def test_each_entity_of_a_long_text_scores_as_gliner_on_its_window(gliner):
    model, tokenizer = gliner
    sentence = "Angela Merkel met Olaf Scholz in Berlin on Monday."
    text = " ".join([sentence] * 5)
    explainer = Explainer(model, tokenizer, "saliency", labels=LABELS, long_text="window")
    explanation = explainer(text, threshold=0.3)
    document, windows = explainer._windows(text, explainer.kind)
    homes = assign_homes(document, explanation.targets, windows, explainer.max_length, 24)
    for target, home, value in zip(explanation.targets, homes, explanation.target_values):
        text_tokens = [p for p in windows[home].document_positions if document.segment(p) == "text"]
        first, last = document.offsets[text_tokens[0]][0], document.offsets[text_tokens[-1]][1]
        inputs, prepared = gliner_batch(model, text[first:last], LABELS)
        start = prepared["start_token_map"][0].index(document.offsets[target.start][0] - first)
        end = prepared["end_token_map"][0].index(document.offsets[target.end - 1][1] - first)
        score = gliner_scores(model, inputs)[start, end - start, LABELS.index(target.label)]
        assert value == pytest.approx(float(score), abs=1e-6)


def test_bad_requests_get_clear_errors(gliner, explainer, tiny_model, tokenizer):
    model, gliner_tokenizer = gliner
    with pytest.raises(InputError, match="needs the entity types to look for"):
        Explainer(model, gliner_tokenizer)(TEXT)
    with pytest.raises(InputError, match="targets must be 'entities', 'gold' or a list of Target"):
        explainer(TEXT, targets="tokens")
    with pytest.raises(InputError, match="labels must be distinct"):
        explainer(TEXT, labels=["person", "person"])
    with pytest.raises(InputError, match="threshold must be in"):
        explainer(TEXT, threshold=1.5)
    with pytest.raises(InputError, match="unknown keyword"):
        explainer(TEXT, treshold=0.5)
    with pytest.raises(InputError, match="a span model \\(GLiNER\\) explains SpanTargets"):
        explainer(TEXT, targets=[nerlens.TokenTarget(8, "person")])
    with pytest.raises(InputError, match="not a span this model scores"):
        explainer(TEXT, targets=[SpanTarget(14, 15, "person")])  # "##n": half a word
    with pytest.raises(InputError, match="labels: not an option of BertForTokenClassification"):
        Explainer(tiny_model, tokenizer, labels=["person"])
    with pytest.raises(InputError, match="a token classifier explains TokenTarget"):
        Explainer(tiny_model, tokenizer)(TEXT, targets=[SpanTarget(1, 2, "B-PER")])


def test_unsupported_gliner_variants_are_named(gliner_dir):
    from gliner import GLiNERConfig
    from gliner.model import UniEncoderTokenGLiNER

    backbone = str(Path(gliner_dir).parent / "backbone")  # the tiny GLiNER's, saved beside it
    config = GLiNERConfig(model_name=backbone, span_mode="token_level", hidden_size=32, max_len=24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = UniEncoderTokenGLiNER.load_from_config(
            config, backbone_from_pretrained=True, local_files_only=True
        )
    with pytest.raises(InputError, match="UniEncoderTokenGLiNER is not supported"):
        Explainer(model, model.data_processor.transformer_tokenizer, labels=LABELS)
