"""The corpus's optional dependencies (pyarrow, duckdb, ray): imported on use, or named with the
extra that installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from nerlens.errors import InputError


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"this needs the optional package {module.split('.')[0]!r}: "
            f"pip install 'nerlens[{extra}]'"
        ) from None
