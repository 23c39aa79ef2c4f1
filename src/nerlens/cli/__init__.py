"""Command line: ``nerlens explain``, ``nerlens methods``; one module per command."""

from __future__ import annotations

from nerlens.cli import explain, methods, serve  # noqa: F401  (each module registers its command)
from nerlens.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
