"""What several commands share: their flags, reading the input text, checking options and output
paths before any model work, and one-line errors (exit status 2). Loading the model and building
the explainer are in :mod:`nerlens.cli.model`.

Nothing here imports torch or transformers at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from nerlens.errors import InputError

STDIN = "-"
# the options with a flag of their own; every other method option is --method-option NAME=VALUE
OWN_FLAGS = (
    "n_steps",
    "tolerance",
    "long_text",
    "stride",
    "context",
    "device",
    "threads",
    "aggregation_strategy",
    "targets",
    "shard_size",
    "engine",
    "ray_address",
    "actors",
    "labels",
    "threshold",
)
# a zero-shot model's options (the model kind's ``options``) and the flag that gives each
MODEL_FLAGS = {
    "labels": "--labels",
    "threshold": "--threshold",
    "flat_ner": "--nested",
    "multi_label": "--multi-label",
}


def given_model_options(
    labels: str | None, threshold: float | None, nested: bool, multi_label: bool
) -> dict[str, Any]:
    """A zero-shot model's options as its flags give them (those left out are not given)."""
    given = {
        "labels": labels,
        "threshold": threshold,
        "flat_ner": False if nested else None,
        "multi_label": True if multi_label else None,
    }
    return {name: value for name, value in given.items() if value is not None}


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
ContextOption = Annotated[
    int | None,
    typer.Option(
        help="Cap windows at this many tokens (with --long-text window): faster on long "
        "documents, each token sees less context. \\[default: the model's full length]",
        show_default=False,
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(help="CPU threads for torch. \\[default: torch's choice]", show_default=False),
]
MethodOption = Annotated[
    str, typer.Option(help="Attribution method ('nerlens methods' lists them).")
]
NStepsOption = Annotated[
    str | None,
    typer.Option(
        "--n-steps",
        metavar="INTEGER|auto",
        help="Integration steps, or 'auto': adaptive, until every |delta| and every token's "
        "estimated error <= --tolerance. \\[default: auto]",
        parser=lambda text: parse_value(text),
        show_default=False,
    ),
]
ToleranceOption = Annotated[
    float | None,
    typer.Option(
        metavar="FLOAT",
        help="Largest |convergence delta| and estimated error of a token's score allowed with "
        "--n-steps auto. \\[default: 1e-3]",
        show_default=False,
    ),
]
MethodOptionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--method-option",
        metavar="NAME=VALUE",
        help="A method option, e.g. n_samples=50 (repeatable; 'nerlens methods' lists them).",
        show_default=False,
    ),
]
IgnoreLabelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore-label",
        metavar="LABEL",
        help="Do not explain tokens predicted with this label (repeatable).",
        show_default=False,
    ),
]
IgnoreIndexOption = Annotated[
    list[int] | None,
    typer.Option(
        "--ignore-index",
        metavar="N",
        help="Do not explain the token at this position (repeatable).",
        show_default=False,
    ),
]
IncludeSpecialOption = Annotated[
    bool,
    typer.Option(
        "--include-special",
        help="Also explain special tokens such as \\[CLS] and \\[SEP].",
        show_default=False,
    ),
]
LabelsOption = Annotated[
    str | None,
    typer.Option(
        metavar="LABEL,...",
        help="The entity types a zero-shot model (GLiNER) looks for, comma-separated, e.g. "
        "person,location (required for such models).",
        show_default=False,
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        metavar="FLOAT",
        help="A zero-shot model's least score for an entity, in [0, 1). \\[default: 0.5]",
        show_default=False,
    ),
]
NestedOption = Annotated[
    bool,
    typer.Option(
        "--nested",
        help="A zero-shot model's entities may nest (GLiNER's flat_ner=False).",
        show_default=False,
    ),
]
MultiLabelOption = Annotated[
    bool,
    typer.Option(
        "--multi-label",
        help="A zero-shot model may give one span several labels.",
        show_default=False,
    ),
]
StrategyOption = Annotated[
    str,
    typer.Option(
        "--aggregation-strategy",
        help="How tokens are grouped into entities, as in transformers' pipeline: simple, "
        "first, average or max.",
    ),
]


# ---------------------------------------------------------------------- errors
def fail(message: str) -> NoReturn:
    """Print ``error: message`` on one line to standard error and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def require(condition: bool, message: str) -> None:
    """:func:`fail` with ``message`` unless ``condition`` holds."""
    if not condition:
        fail(message)


def spell(option: str) -> str:
    """How the command line names a library option: its own flag, else ``--method-option``."""
    return f"--{option.replace('_', '-')}" if option in OWN_FLAGS else f"--method-option {option}"


def fail_with(error: InputError) -> NoReturn:
    """:func:`fail` with a library error, its options named as the command line names them."""
    from nerlens.errors import OptionError

    fail(error.worded(spell, unset=None) if isinstance(error, OptionError) else str(error))


def parse_value(text: str) -> Any:
    """A command-line value as the library takes it: JSON (``50``, ``0.5``, ``null``), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---------------------------------------------------------------------- input
