"""``nerlens batch INPUT --out DIR``: explain a whole corpus into resumable Parquet shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nerlens.cli.app import app, console
from nerlens.cli.common import (
    LongTextOption,
    ModelOption,
    StrategyOption,
    ThreadsOption,
    quiet_transformers,
)
from nerlens.cli.explain import _steps, method_options
from nerlens.errors import InputError, ModelLoadError


@app.command()
def batch(
    input: Annotated[
        Path, typer.Argument(help="Text (one document per line), JSONL, CSV, Parquet or CoNLL.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (resumable).")],
    model: ModelOption = "demo",
    method: Annotated[str, typer.Option(help="Attribution method (see `nerlens methods`).")] = (
        "integrated_gradients"
    ),
    targets: Annotated[
        str, typer.Option(help="'tokens', 'entities', or 'gold' (CoNLL input: gold entities).")
    ] = "tokens",
    n_steps: Annotated[
        str | None,
        typer.Option(
            "--n-steps",
            metavar="INTEGER|auto",
            help="Integration steps, or 'auto'. \\[default: auto]",
            parser=_steps,
            show_default=False,
        ),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="With --n-steps auto: the largest |delta| and estimated error of a token's "
            "score accepted. [default: 1e-3]"
        ),
    ] = None,
    ignore_label: Annotated[
        list[str] | None,
        typer.Option("--ignore-label", help="Do not explain tokens predicted with this label."),
    ] = None,
    ignore_index: Annotated[
        list[int] | None,
        typer.Option("--ignore-index", help="Do not explain the token at this position."),
    ] = None,
    include_special: Annotated[
        bool, typer.Option(help="Also explain special tokens such as [CLS] and [SEP].")
    ] = False,
    long_text: LongTextOption = "error",
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
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    allow_version_change: Annotated[
        bool,
        typer.Option(
            help="Finish a job started with other patch versions of nerlens, torch, "
            "transformers or Python (recorded per shard)."
        ),
    ] = False,
) -> None:
    """Explain every document of INPUT into Parquet tables under --out (see `nerlens report`)."""
    from nerlens.corpus.job import run_job
    from nerlens.corpus.work import JobSettings

    quiet_transformers()
    try:
        settings = JobSettings(
            input=str(input),
            format=_format(input, format),
            text_field=text_field,
            id_field=id_field,
            model=model,
            method=method,
            method_options=method_options(method, n_steps, tolerance),
            targets=targets,
            ignore_labels=tuple(ignore_label or ()),
            ignore_indexes=tuple(ignore_index or ()),
            include_special=include_special,
            long_text=long_text,
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
    except (InputError, ModelLoadError) as error:
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
        console.print(f"nothing to do: all {result.shards} shards in {out} are finished ({totals})")
    else:
        resumed = f", {result.already_done} were already done" if result.already_done else ""
        console.print(
            f"finished {result.ran} of {result.shards} shards{resumed}: {totals} in {out}"
        )


def _format(path: Path, given: str | None) -> str:
    from nerlens.corpus.readers import detect_format

    return detect_format(path, given)
