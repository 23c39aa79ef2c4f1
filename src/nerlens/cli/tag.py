"""``nerlens tag TEXT``: the model's predicted entities only, with no attribution work; as JSON,
each entity as the model's own library gives it (the token-classification pipeline's dicts, or
GLiNER's ``predict_entities``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from nerlens.cli.app import app, console
from nerlens.cli.common import (
    ContextOption,
    DeviceOption,
    FileOption,
    LabelsOption,
    LongTextOption,
    ModelOption,
    ModelSettings,
    MultiLabelOption,
    NestedOption,
    StrategyOption,
    StrideOption,
    TextArgument,
    ThreadsOption,
    ThresholdOption,
    check_choice,
    read_text,
)
from nerlens.cli.model import make_explainer, predict

if TYPE_CHECKING:
    from nerlens.explanation import Explanation

FORMATS = ("text", "json")  # as `nerlens explain --format`


@app.command()
def tag(
    text: TextArgument = None,
    file: FileOption = None,
    model: ModelOption = "demo",
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="'text' (a table), or 'json': the list transformers' token-classification "
            "pipeline returns (GLiNER: predict_entities').",
        ),
    ] = "text",
    labels: LabelsOption = None,
    threshold: ThresholdOption = None,
    nested: NestedOption = False,
    multi_label: MultiLabelOption = False,
    strategy: StrategyOption = "simple",
    long_text: LongTextOption = "error",
    stride: StrideOption = None,
    device: DeviceOption = None,
    context: ContextOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Print the entities the model predicts in TEXT, with spans and probabilities.

    One forward pass per model window; nothing is attributed. TEXT can be '-' to read standard
    input; --file reads a file instead.
    """
    source = read_text(text, file)
    check_choice(output_format, "--format", FORMATS)
    settings = ModelSettings(
        model, long_text, stride, device, threads, strategy, context,
        labels, threshold, nested, multi_label,
    )  # fmt: skip
    settings.check()
    explainer = make_explainer(settings, progress=False)
    predictions = predict(explainer, source)
    if output_format == "json":
        entities = [explainer.kind.entity_dict(e) for e in predictions.entities]
        typer.echo(json.dumps(entities, ensure_ascii=False, indent=2))
    elif predictions.entities:
        console.print(entities_table(predictions))
    else:
        console.print("no entities predicted")


def entities_table(predictions: Explanation) -> Table:
    """A rich table: one row per predicted entity, with the exact text of its span."""
    table = Table(show_edge=False, header_style="bold")
    for column, justify in (("entity", "left"), ("type", "left"), ("start", "right"),
                            ("end", "right"), ("p", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for e in predictions.entities:
        text = predictions.text[e.start : e.end]
        table.add_row(text, e.entity_group, str(e.start), str(e.end), f"{e.score:.2f}")
    return table
