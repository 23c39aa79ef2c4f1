"""The ``nerlens`` Typer application; each command lives in its own module of this package."""

from __future__ import annotations

import warnings

import typer
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Explain why a token-classification model labelled each token.",
)
console = Console()


@app.callback()
def quiet_loading() -> None:
    """Keep the terminal for the explanation: no weight-loading bars or load reports."""
    from transformers.utils import logging as transformers_logging

    warnings.simplefilter("ignore", FutureWarning)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
