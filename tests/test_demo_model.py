"""Tests for the bundled offline demo NER model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import torch
from seqeval.metrics import f1_score
from transformers import BertForTokenClassification, PreTrainedTokenizerBase

from nerlens.models.demo import load_demo_model

LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
HELDOUT = Path(__file__).resolve().parents[1] / "training" / "data" / "heldout.jsonl"
DEMO = resources.files("nerlens") / "demo"


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[BertForTokenClassification, PreTrainedTokenizerBase]]:
    """The demo model, loaded with the Hugging Face hub switched off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield load_demo_model()


def test_plain_bert_with_conll_labels(demo) -> None:
    model, tokenizer = demo
    assert type(model) is BertForTokenClassification
    assert not model.training
    assert model.config.id2label == dict(enumerate(LABELS))
    assert model.config.label2id == {label: i for i, label in enumerate(LABELS)}
    assert model.config.name_or_path == "nerlens/demo"
    assert tokenizer.is_fast


def test_adapter_size() -> None:
    size = (DEMO / "adapter.safetensors").stat().st_size
    assert size < 10 * 1024 * 1024


def test_seed_sentence(demo) -> None:
    model, tokenizer = demo
    enc = tokenizer(
        "We visited Paris last weekend, where Emmanuel Macron lives.",
        return_tensors="pt",
        return_offsets_mapping=True,
    )
    enc.pop("offset_mapping")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1)[0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    tagged = [(tok, model.config.id2label[p]) for tok, p in zip(tokens, pred, strict=True)]
    expected = {"paris": "B-LOC", "emmanuel": "B-PER", "macro": "I-PER", "##n": "I-PER"}
    assert [t for t, _ in tagged[1:-1]] == (
        [
            "we",
            "visited",
            "paris",
            "last",
            "weekend",
            ",",
            "where",
            "emmanuel",
            "macro",
            "##n",
            "lives",
            ".",
        ]
    )
    assert tagged[1:-1] == [(tok, expected.get(tok, "O")) for tok, _ in tagged[1:-1]]


def test_heldout_f1_matches_metadata(demo) -> None:
    model, tokenizer = demo
    meta = json.loads((DEMO / "demo.json").read_text(encoding="utf-8"))
    assert meta["heldout"]["f1"] >= 0.80
    data = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines()]
    assert meta["heldout"]["sentences"] == len(data) >= 200
    gold, pred = [], []
    for start in range(0, len(data), 32):
        batch = data[start : start + 32]
        enc = tokenizer(
            [d["tokens"] for d in batch],
            is_split_into_words=True,
            padding=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        ids = logits.argmax(-1).tolist()
        for i, item in enumerate(batch):
            tags = ["O"] * len(item["tokens"])
            seen: set[int] = set()
            for pos, word_id in enumerate(enc.word_ids(i)):
                if word_id is not None and word_id not in seen:
                    seen.add(word_id)
                    tags[word_id] = model.config.id2label[ids[i][pos]]
            gold.append(item["tags"])
            pred.append(tags)
    assert f1_score(gold, pred) == pytest.approx(meta["heldout"]["f1"], abs=1e-6)
