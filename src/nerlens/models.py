"""Model loading: the bundled demo model, a local directory, or a Hugging Face hub id."""

from __future__ import annotations

from pathlib import Path

from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from nerlens.errors import ModelLoadError

DEMO = "demo"


def load_model(
    name_or_path: str = DEMO, *, trust_remote_code: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Return ``(model, tokenizer)`` in eval mode for ``"demo"``, a local directory or a hub id.

    ``trust_remote_code`` lets transformers run code shipped with the model: only for models
    you trust.
    """
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise ModelLoadError(
            f"model must be 'demo', a local directory or a hub id, got {name_or_path!r}"
        )
    name = str(name_or_path)
    if name == DEMO:
        from nerlens.demo_model import load_demo_model

        return load_demo_model()
    path = Path(name).expanduser()
    looks_local = path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1
    if looks_local and not path.is_dir():
        raise ModelLoadError(
            f"no model directory at {name!r}; pass 'demo', an existing directory written by "
            "save_pretrained(), or a hub id such as 'dslim/bert-base-NER'"
        )
    try:
        source = str(path) if looks_local else name
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        model = AutoModelForTokenClassification.from_pretrained(
            source, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as error:
        where = "directory" if looks_local else "Hugging Face hub id"
        raise ModelLoadError(
            f"could not load the {where} {name!r}: {str(error).splitlines()[0]}. If the hub is "
            "unreachable (offline), use model 'demo' (bundled) or a local directory saved "
            "with save_pretrained()"
        ) from error
    return model.eval(), tokenizer
