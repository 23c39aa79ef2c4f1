"""Faithfulness scores against a straightforward per-input computation; compare_methods."""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import nerlens
import nerlens.explainer as explainer_module
from conftest import SEED_TEXT
from nerlens import ContrastTarget, EntityTarget, Explainer, InputError, TokenTarget
from nerlens.faithfulness import RandomRanking, ranking, top_counts
from nerlens.windows import home_window
from tiny_models import tiny_bert


def test_top_counts_are_exact_ceilings():
    assert top_counts(10) == [1, 2, 3, 4, 5]  # float 0.3 * 10 would give ceil 4
    assert top_counts(12) == [2, 3, 4, 5, 6]
    assert top_counts(1) == [1, 1, 1, 1, 1]


def test_ranking_breaks_ties_towards_the_lower_position():
    scores = np.array([9.0, 1.0, 3.0, 3.0, -2.0, 3.0])
    assert ranking(scores, np.array([1, 2, 3, 4, 5])).tolist() == [2, 3, 5, 1, 4]


def plain_scores(model, tokenizer, explainer, explanation, t, window=None):
    """comprehensiveness@q and sufficiency@q of target t, one model call per perturbed input;
    in ``window`` (its encoding and document positions) when the text was explained in windows.
    """
    if window is None:
        ids = torch.tensor([tokenizer(explanation.text)["input_ids"]])
        positions = list(range(ids.shape[1]))
        special = np.array(explanation.special)
    else:
        ids = torch.tensor([window.encoding.input_ids])
        positions = list(window.document_positions)
        special = np.array(window.encoding.special)
    scores = explanation.attributions[t, positions]
    pool = [p for p in range(ids.shape[1]) if not special[p]]
    order = sorted(pool, key=lambda p: (-scores[p], p))
    local = {p: i for i, p in enumerate(positions)}
    terms = [(local[p], lab, c) for p, lab, c in explanation.targets[t].terms(explainer.label2id)]

    def f(input_ids):
        with torch.no_grad():
            probabilities = torch.softmax(model(input_ids=input_ids).logits, -1)[0]
        return sum(c * float(probabilities[p, lab]) for p, lab, c in terms)

    full = f(ids)
    comprehensiveness, sufficiency = [], []
    for q in (0.1, 0.2, 0.3, 0.4, 0.5):
        k = math.ceil(round(q * len(pool), 9))
        removed, kept = ids.clone(), ids.clone()
        removed[0, order[:k]] = explainer.baseline_token_id
        kept[0, order[k:]] = explainer.baseline_token_id
        comprehensiveness.append(full - f(removed))
        sufficiency.append(full - f(kept))
    return full, comprehensiveness, sufficiency


def test_evaluate_equals_a_plain_computation(tiny_model, tokenizer):
    explainer = Explainer(tiny_model, tokenizer, "occlusion", internal_batch_size=7)
    targets = [
        TokenTarget(3, "B-LOC"),
        EntityTarget(8, 11, "PER", ("B-PER", "I-PER", "I-PER")),
        ContrastTarget(3, "B-LOC", "O"),
        TokenTarget(1, "O"),
    ]
    explanation = explainer(SEED_TEXT, targets)
    frame = explainer.evaluate(explanation)
    assert frame["target_index"].tolist() == [0, 1, 2, 3]
    assert frame["target"].tolist() == [t.describe(explanation.tokens) for t in targets]
    for t in range(len(targets)):
        full, comprehensiveness, sufficiency = plain_scores(
            tiny_model, tokenizer, explainer, explanation, t
        )
        row = frame.iloc[t]
        assert row["value"] == pytest.approx(full, abs=1e-6)
        for q, c, s in zip(("0.1", "0.2", "0.3", "0.4", "0.5"), comprehensiveness, sufficiency):
            assert row[f"comprehensiveness@{q}"] == pytest.approx(c, abs=1e-6)
            assert row[f"sufficiency@{q}"] == pytest.approx(s, abs=1e-6)
        assert row["comprehensiveness"] == pytest.approx(np.mean(comprehensiveness), abs=1e-6)
        assert row["sufficiency"] == pytest.approx(np.mean(sufficiency), abs=1e-6)


