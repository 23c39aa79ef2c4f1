"""Command line: ``nerlens explain``, ``nerlens tag``, ``nerlens methods``; one module per command.

Importing this package loads typer and rich only; each command imports the engine when it runs.
"""

from __future__ import annotations

from nerlens.cli import explain, methods, serve, tag  # noqa: F401  (each module registers its command)
from nerlens.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
