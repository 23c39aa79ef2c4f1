"""The ``nerlens`` Typer application; each command lives in its own module of this package.

Start-up stays light (no torch or transformers) so that ``--help`` and ``--version`` answer at
once; commands import the engine when they run.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
import typer.core
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Explain why a token-classification model labelled each token.",
)
console = Console()
_display_type = typer.core.TyperOption.display_type_rich


def _flags_take_no_value(option: typer.core.TyperOption, ctx: typer.Context) -> str | None:
    """Help shows a value's type (``<int>``) only for options that take a value, not flags."""
    return None if option.is_flag else _display_type(option, ctx)


def _usage_name(argument: typer.core.TyperArgument) -> str:
    """Usage lines as POSIX writes them: a required argument plain (``INPUT``, not
    ``{INPUT}``), an optional one in brackets."""
    name = argument.display_name_raw
    name = name if argument.required else f"[{name}]"
    return name + ("..." if argument.nargs != 1 else "")


typer.core.TyperOption.display_type_rich = _flags_take_no_value  # type: ignore[method-assign]
typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


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
