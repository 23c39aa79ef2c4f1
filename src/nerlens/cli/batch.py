"""``nerlens batch INPUT --out DIR``: explain a whole corpus into resumable Parquet shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nerlens.cli.app import app
from nerlens.cli.common import (
    ContextOption,
    IgnoreIndexOption,
    IgnoreLabelOption,
    IncludeSpecialOption,
    LabelsOption,
    LongTextOption,
    MethodOption,
    MethodOptionsOption,
    ModelOption,
    MultiLabelOption,
    NestedOption,
    NStepsOption,
    StrategyOption,
    StrideOption,
    ThreadsOption,
    ThresholdOption,
    ToleranceOption,
    check_folder,
    fail_with,
    given_model_options,
    method_settings,
)
from nerlens.cli.model import quiet_transformers
from nerlens.defaults import DEFAULT_METHOD
from nerlens.errors import InputError, ModelLoadError


@app.command()
def batch(
    input: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT", help="Text (one document per line), JSONL, CSV, Parquet or CoNLL."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Output folder (resumable); its parent must exist."
        ),
    ],
    model: ModelOption = "demo",
    labels: LabelsOption = None,
    threshold: ThresholdOption = None,
    nested: NestedOption = False,
    multi_label: MultiLabelOption = False,
    method: MethodOption = DEFAULT_METHOD,
    targets: Annotated[
        str | None,
        typer.Option(
            help="'tokens', 'entities', or 'gold' (CoNLL input: gold entities); default: the "
            "model's (tokens; GLiNER: entities).",
            show_default=False,
        ),
    ] = None,
    n_steps: NStepsOption = None,
    tolerance: ToleranceOption = None,
    method_option: MethodOptionsOption = None,
    ignore_label: IgnoreLabelOption = None,
    ignore_index: IgnoreIndexOption = None,
    include_special: IncludeSpecialOption = False,
    long_text: LongTextOption = "error",
    stride: StrideOption = None,
    context: ContextOption = None,
    aggregation_strategy: StrategyOption = "simple",
    format: Annotated[
        str | None, typer.Option(help="text, jsonl, csv, parquet or conll (default: suffix).")
    ] = None,
    text_field: Annotated[str, typer.Option(help="JSONL/CSV/Parquet text field.")] = "text",
    id_field: Annotated[
        str | None, typer.Option(help="Document id field (default: the line number).")
    ] = None,
    shard_size: Annotated[int, typer.Option(help="Documents per output shard.")] = 64,
    engine: Annotated[str, typer.Option(help="'local' (in-process) or 'ray'.")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join ('auto', 'ray://host:10001').")
    ] = None,
    actors: Annotated[
        int | None, typer.Option(help="Ray actors (one model each; default: GPUs, else CPUs).")
    ] = None,
    device: Annotated[
        str, typer.Option(help="Local engine: 'auto' (a GPU if there is one), 'cpu' or 'cuda'.")
    ] = "auto",
    threads: ThreadsOption = None,
    progress: Annotated[
        bool, typer.Option(help="Show a progress bar (on standard error).", show_default=False)
    ] = True,
    allow_version_change: Annotated[
        bool,
        typer.Option(
            help="Finish a job started with other patch versions of nerlens, torch, "
            "transformers or Python (recorded per shard)."
        ),
    ] = False,
) -> None:
    """Explain every document of INPUT into Parquet tables under --out (see `nerlens report`).

    Progress and the summary go to standard error.
    """
    from nerlens.corpus.job import run_job
    from nerlens.corpus.work import JobSettings

    check_folder(out, "--out")
    options = method_settings(method, n_steps, tolerance, method_option)
    quiet_transformers()
    try:  # the library checks every option before any model work; fail_with names the flags
        settings = JobSettings(
            input=str(input),
            format=_format(input, format),
            text_field=text_field,
            id_field=id_field,
            model=model,
            method=method,
            method_options=options,
            model_options=given_model_options(labels, threshold, nested, multi_label),
            targets=targets,
            ignore_labels=tuple(ignore_label or ()),
            ignore_indexes=tuple(ignore_index or ()),
            include_special=include_special,
            long_text=long_text,
            stride=stride,
            context=context,
            aggregation_strategy=aggregation_strategy,
            shard_size=shard_size,
        )
        result = run_job(
            settings,
            out,
            engine=engine,
            ray_address=ray_address,
            actors=actors,
            device=device,
            threads=threads,
            progress=progress,
            allow_version_change=allow_version_change,
        )
    except InputError as error:
        fail_with(error)
    except ModelLoadError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    from nerlens.errors import CONVERGENCE_DELTA

    totals = f"{result.documents} documents, {result.targets} targets, {result.errors} errors"
    if result.unconverged:
        totals += (
            f"; {result.unconverged} targets have |convergence delta| > {CONVERGENCE_DELTA:g} "
            "(use more steps or --n-steps auto)"
        )
    if result.nothing_to_do:
        summary = f"nothing to do: all {result.shards} shards in {out} are finished ({totals})"
    else:
        resumed = f", {result.already_done} were already done" if result.already_done else ""
        summary = f"finished {result.ran} of {result.shards} shards{resumed}: {totals} in {out}"
    typer.echo(summary, err=True)


def _format(path: Path, given: str | None) -> str:
    from nerlens.corpus.readers import detect_format

    return detect_format(path, given)
