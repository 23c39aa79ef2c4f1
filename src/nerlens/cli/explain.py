"""``nerlens explain TEXT``: why the model labelled each token."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from nerlens.cli.analysis import faithfulness_table, parse_gold, parse_method_options
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
        str, typer.Option(help="What to explain: 'tokens', 'entities' or 'gold' (needs --gold).")
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
    method_option: Annotated[
        list[str] | None,
        typer.Option(help="A method option KEY=VALUE, e.g. n_samples=50 (repeatable)."),
    ] = None,
    gold: Annotated[
        list[str] | None,
        typer.Option(help="A true entity START:END:TYPE, e.g. 11:16:LOC (repeatable)."),
    ] = None,
    gold_tags: Annotated[
        str | None,
        typer.Option(help="True IOB tags, one per whitespace-separated word: 'O O B-LOC ...'."),
    ] = None,
    aggregate: Annotated[
        str | None, typer.Option(help="Show words ('word') or entities ('entity') as units.")
    ] = None,
    evaluate: Annotated[
        bool, typer.Option(help="Also print faithfulness scores (comprehensiveness, sufficiency).")
    ] = False,
    top: Annotated[int, typer.Option(help="Tokens shown for and against each label.")] = 3,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML page here.")] = None,
    json: Annotated[
        Path | None, typer.Option(help="Also write the Explanation as JSON here.")
    ] = None,
) -> None:
    """Explain TEXT and print, per token, its label and the tokens that pushed it most."""
    from nerlens.explainer import Explainer
    from nerlens.models import load_model
    from nerlens.render import render_html, render_terminal

    options: dict[str, Any] = {}
    if "n_steps" in _options_of(method):
        options["n_steps"] = n_steps
    try:
        options.update(parse_method_options(method_option))
        gold_spans = parse_gold(gold, gold_tags, text)
        loaded_model, tokenizer = load_model(model)
        explainer = Explainer(
            loaded_model,
            tokenizer,
            method,
            long_text=long_text,
            progress=False,
            method_options=options,
        )
        explanation = explainer(
            text,
            targets,
            ignored_indexes=ignore_index or (),
            ignored_labels=ignore_label or (),
            include_special_tokens=include_special,
            gold=gold_spans,
        )
        scores = explainer.evaluate(explanation) if evaluate else None
        if aggregate is not None:
            explanation = explanation.aggregate(aggregate)  # type: ignore[arg-type]
    except (InputError, ModelLoadError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    console.print(render_terminal(explanation, top=top))
    if scores is not None:
        console.print(faithfulness_table(scores), highlight=False)
    if html is not None:
        render_html(explanation, full_page=True).save(html)
        console.print(f"HTML written to {html}")
    if json is not None:
        explanation.save(json)
        console.print(f"JSON written to {json}")


def _options_of(method: str) -> list[str]:
    try:
        cls = get_method_class(method)
    except InputError:
        return []
    return list(inspect.signature(cls.__init__).parameters)
