"""``nerlens report DIR --html report.html``: what a corpus job found (see ``nerlens batch``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nerlens.cli.app import app, console
from nerlens.errors import InputError


@app.command()
def report(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="The --out directory of `nerlens batch`.")
    ],
    html: Annotated[Path, typer.Option(help="Write the HTML report here.")] = Path("report.html"),
    top: Annotated[int, typer.Option(help="Tokens and words listed per label.")] = 10,
    examples: Annotated[int, typer.Option(help="False positives/negatives shown per list.")] = 20,
    min_count: Annotated[
        int, typer.Option(help="Rank only tokens and words seen at least this often.")
    ] = 2,
) -> None:
    """Write an HTML report: overview, context words per label, with gold P/R/F1 and errors."""
    from nerlens.corpus.queries import open_corpus
    from nerlens.corpus.report import write_report

    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        typer.echo(f"error: {str(directory)!r} {what}; give the --out folder of nerlens batch",
                   err=True)  # fmt: skip
        raise typer.Exit(2)
    try:
        corpus = open_corpus(directory)
        write_report(corpus, html, top=top, examples=examples, min_count=min_count)
    except InputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    console.print(f"report written to {html}")
