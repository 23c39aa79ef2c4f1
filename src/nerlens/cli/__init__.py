"""Command line: ``nerlens explain``, ``nerlens methods``; one module per command."""

from __future__ import annotations

from nerlens.cli import batch, explain, methods, report  # noqa: F401  (each registers its command)
from nerlens.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
