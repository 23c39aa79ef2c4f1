"""The library's defaults that every entry point shares (library, CLI, server, web page); a
module of constants only, so the CLI can read them without importing torch."""

from __future__ import annotations

from typing import Literal

DEFAULT_METHOD = "integrated_gradients"
# The steps a method that integrates gets when the caller names none (the drop-in keeps 50).
DEFAULT_N_STEPS: Literal["auto"] = "auto"
