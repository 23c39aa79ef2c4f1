"""The ``nerlens`` Typer application; each command lives in its own module of this package.

Start-up stays light (no torch or transformers) so that ``--help`` and ``--version`` answer at
once; commands import the engine when they run.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Explain why a token-classification model labelled each token.",
)
console = Console()


def versions() -> dict[str, str]:
    """Installed versions of nerlens and the libraries whose numbers it depends on."""
    from nerlens import __version__

    found = {"nerlens": __version__}
    for package in ("torch", "transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _print_version(requested: bool) -> None:
    if requested:
        for package, number in versions().items():
            typer.echo(f"{package} {number}")
        raise typer.Exit()


@app.callback()
def main_options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the nerlens, torch and transformers versions and exit.",
        ),
    ] = False,
) -> None:
    """Explain why a token-classification model labelled each token."""
