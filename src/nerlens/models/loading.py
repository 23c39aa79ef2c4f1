"""Model loading: a bundled demo model, a local directory, or a Hugging Face hub id.

The name is resolved here once for every kind; the first kind (in :data:`nerlens.models.KINDS`
order) that handles the directory or hub id loads it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from nerlens.errors import HubUnreachableError, ModelLoadError
from nerlens.models.base import ModelSource

DEMO = "demo"
HUB_CHECK_TIMEOUT_S = 3.0  # one quick request instead of the hub client's minute of retries


def load_model(name_or_path: str = DEMO, *, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` in eval mode for ``"demo"``, a local directory or a hub id.

    A hub id is fetched only if the hub answers within a few seconds; otherwise (or with
    ``HF_HUB_OFFLINE=1``) only the local cache is used, so an offline machine fails at once.
    ``trust_remote_code`` lets transformers run code shipped with the model: only for models
    you trust.
    """
    from nerlens.models.registry import KINDS

    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise ModelLoadError(
            f"model must be 'demo', a local directory or a hub id, got {name_or_path!r}"
        )
    name = str(name_or_path)
    for kind in KINDS:
        if kind.demo_name == name:
            return kind.load_demo()
    path = Path(name).expanduser()
    looks_local = path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1
    if looks_local and not path.is_dir():
        raise ModelLoadError(
            f"no model directory at {name!r}; pass 'demo', an existing directory written by "
            "save_pretrained(), or a hub id such as 'dslim/bert-base-NER'"
        )
    from huggingface_hub import constants

    source = ModelSource(
        name=name,
        directory=path if looks_local else None,
        cache_only=not looks_local and not hub_reachable(),
    )
    kind = next(kind for kind in KINDS if kind.handles(source))
    try:
        return kind.load(source, trust_remote_code)
    except (OSError, ValueError) as error:
        if source.cache_only:
            raise HubUnreachableError(name, constants.ENDPOINT) from error
        where = "directory" if looks_local else "Hugging Face hub id"
        raise ModelLoadError(
            f"could not load the {where} {name!r}: {str(error).splitlines()[0]}. If the hub is "
            "unreachable (offline), use model 'demo' (bundled) or a local directory saved "
            "with save_pretrained()"
        ) from error


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