def test_evaluate_scores_each_target_in_the_window_that_explained_it(tokenizer):
    model = tiny_bert(tokenizer, seed=3, max_position_embeddings=40)
    explainer = Explainer(model, tokenizer, "occlusion", long_text="window", stride=8)
    text = " ".join([SEED_TEXT] * 6)
    explanation = explainer(text)
    _, windows = explainer._windows(text, explainer.kind)
    assert len(windows) > 2
    frame = explainer.evaluate(explanation)
    assert frame["target_index"].tolist() == list(range(len(explanation.targets)))
    # the value each target was explained with, in its own window
    np.testing.assert_allclose(frame["value"], explanation.target_values, atol=1e-6)
    for t in (0, len(explanation.targets) // 2, len(explanation.targets) - 1):
        home = windows[home_window(explanation.targets[t].positions, windows)]
        full, comprehensiveness, sufficiency = plain_scores(
            model, tokenizer, explainer, explanation, t, home
        )
        row = frame.iloc[t]
        assert row["value"] == pytest.approx(full, abs=1e-6)
        assert row["candidates"] == sum(not s for s in home.encoding.special)
        for q, c, s in zip(("0.1", "0.2", "0.3", "0.4", "0.5"), comprehensiveness, sufficiency):
            assert row[f"comprehensiveness@{q}"] == pytest.approx(c, abs=1e-6)
            assert row[f"sufficiency@{q}"] == pytest.approx(s, abs=1e-6)


def test_evaluate_refuses_what_it_cannot_score(tiny_model, tokenizer):
    explainer = Explainer(tiny_model, tokenizer, "occlusion")
    explanation = explainer(SEED_TEXT)
    with pytest.raises(InputError, match="aggregated"):
        explainer.evaluate(explanation.aggregate("word"))
    other = explainer("Paris in spring.")
    with pytest.raises(InputError, match="tokens differ"):
        explainer.evaluate(
            nerlens.Explanation.from_dict({**other.to_dict(), "text": "Rome in spring."})
        )


def test_compare_methods_has_one_row_per_method_and_a_random_floor(demo):
    model, tokenizer = demo
    texts = ["We visited Paris last weekend.", "Angela Merkel met Joe Biden in Berlin."]
    frame = nerlens.compare_methods(model, tokenizer, texts, methods=["occlusion", "saliency"])
    assert frame["method"].tolist() == ["occlusion", "saliency", "random"]
    assert list(frame.columns) == [
        "method",
        "options",
        "seconds",
        "comprehensiveness",
        "sufficiency",
        "targets",
    ]
    assert (frame["targets"] == 16).all() and (frame["seconds"] > 0).all()
    occlusion, _, random = frame.itertuples(index=False)
    assert occlusion.comprehensiveness > random.comprehensiveness
    assert occlusion.sufficiency < random.sufficiency
    with pytest.raises(InputError, match="list of strings"):
        nerlens.compare_methods(model, tokenizer, "Paris.", methods=["occlusion"])


def test_compare_methods_honours_the_progress_option(demo, monkeypatch):
    """``progress`` goes to each method's explainer (default: no bar); a bad value is refused."""
    model, tokenizer = demo
    totals = []

    @contextmanager
    def recorded(show, total, unit, *, transient=False):
        totals.append(total if show else None)
        yield lambda done: None

    monkeypatch.setattr(explainer_module, "progress", recorded)
    texts = ["We visited Paris last weekend."]
    nerlens.compare_methods(model, tokenizer, texts, ["occlusion"], progress=True)
    assert totals == [6, 6]  # a bar of 6 targets for occlusion, another for the random floor
    totals.clear()
    nerlens.compare_methods(model, tokenizer, texts, ["occlusion"], progress=False)
    nerlens.compare_methods(model, tokenizer, texts, ["occlusion"])
    assert totals == [None] * 4
    with pytest.raises(InputError, match="progress must be True or False or None, got 'yes'"):
        nerlens.compare_methods(model, tokenizer, texts, ["occlusion"], progress="yes")


def test_random_floor_is_the_same_on_any_number_of_workers(tokenizer, tiny_model):
    """Each target of each window draws its own random stream: a text's floor does not depend
    on what else is attributed, before it or beside it on other workers."""
    long = " ".join(f"Sentence {i} mentions Paris and Emmanuel Macron." for i in range(6))
    texts = [SEED_TEXT, long, "Angela Merkel visited Paris."]
    options = dict(long_text="window", context=32)

    def floors(threads):
        explainer = Explainer(tiny_model, tokenizer, RandomRanking(7), threads=threads, **options)
        return explainer(texts)

    one_thread, two_threads = floors(1), floors(2)
    assert one_thread[1].settings["windows"] > 1
    for text, together, beside in zip(texts, one_thread, two_threads):
        alone = Explainer(tiny_model, tokenizer, RandomRanking(7), **options)(text)
        assert np.abs(alone.attributions).max() > 0  # real draws
        np.testing.assert_array_equal(together.attributions, alone.attributions, err_msg=text)
        np.testing.assert_array_equal(beside.attributions, alone.attributions, err_msg=text)
    frames = [
        nerlens.compare_methods(
            tiny_model, tokenizer, texts, [], random_seed=7, threads=threads, **options
        )
        for threads in (1, 2)
    ]
    for column in ("comprehensiveness", "sufficiency"):  # through model passes: to rounding
        assert frames[0][column][0] == pytest.approx(frames[1][column][0], rel=1e-9)
    with pytest.raises(InputError, match="seed must be an int >= 0, got -1"):
        RandomRanking(-1)
