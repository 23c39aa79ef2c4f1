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
