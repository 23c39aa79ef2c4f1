"""``nerlens tag TEXT``: the model's predicted entities only, with no attribution work."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from nerlens.cli.app import app, console
from nerlens.cli.common import (
    DeviceOption,
    FileOption,
    LongTextOption,
    ModelOption,
    StrideOption,
    TextArgument,
    ThreadsOption,
    check_choice,
    check_model_options,
    entities_with_spans,
    make_explainer,
    predict,
    read_text,
)

if TYPE_CHECKING:
    from nerlens.explanation import Explanation

FORMATS = ("table", "json")


@app.command()
def tag(
    text: TextArgument = None,
    file: FileOption = None,
    model: ModelOption = "demo",
    output_format: Annotated[
        str, typer.Option("--format", help="'table', or 'json' (a list of entities).")
    ] = "table",
    long_text: LongTextOption = "error",
    stride: StrideOption = None,
    device: DeviceOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Print the entities the model predicts in TEXT, with spans and probabilities.

    One forward pass per model window; nothing is attributed. TEXT can be '-' to read standard
    input; --file reads a file instead.
    """
    source = read_text(text, file)
    check_choice(output_format, "--format", FORMATS)
    check_model_options(long_text, stride, device, threads)
    explainer = make_explainer(
        model, long_text=long_text, stride=stride, device=device, threads=threads, progress=False
    )
    entities = predicted_entities(predict(explainer, source))
    if output_format == "json":
        typer.echo(json.dumps(entities, ensure_ascii=False, indent=2))
    else:
        console.print(entities_table(entities) if entities else "no entities predicted")


def predicted_entities(predictions: Explanation) -> list[dict[str, Any]]:
    """Entities as ``transformers``' token-classification pipeline lists them (``entity_group``,
    ``score``: the mean probability of the entity's tags, ``word``, ``start``, ``end``), except
    that ``word`` is the exact text of the span."""
    entities = []
    for target, start, end in entities_with_spans(predictions):
        entities.append(
            {
                "entity_group": target.label,
                "score": predictions.target_probability(target),
                "word": predictions.text[start:end],
                "start": start,
                "end": end,
            }
        )
    return entities


def entities_table(entities: list[dict[str, Any]]) -> Table:
    """A rich table: one row per entity."""
    table = Table(show_edge=False, header_style="bold")
    for column, justify in (("entity", "left"), ("type", "left"), ("start", "right"),
                            ("end", "right"), ("p", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for e in entities:
        table.add_row(
            e["word"], e["entity_group"], str(e["start"]), str(e["end"]), f"{e['score']:.2f}"
        )
    return table
