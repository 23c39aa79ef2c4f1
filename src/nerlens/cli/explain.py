"""``nerlens explain TEXT``: why the model labelled each token (or chosen tokens and entities;
for a zero-shot span model such as GLiNER, its entities and any span × label asked about).

The command runs in stages, each a small function: read the input, check every option in CLI
terms (before any model work), build the explainer, choose the targets (:mod:`.targets`),
explain, write outputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from nerlens.cli.analysis import faithfulness_table, parse_gold
from nerlens.cli.app import app, console
from nerlens.cli.common import (
    ContextOption,
    DeviceOption,
    FileOption,
    IgnoreIndexOption,
    IgnoreLabelOption,
    IncludeSpecialOption,
    LabelsOption,
    LongTextOption,
    MethodOption,
    MethodOptionsOption,
    ModelOption,
    ModelSettings,
    MultiLabelOption,
    NestedOption,
    NStepsOption,
    StrategyOption,
    StrideOption,
    TextArgument,
    ThreadsOption,
    ThresholdOption,
    ToleranceOption,
    check_choice,
    check_output,
    check_positive,
    fail,
    fail_with,
    method_settings,
    read_text,
    require,
)
from nerlens.cli.model import make_explainer
from nerlens.cli.targets import (
    Choice,
    check_against_model,
    check_choice_options,
    choose_targets,
    parse_contrast,
    parse_span,
)
from nerlens.defaults import DEFAULT_METHOD

if TYPE_CHECKING:
    import pandas as pd

    from nerlens.explainer import Explainer
    from nerlens.explanation import Explanation
    from nerlens.gold import GoldSpan
    from nerlens.targets import Target

FORMATS = ("text", "json")
PLOT_SUFFIXES = (".png", ".svg")


@app.command()
def explain(
    text: TextArgument = None,
    file: FileOption = None,
    model: ModelOption = "demo",
    targets: Annotated[
        str | None,
        typer.Option(
            help="Explain every token ('tokens'), every predicted entity ('entities'), or the "
            "truth where the model was wrong ('gold', needs --gold). \\[default: entities; "
            "tokens when none is predicted or --ignore-* is given]",
            show_default=False,
        ),
    ] = None,
    position: Annotated[
        list[int] | None,
        typer.Option(
            metavar="N",
            help="Explain the token at this position (repeatable; positions as shown in the "
            "# column).",
            show_default=False,
        ),
    ] = None,
    entity: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TEXT",
            help="Explain the predicted entity with this text, e.g. 'Emmanuel Macron' "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    contrast: Annotated[
        list[str] | None,
        typer.Option(
            metavar="LABEL:FOIL",
            help="Why LABEL rather than FOIL: at each --position, else at every token "
            "predicted LABEL (repeatable).",
            show_default=False,
        ),
    ] = None,
    span: Annotated[
        list[str] | None,
        typer.Option(
            metavar="WHERE=LABEL",
            help="Why (or why not) LABEL for a span, with a model that scores spans (GLiNER): "
            "WHERE is START:END (characters) or a text (its every occurrence), e.g. "
            "Apple=company; LABEL:FOIL asks why LABEL rather than FOIL (repeatable).",
            show_default=False,
        ),
    ] = None,
    labels: LabelsOption = None,
    threshold: ThresholdOption = None,
    nested: NestedOption = False,
    multi_label: MultiLabelOption = False,
    ignore_label: IgnoreLabelOption = None,
    ignore_index: IgnoreIndexOption = None,
    method: MethodOption = DEFAULT_METHOD,
    n_steps: NStepsOption = None,
    tolerance: ToleranceOption = None,
    include_special: IncludeSpecialOption = False,
    strategy: StrategyOption = "simple",
    long_text: LongTextOption = "error",
    stride: StrideOption = None,
    device: DeviceOption = None,
    context: ContextOption = None,
    threads: ThreadsOption = None,
    method_option: MethodOptionsOption = None,
    gold: Annotated[
        list[str] | None,
        typer.Option(
            metavar="START:END:TYPE",
            help="A true entity as a character span, e.g. 11:16:LOC (repeatable).",
            show_default=False,
        ),
    ] = None,
    gold_tags: Annotated[
        str | None,
        typer.Option(
            metavar="TAGS",
            help="The true IOB tags, one per whitespace-separated word: 'O O B-LOC ...'.",
            show_default=False,
        ),
    ] = None,
    aggregate: Annotated[
        str | None,
        typer.Option(
            metavar="word|entity",
            help="Show words, or entities and words, as units (attributions summed exactly).",
            show_default=False,
        ),
    ] = None,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate",
            help="Also print faithfulness scores (comprehensiveness, sufficiency).",
            show_default=False,
        ),
    ] = False,
    top: Annotated[int, typer.Option(help="Tokens shown for and against each label.")] = 3,
    pieces: Annotated[
        bool,
        typer.Option(
            "--pieces",
            help="Show the tokenizer's word pieces ('mag ##de ##burg') instead of words as "
            "written in the text.",
            show_default=False,
        ),
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the interactive HTML page here.", show_default=False),
    ] = None,
    json: Annotated[
        Path | None,
        typer.Option(help="Also write the Explanation as JSON here.", show_default=False),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="'text': the view (plain text when piped); 'json': the Explanation, to stdout.",
        ),
    ] = "text",
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also save a heatmap of targets × tokens here (.png or .svg; nerlens\\[plot]).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Explain TEXT and print, per predicted entity (or token), its label and the words that
    pushed it most.

    TEXT can be '-' to read standard input; --file reads a file instead.
    """
    source = read_text(text, file)
    choice = Choice(
        targets=targets,
        positions=tuple(dict.fromkeys(position or ())),
        entities=tuple(dict.fromkeys(entity or ())),
        contrasts=tuple(parse_contrast(value) for value in contrast or ()),
        ignore_labels=tuple(ignore_label or ()),
        ignore_indexes=tuple(ignore_index or ()),
        spans=tuple(parse_span(value, source) for value in dict.fromkeys(span or ())),
    )
    settings = ModelSettings(
        model, long_text, stride, device, threads, strategy, context,
        labels, threshold, nested, multi_label,
    )  # fmt: skip
    check_choice_options(choice)
    settings.check()
    check_positive(top, "--top")
    check_output(html, "--html")
    check_output(json, "--json")
    check_choice(output_format, "--format", FORMATS)
    check_plot(plot)
    check_choice(aggregate, "--aggregate", ("word", "entity"))
    options = method_settings(method, n_steps, tolerance, method_option)
    gold_spans = parse_gold(gold, gold_tags, source)
    require(
        choice.targets != "gold" or gold_spans is not None,
        "--targets gold needs the truth: give --gold START:END:TYPE or --gold-tags",
    )
    explainer = make_explainer(settings, method, **options)
    check_against_model(explainer, choice, model)
    selection = choose_targets(explainer, source, choice)
    explanation = run(explainer, source, selection, choice, include_special, gold_spans)
    scores = analyse(explainer, explanation, evaluate)
    if aggregate is not None:
        explanation = explanation.aggregate(aggregate)  # type: ignore[arg-type]  (checked)
    notes = Console(stderr=True) if output_format == "json" else console  # stdout: JSON only
    view: Literal["words", "tokens"] = "tokens" if pieces else "words"
    show(explanation, top, output_format, view)
    if scores is not None:
        notes.print(faithfulness_table(scores), highlight=False)
    save(explanation, html, json, plot, notes, view)


