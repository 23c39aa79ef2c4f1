"""Command line: ``nerlens explain``, ``tag``, ``methods``, ``batch``, ``report``; one module each.

Importing this package loads typer and rich only; each command imports the engine when it runs.
"""

from __future__ import annotations

from nerlens.cli import batch, explain, methods, report, serve, tag  # noqa: F401  (each registers itself)
from nerlens.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
