"""``nerlens serve``: the web app (page and JSON API) for one model, chosen here by the operator."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from nerlens.cli.app import app, console
from nerlens.cli.common import ModelOption, fail
from nerlens.cli.model import load


@app.command()
def serve(
    model: ModelOption = "demo",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    max_text_chars: Annotated[
        int, typer.Option(help="Longest text a request may send, in characters.", min=1)
    ] = 5000,
    max_steps: Annotated[
        int, typer.Option(help="Largest n_steps a request may ask for.", min=1)
    ] = 200,
    max_targets: Annotated[
        int, typer.Option(help="Most targets one request may explain.", min=1)
    ] = 512,
    max_labels: Annotated[
        int,
        typer.Option(help="Most labels a request may give a zero-shot model (GLiNER).", min=1),
    ] = 32,
    max_label_chars: Annotated[
        int, typer.Option(help="Longest label a request may give, in characters.", min=1)
    ] = 100,
    workers: Annotated[int, typer.Option(help="Explanations computed at once.", min=1)] = 1,
    queue_size: Annotated[
        int, typer.Option(help="Requests that may wait; more get 429 at once.", min=0)
    ] = 8,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a request may take, waiting included: after that it is answered 503 "
            "and its work stops; one that cannot finish in time is refused 422 at once.",
            min=0.1,
        ),
    ] = 120.0,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body, in bytes; larger ones get 413.", min=1)
    ] = 1_000_000,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code", help="Let transformers run code shipped with the model."
        ),
    ] = False,
) -> None:
    """Serve a web page and a JSON API that explain texts with MODEL (the 'server' extra).

    A zero-shot model (GLiNER) takes its labels per request, bounded by --max-labels and
    --max-label-chars.
    """
    try:
        import uvicorn

        from nerlens.server import ServerSettings, create_app
    except ImportError as error:
        fail(f"nerlens serve needs {error.name}: pip install 'nerlens[server]'")
    from nerlens.errors import ConvergenceWarning

    settings = ServerSettings(  # the options' bounds above make every value valid
        max_text_chars=max_text_chars,
        max_steps=max_steps,
        max_targets=max_targets,
        max_labels=max_labels,
        max_label_chars=max_label_chars,
        workers=workers,
        queue_size=queue_size,
        timeout_s=timeout,
        max_body_bytes=max_body_bytes,
    )
    loaded_model, tokenizer = load(model, trust_remote_code=trust_remote_code)
    # each answer carries its warnings (and the page shows them); the log needs no copy
    warnings.simplefilter("ignore", ConvergenceWarning)
    console.print(f"nerlens serving {model} on http://{host}:{port}  (API docs: /docs)")
    uvicorn.run(create_app(loaded_model, tokenizer, settings), host=host, port=port)
