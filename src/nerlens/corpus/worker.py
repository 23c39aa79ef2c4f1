"""One corpus worker: a model loaded once, explaining and writing whole shards.

Both engines run :class:`ShardWorker`, the local one in the driver, Ray in each actor.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nerlens.corpus.readers import Source, Span
from nerlens.corpus.store import Store
from nerlens.corpus.work import JobSettings, ShardRows, explain_records
from nerlens.runner import intra_op_threads, release_free_memory


class ShardWorker:
    """Loads the model once; explains and writes whole shards.

    With ``progress`` (the local engine under a job's bar), a call of long documents adds a
    line of their targets to that bar, by the library's rule (:class:`~nerlens.Explainer`'s
    ``progress=None``); without it (Ray actors, in other processes), nothing is drawn.
    """

    def __init__(
        self,
        settings: JobSettings,
        out: str | Path,
        device: str | None = None,
        loaded: tuple[Any, Any] | None = None,
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        from nerlens.explainer import Explainer
        from nerlens.models import load_model

        self.settings = settings
        self.source = source_of(settings)
        self.store = Store(out)
        model, tokenizer = loaded or load_model(settings.model)
        self.explainer = Explainer(
            model,
            tokenizer,
            settings.method,
            long_text=settings.long_text,
            stride=settings.stride,
            context=settings.context,
            aggregation_strategy=settings.aggregation_strategy,
            device=device,
            threads=threads,
            progress=None if progress else False,
            method_options=settings.method_options,
            **settings.model_options,
        )

    def run(self, span: Span, advance: Callable[[int], None] = lambda n: None) -> dict[str, Any]:
        """Explain and write one shard; return its completion marker."""
        from nerlens.errors import ConvergenceWarning

        started = time.time()
        rows = ShardRows()
        records = list(self.source.read(span))  # one shard: at most shard_size records
        # one session for the shard: the model is readied once, not once per record
        threads = intra_op_threads(self.explainer.threads)
        with threads, self.explainer.runner.session(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # one per record would flood
            for explained in explain_records(self.explainer, records, self.settings):
                rows.add(explained)
        advance(len(records))
        device = str(next(self.explainer.model.parameters()).device)
        marker = self.store.write_shard(span.shard, rows, started, device, versions())
        release_free_memory()
        return marker


def source_of(settings: JobSettings) -> Source:
    return Source(settings.input, settings.format, settings.text_field, settings.id_field)


def versions() -> dict[str, str]:
    """The library versions that compute a shard (recorded in its marker and the manifest)."""
    import torch
    import transformers

    from nerlens import __version__

    return {
        "nerlens": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
