"""Methods side by side: each one's time on a set of texts and its faithfulness scores, against
a random ranking (see :mod:`nerlens.faithfulness`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nerlens.errors import InputError
from nerlens.explainer import Explainer
from nerlens.faithfulness import RandomRanking
from nerlens.methods import AttributionMethod, resolve_method

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_METHODS: tuple[str, ...] = (
    "integrated_gradients",
    "gradient_x_input",
    "saliency",
    "occlusion",
    "shapley_sampling",
    "lime",
)


def compare_methods(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    methods: Sequence[str | AttributionMethod] = DEFAULT_METHODS,
    *,
    targets: str = "tokens",
    random_seed: int = 0,
    progress: bool | None = False,
    **explainer_options: Any,
) -> pd.DataFrame:
    """One row per method (and a ``random`` ranking floor): how long it took on ``texts`` and its
    mean comprehensiveness and sufficiency over every target of every text.

    ``methods`` are registered names or method objects; ``explainer_options`` go to each
    :class:`~nerlens.Explainer` (e.g. ``max_memory_mb``), and so does ``progress`` (default: no
    bar, as a table of many runs is the result). ``seconds`` times the explanations only, not the
    evaluation.
    """
    import pandas as pd

    if isinstance(texts, str):
        raise InputError("texts must be a list of strings, got one string; wrap it in a list")
    resolved = [resolve_method(m) for m in methods] + [RandomRanking(random_seed)]
    rows = []
    for method in resolved:
        explainer = Explainer(model, tokenizer, method, progress=progress, **explainer_options)
        start = time.perf_counter()
        explanations = explainer(list(texts), targets)
        seconds = time.perf_counter() - start
        frame = pd.concat([explainer.evaluate(e) for e in explanations], ignore_index=True)
        rows.append(
            {
                "method": method.name,
                "options": method.settings(),
                "seconds": seconds,
                "comprehensiveness": float(frame["comprehensiveness"].mean()),
                "sufficiency": float(frame["sufficiency"].mean()),
                "targets": len(frame),
            }
        )
    return pd.DataFrame(rows)
