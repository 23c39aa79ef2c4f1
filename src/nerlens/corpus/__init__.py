"""Corpus jobs: explain every document of a file into resumable Parquet, then query it.

``nerlens batch`` (:func:`nerlens.corpus.job.run_job`) writes the tables; :func:`open` reads
them back as a :class:`~nerlens.corpus.queries.Corpus` whose methods return DataFrames.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nerlens.corpus.queries import Corpus


def open(directory: str | Path) -> Corpus:
    """The tables of a ``nerlens batch`` output directory, queried with DuckDB."""
    from nerlens.corpus.queries import open_corpus

    return open_corpus(directory)


__all__ = ["open"]
