"""Gold spans: validation, IOB/BIOES tags to character spans, CoNLL files."""

from __future__ import annotations

import pytest

from nerlens.errors import InputError
from nerlens.gold import GoldSpan, check_gold, read_conll, spans_from_tags

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_tags_become_exact_character_spans():
    words = ["Angela", "Merkel", "visited", "New", "York", "."]
    text, spans = spans_from_tags(words, ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"])
    assert text == "Angela Merkel visited New York ."
    assert spans == (GoldSpan(0, 13, "PER"), GoldSpan(22, 30, "LOC"))
    assert [text[s.start : s.end] for s in spans] == ["Angela Merkel", "New York"]


def test_bioes_and_adjacent_entities():
    text, spans = spans_from_tags(["A", "B", "C"], ["S-PER", "B-LOC", "E-LOC"])
    assert [(text[s.start : s.end], s.label) for s in spans] == [("A", "PER"), ("B C", "LOC")]
    text, spans = spans_from_tags(["A", "B"], ["B-PER", "B-PER"])
    assert [text[s.start : s.end] for s in spans] == ["A", "B"]


def test_read_conll_sentences_and_lines():
    documents = list(read_conll(CONLL.splitlines(keepends=True)))
    assert [d.text for d in documents] == ["EU rejects German call .", "Peter Blackburn"]
    assert [d.line for d in documents] == [3, 9]
    assert documents[0].spans == (GoldSpan(0, 2, "ORG"), GoldSpan(11, 17, "MISC"))
    assert documents[1].spans == (GoldSpan(0, 15, "PER"),)


def test_read_conll_from_path(tmp_path):
    path = tmp_path / "gold.conll"
    path.write_text(CONLL, encoding="utf-8")
    assert [d.words for d in read_conll(path)][1] == ("Peter", "Blackburn")


def test_bad_conll_line_names_its_number():
    with pytest.raises(InputError, match="line 2: 'lonely' has no tag column"):
        list(read_conll(["EU B-ORG\n", "lonely\n"]))


def test_check_gold_accepts_tuples_dicts_and_spans():
    text = "We visited Paris."
    gold = [{"start": 11, "end": 16, "label": "LOC"}, (0, 2, "PER")]
    assert check_gold(gold, text) == (GoldSpan(0, 2, "PER"), GoldSpan(11, 16, "LOC"))


@pytest.mark.parametrize(
    ("gold", "message"),
    [
        ([(11, 99, "LOC")], "not a non-empty span"),
        ([(5, 5, "LOC")], "not a non-empty span"),
        ([(0, 5, "LOC"), (3, 8, "PER")], "overlap"),
        ([(0, 5)], "must be \\(start, end, label\\)"),
        ([("0", 5, "LOC")], "int offsets"),
        ([(0, 5, "")], "int offsets"),
    ],
)
def test_check_gold_rejects_bad_spans(gold, message):
    with pytest.raises(InputError, match=message):
        check_gold(gold, "We visited Paris.")


# ---------------------------------------------------------------------- gold against predictions
ELBE = "Heavy rain caused the Elbe to flood parts of Magdeburg overnight ."
ELBE_GOLD = [(22, 26, "LOC"), (45, 54, "LOC")]


def test_gold_marks_each_target_right_or_wrong_and_explains_the_truth(demo):
    """The demo model splits "Elbe" into el[LOC] ##be[MISC]: wrong; Magdeburg is right."""
    from nerlens import ContrastTarget, EntityTarget, Explainer, Explanation

    model, tokenizer = demo
    explainer = Explainer(model, tokenizer, "occlusion")
    tokens = explainer(ELBE, gold=ELBE_GOLD)
    wrong = [row.description for row in tokens if not row.correct]
    assert wrong == ["##be → I-MISC"]
    entities = explainer(ELBE, "entities", gold=ELBE_GOLD)
    assert [(row.description, row.correct) for row in entities] == [
        ("el → LOC", False),
        ("##be → MISC", False),
        ("mag ##de ##burg → LOC", True),
    ]
    why_not = explainer(ELBE, "gold", gold=[GoldSpan(22, 26, "LOC"), (45, 54, "LOC")])
    assert why_not.targets == (
        EntityTarget(5, 7, "LOC", ("B-LOC", "I-LOC")),
        ContrastTarget(6, "I-MISC", "I-LOC"),
    )
    assert why_not.correct == (False, False)
    assert why_not.gold == (GoldSpan(22, 26, "LOC"), GoldSpan(45, 54, "LOC"))
    restored = Explanation.from_json(why_not.to_json())
    assert restored == why_not and restored.correct == (False, False)
    assert why_not.aggregate("word").correct == (False, False)
    assert why_not.to_pandas()["correct"].eq(False).all()
    # a CoNLL sentence gives the same spans
    (document,) = read_conll(
        [
            "Heavy O",
            "rain O",
            "caused O",
            "the O",
            "Elbe B-LOC",
            "to O",
            "flood O",
            "parts O",
            "of O",
            "Magdeburg B-LOC",
            "overnight O",
            ". O",
        ]
    )
    assert document.text == ELBE and document.spans == why_not.gold


def test_gold_errors_are_clear(demo):
    from nerlens import Explainer

    model, tokenizer = demo
    explainer = Explainer(model, tokenizer, "occlusion")
    with pytest.raises(InputError, match="targets='gold' needs the gold"):
        explainer(ELBE, "gold")
    with pytest.raises(InputError, match="gold type 'CITY' is not a type"):
        explainer(ELBE, gold=[(22, 26, "CITY")])
    with pytest.raises(InputError, match="not a non-empty span"):
        explainer(ELBE, gold=[(22, 99, "LOC")])
    with pytest.raises(InputError, match="list of 2 span lists"):
        explainer([ELBE, ELBE], gold=[ELBE_GOLD])
