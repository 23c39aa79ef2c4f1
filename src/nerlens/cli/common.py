"""What several commands share: reading the input text, checking options and output paths before
any model work, loading the model quietly, and one-line errors (exit status 2).

Nothing here imports torch or transformers at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from nerlens.explainer import Explainer
    from nerlens.explanation import Explanation

STDIN = "-"

# ---------------------------------------------------------------------- shared options
TextArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="TEXT", help="The text, or '-' to read it from standard input.", show_default=False
    ),
]
FileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Read the text from this UTF-8 file.", show_default=False),
]
ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="'demo', a local model directory, or a hub id.")
]
LongTextOption = Annotated[
    str, typer.Option(help="'error' or 'window' (sliding windows) for long texts.")
]
StrideOption = Annotated[
    int | None,
    typer.Option(
        help="Tokens shared by neighbouring windows (with --long-text window). "
        "\\[default: a quarter of the model's length]",
        show_default=False,
    ),
]
DeviceOption = Annotated[
    str | None,
    typer.Option(
        help="'cpu', 'cuda' or 'auto'. \\[default: where the model loads]", show_default=False
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(help="CPU threads for torch. \\[default: torch's choice]", show_default=False),
]
StrategyOption = Annotated[
    str,
    typer.Option(
        "--aggregation-strategy",
        help="How tokens are grouped into entities, as in transformers' pipeline: simple, "
        "first, average or max.",
    ),
]

DEVICES = ("cpu", "cuda", "auto")
LONG_TEXT = ("error", "window")


# ---------------------------------------------------------------------- errors
def fail(message: str) -> NoReturn:
    """Print ``error: message`` on one line to standard error and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def require(condition: bool, message: str) -> None:
    """:func:`fail` with ``message`` unless ``condition`` holds."""
    if not condition:
        fail(message)


# ---------------------------------------------------------------------- input
def read_text(text: str | None, file: Path | None) -> str:
    """The text to work on: the argument, standard input (``-``) or ``--file``; exactly one."""
    if file is not None:
        require(
            text is None,
            f"give the text one way, not two: got {_given(text)} and --file {str(file)!r}",
        )
        try:
            return file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            fail(f"--file {str(file)!r} is not UTF-8 text")
        except OSError as error:
            fail(f"cannot read --file {str(file)!r}: {error.strerror or error}")
    require(text is not None, "give the text as an argument, '-' for standard input, or --file")
    if text == STDIN:
        if sys.stdin.isatty():
            typer.echo("reading the text from standard input; end it with Ctrl-D", err=True)
        return sys.stdin.read()
    return text  # type: ignore[return-value]  (checked above)


def _given(text: str | None) -> str:
    return "'-' (standard input)" if text == STDIN else "a text argument"


# ---------------------------------------------------------------------- option checks
def check_output(path: Path | None, option: str) -> None:
    """An output file's folder must exist and be writable, checked before any model work."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    require(not path.is_dir(), f"{option} {str(path)!r} is a directory; give a file name")
    require(folder.is_dir(), f"{option} {str(path)!r}: the folder {str(folder)!r} does not exist")
    require(
        os.access(folder, os.W_OK | os.X_OK),
        f"{option} {str(path)!r}: the folder {str(folder)!r} is not writable",
    )
    require(
        not path.exists() or os.access(path, os.W_OK),
        f"{option} {str(path)!r} exists and is not writable",
    )


def check_choice(value: str | None, option: str, choices: tuple[str, ...]) -> None:
    """``value`` is one of ``choices`` (or not given)."""
    require(
        value is None or value in choices,
        f"{option} must be one of {', '.join(choices)}; got {value!r}",
    )


def check_positive(value: int | float | None, option: str) -> None:
    """``value`` is > 0 (or not given)."""
    require(value is None or value > 0, f"{option} must be positive, got {value!r}")


@dataclass(frozen=True)
class ModelSettings:
    """The options of every model-running command: which model, where, and how texts are read."""

    model: str
    long_text: str
    stride: int | None
    device: str | None
    threads: int | None
    aggregation_strategy: str

    def check(self) -> None:
        """Each option on its own, in CLI terms (those that need the model come later)."""
        from nerlens.entities import STRATEGIES

        check_choice(self.aggregation_strategy, "--aggregation-strategy", STRATEGIES)
        check_choice(self.long_text, "--long-text", LONG_TEXT)
        check_choice(self.device, "--device", DEVICES)
        check_positive(self.threads, "--threads")
        require(
            self.stride is None or self.long_text == "window",
            "--stride applies only with --long-text window",
        )
        require(
            self.stride is None or self.stride >= 0,
            f"--stride must be 0 or more, got {self.stride}",
        )


# ---------------------------------------------------------------------- model work
def quiet_transformers() -> None:
    """Keep the terminal for results: no weight-loading bars, load reports or FutureWarnings."""
    from transformers.utils import logging as transformers_logging

    warnings.simplefilter("ignore", FutureWarning)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def load(model: str, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` loaded quietly; a load error is one line that names the way out."""
    quiet_transformers()
    from nerlens.errors import HubUnreachableError, ModelLoadError
    from nerlens.models import load_model

    try:
        return load_model(model, trust_remote_code=trust_remote_code)
    except HubUnreachableError as error:
        fail(
            f"cannot reach the Hugging Face hub ({error.endpoint}) and {error.name!r} is not "
            "cached; use --model demo, a local model directory, or HF_HUB_OFFLINE=1 with a "
            "cached model"
        )
    except ModelLoadError as error:
        fail(str(error))


def make_explainer(
    settings: ModelSettings,
    method: str = "integrated_gradients",
    progress: bool | None = None,
    **method_options: Any,
) -> Explainer:
    """Load the model and build an Explainer; load and option errors become one-line errors.

    ``progress=None`` shows a progress bar for long inputs only (the library's rule).
    """
    if settings.device == "cuda":
        import torch

        require(
            torch.cuda.is_available(),
            "--device cuda: torch sees no CUDA device; use --device cpu or --device auto",
        )
    from nerlens.errors import InputError, ModelLoadError
    from nerlens.explainer import Explainer

    threads = {} if settings.threads is None else {"threads": settings.threads}
    loaded, tokenizer = load(settings.model)
    try:
        explainer = Explainer(
            loaded,
            tokenizer,
            method,
            long_text=settings.long_text,  # type: ignore[arg-type]  (checked by settings.check)
            stride=settings.stride,
            device=settings.device,  # type: ignore[arg-type]
            aggregation_strategy=settings.aggregation_strategy,  # type: ignore[arg-type]
            progress=progress,
            **threads,
            **method_options,
        )
    except (InputError, ModelLoadError) as error:
        fail(str(error))
    text_tokens = explainer.max_length - tokenizer.num_special_tokens_to_add()
    require(
        settings.stride is None or settings.stride < text_tokens,
        f"--stride must be smaller than {text_tokens} (the text tokens of one window of this "
        f"model), got {settings.stride}",
    )
    return explainer


def predict(explainer: Explainer, text: str) -> Explanation:
    """The model's predictions for ``text`` (an Explanation with no targets): forward only."""
    from nerlens.errors import InputError

    try:
        return explainer(text, [])
    except InputError as error:
        fail(str(error))