# ---------------------------------------------------------------------- option checks
def check_plot(plot: Path | None) -> None:
    """--plot names a .png or .svg file in a writable folder, and matplotlib is installed."""
    if plot is None:
        return
    check_output(plot, "--plot")
    require(
        plot.suffix.lower() in PLOT_SUFFIXES,
        f"--plot must name a .png or .svg file; got {str(plot)!r}",
    )
    from importlib.util import find_spec

    require(
        find_spec("matplotlib") is not None,
        "--plot needs matplotlib: pip install 'nerlens[plot]'",
    )


# ---------------------------------------------------------------------- running
def run(
    explainer: Explainer,
    text: str,
    selection: str | list[Target],
    choice: Choice,
    include_special: bool,
    gold: list[GoldSpan] | None = None,
) -> Explanation:
    """Explain; errors become one line. Unconverged targets are shown by the view, not warned."""
    from nerlens.errors import ConvergenceWarning, InputError

    try:
        if choice.ignore_indexes:
            count = len(explainer.kind.encode(text))
            outside = sorted(i for i in choice.ignore_indexes if not 0 <= i < count)
            if outside:
                fail(
                    f"--ignore-index {outside[0]} is out of range: the text has {count} tokens "
                    f"(0..{count - 1})"
                )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return explainer(
                text,
                selection,
                ignored_indexes=choice.ignore_indexes,
                ignored_labels=choice.ignore_labels,
                include_special_tokens=include_special,
                gold=gold,
            )
    except InputError as error:
        fail_with(error)


def analyse(explainer: Explainer, explanation: Explanation, evaluate: bool) -> pd.DataFrame | None:
    """The faithfulness scores when --evaluate asks for them; errors become one line."""
    from nerlens.errors import InputError

    if not evaluate:
        return None
    try:
        return explainer.evaluate(explanation)
    except InputError as error:
        fail_with(error)


# ---------------------------------------------------------------------- output
def show(
    explanation: Explanation, top: int, output_format: str, view: Literal["words", "tokens"]
) -> None:
    """The terminal view (plain text when piped) in words or pieces, or the Explanation as JSON
    on stdout."""
    if output_format == "json":
        typer.echo(explanation.to_json())
        return
    from nerlens.render.terminal import print_terminal

    print_terminal(explanation, console, top=top, view=view)


def save(
    explanation: Explanation,
    html: Path | None,
    json: Path | None,
    plot: Path | None,
    notes: Console,
    view: Literal["words", "tokens"] = "words",
) -> None:
    """Write the files asked for (their folders were checked before any model work) and say so
    on ``notes`` (stderr when stdout carries JSON)."""
    if html is not None:
        explanation.save_html(html)
        notes.print(f"HTML written to {html}")
    if json is not None:
        explanation.save(json)
        notes.print(f"JSON written to {json}")
    if plot is not None:
        explanation.plot("heatmap", plot, view=view)
        notes.print(f"Plot written to {plot}")
