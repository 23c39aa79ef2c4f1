"""Model loading: the bundled demo model, a local directory, or a Hugging Face hub id."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from nerlens.errors import HubUnreachableError, ModelLoadError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEMO = "demo"
HUB_CHECK_TIMEOUT_S = 3.0  # one quick request instead of the hub client's minute of retries


def load_model(
    name_or_path: str = DEMO, *, trust_remote_code: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Return ``(model, tokenizer)`` in eval mode for ``"demo"``, a local directory or a hub id.

    A hub id is fetched only if the hub answers within a few seconds; otherwise (or with
    ``HF_HUB_OFFLINE=1``) only the local cache is used, so an offline machine fails at once.
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
    from huggingface_hub import constants
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    source = str(path) if looks_local else name
    cache_only = not looks_local and not hub_reachable()
    try:
        options = {"local_files_only": cache_only, "trust_remote_code": trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModelForTokenClassification.from_pretrained(source, **options)
    except (OSError, ValueError) as error:
        if cache_only:
            raise HubUnreachableError(name, constants.ENDPOINT) from error
        where = "directory" if looks_local else "Hugging Face hub id"
        raise ModelLoadError(
            f"could not load the {where} {name!r}: {str(error).splitlines()[0]}. If the hub is "
            "unreachable (offline), use model 'demo' (bundled) or a local directory saved "
            "with save_pretrained()"
        ) from error
    return model.eval(), tokenizer


def hub_reachable(timeout: float = HUB_CHECK_TIMEOUT_S) -> bool:
    """Whether the Hugging Face hub endpoint answers at all (False in offline mode)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    request = urllib.request.Request(constants.ENDPOINT, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if not with 200
    except (OSError, ValueError):  # URLError, refused, timed out, malformed endpoint
        return False
