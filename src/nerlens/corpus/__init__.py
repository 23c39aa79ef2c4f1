"""Corpus jobs: explain every document of a file into resumable Parquet, then query it.

``nerlens batch`` (or :func:`run`) writes the tables; :func:`open` reads them back as a
:class:`~nerlens.corpus.queries.Corpus` whose methods return DataFrames.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerlens.corpus.extras import require

if TYPE_CHECKING:
    from nerlens.corpus.job import JobResult
    from nerlens.corpus.queries import Corpus


def run(
    input: str | Path,
    out: str | Path,
    *,
    format: str | None = None,
    progress: bool = True,
    allow_version_change: bool = False,
    **options: Any,
) -> JobResult:
    """Explain every document of ``input`` into ``out`` (what ``nerlens batch`` does).

    ``options`` are :class:`~nerlens.corpus.work.JobSettings` fields (``model``, ``method``,
    ``method_options``, ``targets``, ``text_field``, ...), the model's own options as the
    Explainer takes them (a GLiNER model's ``labels=[...]``, ``threshold``, ``flat_ner``,
    ``multi_label``) and how the job runs (``engine``, ``ray_address``, ``actors``, ``device``,
    ``threads``: see :func:`~nerlens.corpus.job.run_job`, also for ``allow_version_change``).
    Each is checked before any model or file work (the model's own once the model is loaded). A
    finished job does nothing; an unfinished one is finished.
    """
    from dataclasses import fields

    from nerlens.corpus.job import run_job
    from nerlens.corpus.readers import detect_format
    from nerlens.corpus.work import JobSettings
    from nerlens.errors import InputError
    from nerlens.models.registry import MODEL_OPTIONS

    settings = {field.name for field in fields(JobSettings)} - {"input", "format", "model_options"}
    running = {"engine", "ray_address", "actors", "device", "threads"}
    unknown = sorted(set(options) - settings - running - set(MODEL_OPTIONS))
    if unknown:
        raise InputError(
            f"nerlens.corpus.run takes no option(s) {unknown}; its options are "
            f"{sorted(settings | running | set(MODEL_OPTIONS))}"
        )
    job = JobSettings(
        input=str(input),
        format=detect_format(Path(input), format),
        model_options={name: value for name, value in options.items() if name in MODEL_OPTIONS},
        **{name: value for name, value in options.items() if name in settings},
    )
    return run_job(
        job,
        out,
        progress=progress,
        allow_version_change=allow_version_change,
        **{name: value for name, value in options.items() if name in running},
    )


def open(directory: str | Path) -> Corpus:
    """The tables of a ``nerlens batch`` output directory, queried with DuckDB."""
    from nerlens.corpus.queries import open_corpus

    return open_corpus(directory)


__all__ = ["open", "require", "run"]
