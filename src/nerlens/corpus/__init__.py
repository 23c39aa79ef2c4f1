"""Corpus jobs: explain every document of a file into resumable Parquet, then query it.

``nerlens batch`` (:func:`nerlens.corpus.job.run_job`) writes the tables; :func:`open` reads
them back as a :class:`~nerlens.corpus.queries.Corpus` whose methods return DataFrames.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from nerlens.errors import InputError

if TYPE_CHECKING:
    from nerlens.corpus.queries import Corpus


def open(directory: str | Path) -> Corpus:
    """The tables of a ``nerlens batch`` output directory, queried with DuckDB."""
    from nerlens.corpus.queries import open_corpus

    return open_corpus(directory)


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"this needs the optional package {module.split('.')[0]!r}: "
            f"pip install 'nerlens[{extra}]'"
        ) from None


__all__ = ["open", "require"]