def read_text(text: str | None, file: Path | None) -> str:
    """The text to work on: the argument, standard input (``-``) or ``--file``; exactly one.

    It must be UTF-8 (an undecodable byte is named with its offset) and not blank: both are
    checked here, before any model work.
    """
    if file is not None:
        require(
            text is None,
            f"give the text one way, not two: got {_given(text)} and --file {str(file)!r}",
        )
        try:
            data = file.read_bytes()
        except OSError as error:
            fail(f"cannot read --file {str(file)!r}: {error.strerror or error}")
        return _checked(_decoded(data, f"--file {str(file)!r}"), f"--file {str(file)!r}")
    require(text is not None, "give the text as an argument, '-' for standard input, or --file")
    if text == STDIN:
        if sys.stdin.isatty():
            typer.echo("reading the text from standard input; end it with Ctrl-D", err=True)
        return _checked(_decoded(sys.stdin.buffer.read(), "standard input"), "standard input")
    return _checked(_argument(text), "the text argument")  # type: ignore[arg-type]  (checked)


def _decoded(data: bytes, source: str) -> str:
    """``data`` decoded as strict UTF-8, or one error line naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        fail(
            f"{source} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset "
            f"{error.start} cannot be decoded; convert it first (e.g. iconv -f latin1 -t utf-8)"
        )


def _argument(text: str) -> str:
    """A text argument without lone surrogates (what Python makes of bytes its locale cannot
    decode); else one error line naming the first."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        char = ord(text[error.start])
        byte = f" (byte 0x{char - 0xDC00:02x} of the shell's input)" if char >= 0xDC80 else ""
        fail(
            f"the text argument is not valid text: a lone surrogate U+{char:04X}{byte} at "
            f"character {error.start}; set a UTF-8 locale or pass the text with --file"
        )
    return text


def _checked(text: str, source: str) -> str:
    """``text`` unless it is blank."""
    require(bool(text.strip()), f"{source} is empty; give a text with at least one word")
    return text


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


def check_folder(path: Path, option: str) -> None:
    """An output folder's parent must exist, as an output file's folder must (nothing is
    created but the folder itself); checked before any model work."""
    parent = path.parent if str(path.parent) else Path(".")
    require(not path.is_file(), f"{option} {str(path)!r} is a file; give a folder")
    require(parent.is_dir(), f"{option} {str(path)!r}: the folder {str(parent)!r} does not exist")


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
    context: int | None = None
    labels: str | None = None  # a zero-shot model's options: --labels, --threshold...
    threshold: float | None = None
    nested: bool = False
    multi_label: bool = False

    def model_options(self) -> dict[str, Any]:
        """The model options given on the command line (those left out are not given)."""
        return given_model_options(self.labels, self.threshold, self.nested, self.multi_label)

    def check(self) -> None:
        """Each option as the library checks it, before any model work (those that need the
        model, such as --stride's upper bound, come later)."""
        from nerlens.errors import InputError
        from nerlens.options import check_explainer_options

        try:
            check_explainer_options(
                long_text=self.long_text,
                stride=self.stride,
                context=self.context,
                device=self.device,
                threads=self.threads,
                aggregation_strategy=self.aggregation_strategy,
            )
        except InputError as error:
            fail_with(error)


def method_settings(
    method: str,
    n_steps: int | str | None = None,
    tolerance: float | None = None,
    method_option: list[str] | None = None,
) -> dict[str, Any]:
    """The method's options from --n-steps, --tolerance and --method-option, checked by the
    library (before any model work); a flag the method has no option for is an error that lists
    the options it has."""
    from nerlens.errors import InputError
    from nerlens.methods import available_methods, create_method, get_method_class, options_of

    try:
        declared = [option.name for option in options_of(get_method_class(method))]
    except InputError:
        fail(
            f"--method {method!r} is not a registered method; available: "
            f"{', '.join(available_methods())} ('nerlens methods' describes them)"
        )
    takes = f"its options: {', '.join(declared)}" if declared else "it takes no options"
    options: dict[str, Any] = {}
    for name, value in (("n_steps", n_steps), ("tolerance", tolerance)):
        if value is not None:
            require(name in declared, f"{spell(name)} does not apply to --method {method}; {takes}")
            options[name] = value
    for item in method_option or []:
        name, sep, raw = item.partition("=")
        name = name.strip()
        require(
            bool(sep) and bool(name),
            f"--method-option must be NAME=VALUE (e.g. n_samples=50), got {item!r}",
        )
        require(
            name in declared, f"--method-option {name} does not apply to --method {method}; {takes}"
        )
        require(name not in options, f"--method-option {name} repeats an option given above")
        options[name] = parse_value(raw)
    try:
        create_method(method, **options)
    except InputError as error:
        fail_with(error)
    return options
