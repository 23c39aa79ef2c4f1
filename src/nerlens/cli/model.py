"""What the model-running commands share: loading the model quietly, building the Explainer with
the options given (a zero-shot model's --labels among them, checked against the model's kind),
and the model's predictions alone; every error is one line (exit status 2)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from nerlens.cli.common import MODEL_FLAGS, ModelSettings, fail, fail_with, require

if TYPE_CHECKING:
    from nerlens.explainer import Explainer
    from nerlens.explanation import Explanation


def quiet_transformers() -> None:
    """Keep the terminal for results: no weight-loading bars, load reports or FutureWarnings."""
    from transformers.utils import logging as transformers_logging

    warnings.simplefilter("ignore", FutureWarning)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def load(model: str, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` loaded quietly; a load error is one line that names the way out."""
    quiet_transformers()
    from nerlens.errors import HubUnreachableError, ModelLoadError
    from nerlens.models import load_model

    try:
        return load_model(model, trust_remote_code=trust_remote_code)
    except HubUnreachableError as error:
        fail(
            f"cannot reach the Hugging Face hub ({error.endpoint}) and {error.name!r} is not "
            "cached; use --model demo, a local model directory, or HF_HUB_OFFLINE=1 with a "
            "cached model"
        )
    except ModelLoadError as error:
        fail(str(error))


def make_explainer(
    settings: ModelSettings,
    method: str = "integrated_gradients",
    progress: bool | None = None,
    **method_options: Any,
) -> Explainer:
    """Load the model and build an Explainer; load and option errors become one-line errors.

    ``progress=None`` shows a progress bar for long inputs only (the library's rule).
    """
    if settings.device == "cuda":
        import torch

        require(
            torch.cuda.is_available(),
            "--device cuda: torch sees no CUDA device; use --device cpu or --device auto",
        )
    from nerlens.errors import InputError, ModelLoadError
    from nerlens.explainer import Explainer

    loaded, tokenizer = load(settings.model)
    check_model_options(settings, loaded, tokenizer)
    try:
        explainer = Explainer(
            loaded,
            tokenizer,
            method,
            long_text=settings.long_text,  # type: ignore[arg-type]  (checked by settings.check)
            stride=settings.stride,
            context=settings.context,
            device=settings.device,  # type: ignore[arg-type]
            aggregation_strategy=settings.aggregation_strategy,  # type: ignore[arg-type]
            progress=progress,
            threads=settings.threads,
            **settings.model_options(),
            **method_options,
        )
    except InputError as error:
        fail_with(error)
    except ModelLoadError as error:
        fail(str(error))
    text_tokens = explainer.max_length - tokenizer.num_special_tokens_to_add()
    require(
        settings.stride is None or settings.stride < text_tokens,
        f"--stride must be smaller than {text_tokens} (the text tokens of one window of this "
        f"model), got {settings.stride}",
    )
    return explainer


def check_model_options(settings: ModelSettings, model: Any, tokenizer: Any) -> None:
    """The model options given are ones the model takes (its kind's ``options``), and a model
    that needs labels to look for (a zero-shot model without its own) gets --labels."""
    from nerlens.errors import InputError
    from nerlens.models import kind_of

    try:
        kind = kind_of(model, tokenizer)
    except InputError as error:
        fail_with(error)
    given = settings.model_options()
    for name in given:
        flag = MODEL_FLAGS[name]
        if not kind.options:
            fail(
                f"{flag} is for zero-shot models such as GLiNER; --model {settings.model} is a "
                f"{type(model).__name__} with fixed labels ({_listed(kind.labels)}): leave "
                f"{flag} out"
            )
        takes = ", ".join(MODEL_FLAGS.get(o, o) for o in kind.options)
        require(
            name in kind.options,
            f"{flag} does not apply to --model {settings.model}; it takes {takes}",
        )
    require(
        "labels" not in kind.options or bool(kind.labels) or "labels" in given,
        f"--model {settings.model} is a zero-shot model: give the entity types to look for "
        "with --labels, e.g. --labels person,location,organization",
    )


def _listed(labels: tuple[str, ...], most: int = 9) -> str:
    """``labels`` joined, the first ``most`` only."""
    return ", ".join(labels[:most]) + (", ..." if len(labels) > most else "")


def predict(explainer: Explainer, text: str) -> Explanation:
    """The model's predictions for ``text`` (an Explanation with no targets): forward only."""
    from nerlens.errors import InputError

    try:
        return explainer(text, [])
    except InputError as error:
        fail_with(error)
