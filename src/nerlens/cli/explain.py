"""``nerlens explain TEXT``: why the model labelled each token."""

from __future__ import annotations

import inspect
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from nerlens.cli.app import app, console
from nerlens.errors import InputError, ModelLoadError
from nerlens.methods import available_methods, get_method_class


def _steps(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        steps = int(value)
    except ValueError:
        raise typer.BadParameter(f"must be a positive integer or 'auto', got {value!r}") from None
    if steps < 1:
        raise typer.BadParameter(f"must be a positive integer or 'auto', got {value!r}")
    return steps


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="'demo', a local model directory, or a hub id.")
    ] = "demo",
    ignore_label: Annotated[
        list[str] | None,
        typer.Option("--ignore-label", help="Do not explain tokens predicted with this label."),
    ] = None,
    ignore_index: Annotated[
        list[int] | None,
        typer.Option("--ignore-index", help="Do not explain the token at this position."),
    ] = None,
    targets: Annotated[
        str, typer.Option(help="What to explain: 'tokens' or 'entities'.")
    ] = "tokens",
    method: Annotated[
        str, typer.Option(help=f"Attribution method: {', '.join(available_methods())}.")
    ] = "integrated_gradients",
    n_steps: Annotated[
        str,
        typer.Option(
            "--n-steps",
            help="Integration steps, or 'auto' (adaptive, every target's delta within 1e-3).",
            parser=_steps,
        ),
    ] = "auto",
    include_special: Annotated[
        bool, typer.Option(help="Also explain special tokens such as [CLS] and [SEP].")
    ] = False,
    long_text: Annotated[
        str, typer.Option(help="'error' or 'window' (sliding windows) for long texts.")
    ] = "error",
    top: Annotated[int, typer.Option(help="Tokens shown for and against each label.")] = 3,
    html: Annotated[
        Path | None, typer.Option(help="Also write the interactive HTML page here.")
    ] = None,
    json: Annotated[
        Path | None, typer.Option(help="Also write the Explanation as JSON here.")
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="'text' (the view; plain text when piped) or 'json' (the Explanation, to stdout).",
        ),
    ] = "text",
    plot: Annotated[
        Path | None,
        typer.Option(help="Also save a heatmap of targets × tokens here (.png or .svg)."),
    ] = None,
) -> None:
    """Explain TEXT and print, per token, its label and the tokens that pushed it most."""
    from nerlens.explainer import Explainer
    from nerlens.models import load_model
    from nerlens.render.terminal import print_terminal

    if output_format not in ("text", "json"):
        typer.echo(f"error: --format must be 'text' or 'json', got {output_format!r}", err=True)
        raise typer.Exit(2)
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        typer.echo(f"error: --plot must name a .png or .svg file, got {str(plot)!r}", err=True)
        raise typer.Exit(2)
    if plot is not None and find_spec("matplotlib") is None:
        typer.echo("error: --plot needs matplotlib: pip install 'nerlens[plot]'", err=True)
        raise typer.Exit(2)

    options: dict[str, Any] = {}
    if "n_steps" in _options_of(method):
        options["n_steps"] = n_steps
    try:
        loaded_model, tokenizer = load_model(model)
        explainer = Explainer(
            loaded_model, tokenizer, method, long_text=long_text, progress=False, **options
        )
        explanation = explainer(
            text,
            targets,
            ignored_indexes=ignore_index or (),
            ignored_labels=ignore_label or (),
            include_special_tokens=include_special,
        )
    except (InputError, ModelLoadError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    notes = console
    if output_format == "json":
        typer.echo(explanation.to_json())
        notes = Console(stderr=True)
    else:
        print_terminal(explanation, console, top=top)
    if html is not None:
        explanation.save_html(html)
        notes.print(f"HTML written to {html}")
    if json is not None:
        explanation.save(json)
        notes.print(f"JSON written to {json}")
    if plot is not None:
        explanation.plot("heatmap", plot)
        notes.print(f"Plot written to {plot}")


def _options_of(method: str) -> list[str]:
    try:
        cls = get_method_class(method)
    except InputError:
        return []
    return list(inspect.signature(cls.__init__).parameters)
