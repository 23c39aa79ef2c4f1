"""Command line: ``nerlens explain``, ``tag``, ``methods``, ``batch``, ``report``; one module each.

Importing this package loads typer and rich only; each command imports the engine when it runs.
"""

from __future__ import annotations

import sys

import typer

from nerlens.cli import batch, explain, methods, report, serve, tag  # noqa: F401  (each registers itself)
from nerlens.cli.app import app


def main() -> None:
    """Console-script entry point. A usage error (a bad option value, a missing argument) is
    one line on stderr, ``error: ...``, naming the command's help, and exit status 2."""
    if not sys.argv[1:]:  # `nerlens` alone: the help
        app(["--help"])
    try:
        status = app(standalone_mode=False)
    except typer.TyperException as error:  # click's usage and parameter errors
        context = getattr(error, "ctx", None)
        where = f" (see '{context.command_path} --help')" if context is not None else ""
        typer.echo(f"error: {error.format_message()}{where}", err=True)
        sys.exit(getattr(error, "exit_code", 1))
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


__all__ = ["app", "main"]
