"""Every option, declared once: its name, default, what is allowed, help, and the stage that uses
it. The library checks each value here, once; a bad value raises :class:`OptionError` naming the
option, which the CLI and the server spell as their own flag or field (``OptionError.worded``).

Stages: ``"explainer"`` (how the model runs), ``"window"`` (how long texts are split),
``"method"`` (an attribution method's own options, declared by each method as its ``options``)
and ``"job"`` (a corpus job's own, declared in :mod:`nerlens.corpus.work`).
The call's arguments (targets, ignored tokens, gold) are checked by the functions at the end.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from nerlens.entities import STRATEGIES
from nerlens.errors import InputError, OptionError, is_int_at_least, shown

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from nerlens.gold import GoldSpan

Stage = Literal["explainer", "window", "method", "job"]


@dataclass(frozen=True)
class Option:
    """One option: ``accepts`` tells a good value, ``allowed`` says in words which are good."""

    name: str
    default: Any
    allowed: str  # an OptionError template fragment: " or None" is written {or_none}
    accepts: Callable[[Any], bool]
    help: str
    stage: Stage
    choices: tuple[Any, ...] = ()  # the fixed values, where there are (for menus and help)

    def check(self, value: Any) -> Any:
        """``value`` unchanged if it is allowed, else an :class:`OptionError` naming the option."""
        if not self.accepts(value):
            raise OptionError(
                f"{{{self.name}}} must be {self.allowed}, got {shown(value)}", self.name
            )
        return value


def count(
    name: str,
    default: Any,
    minimum: int,
    help: str,
    stage: Stage,
    words: tuple[str, ...] = (),
    optional: bool = False,
) -> Option:
    """An int option of at least ``minimum`` (a bool is not an int here), or one of ``words``,
    or None where ``optional``."""
    kind = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
    return Option(
        name,
        default,
        " or ".join([kind, *(repr(w) for w in words)]) + ("{or_none}" if optional else ""),
        lambda v: is_int_at_least(v, minimum) or v in words or (optional and v is None),
        help,
        stage,
        words,
    )


def number(
    name: str,
    default: Any,
    help: str,
    stage: Stage,
    above: float | None = None,
    at_least: float = 0,
) -> Option:
    """A real number above ``above`` (if given), else at least ``at_least``."""
    bound = f"> {above:g}" if above is not None else f">= {at_least:g}"

    def accepts(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            return False
        return v > above if above is not None else v >= at_least

    return Option(name, default, f"a number {bound}", accepts, help, stage)


def choice(
    name: str,
    default: Any,
    choices: tuple[Any, ...],
    help: str,
    stage: Stage,
    optional: bool = False,
) -> Option:
    """One of ``choices`` (or None where ``optional``)."""
    allowed = f"one of {shown(list(choices))}" + ("{or_none}" if optional else "")
    return Option(
        name,
        default,
        allowed,
        lambda v: (optional and v is None) or (isinstance(v, str) and v in choices),
        help,
        stage,
        choices,
    )


def seed(name: str = "seed") -> Option:
    """A random seed: an int, or None for a fresh one each call."""
    return Option(
        name,
        0,
        "an int{or_none}",
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
        "Seed of the random samples (None: different each call).",
        "method",
    )


def flag(name: str, default: Any, help: str, stage: Stage, optional: bool = False) -> Option:
    """True or False (or None where ``optional``)."""
    return Option(
        name,
        default,
        "True or False" + ("{or_none}" if optional else ""),
        lambda v: isinstance(v, bool) or (optional and v is None),
        help,
        stage,
    )


# ---------------------------------------------------------------------- the Explainer's options
LONG_TEXTS = ("error", "window")
DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("float32", "float16", "bfloat16")
MIN_CONTEXT = 16

INTERNAL_BATCH_SIZE = count(
    "internal_batch_size", None, 1, "Rows per forward chunk (None: what max_memory_mb allows).",
    "explainer", optional=True,
)  # fmt: skip
MAX_MEMORY_MB = number(
    "max_memory_mb", 1024.0, "Memory budget of one forward chunk, in MB.", "explainer", above=0
)
DEVICE = choice(
    "device", None, DEVICES, "Where the model runs (None: where it is).", "explainer", True
)
PRECISION = choice(
    "precision", None, PRECISIONS, "Convert the model (half precision: GPU only).", "explainer",
    optional=True,
)  # fmt: skip
PROGRESS = flag(
    "progress", None, "A progress bar (None: for calls of 256 tokens or more).", "explainer", True
)
THREADS = count(
    "threads", None, 1, "CPU threads for torch during each call (None: torch's choice).",
    "explainer", optional=True,
)  # fmt: skip
AGGREGATION_STRATEGY = choice(
    "aggregation_strategy", "simple", STRATEGIES,
    "How tokens are grouped into entities, as in transformers' pipeline.", "explainer",
)  # fmt: skip
LONG_TEXT = choice(
    "long_text", "error", LONG_TEXTS, "'window': explain long texts in sliding windows.", "window"
)
STRIDE = count(
    "stride", None, 0, "Tokens shared by neighbouring windows (None: a quarter of the model's "
    "length).", "window", optional=True,
)  # fmt: skip
CONTEXT = count(
    "context", None, MIN_CONTEXT, "Cap windows at this many tokens (None: the model's length).",
    "window", optional=True,
)  # fmt: skip

EXPLAINER_OPTIONS: tuple[Option, ...] = (
    INTERNAL_BATCH_SIZE, MAX_MEMORY_MB, DEVICE, PRECISION, PROGRESS, THREADS,
    AGGREGATION_STRATEGY, LONG_TEXT, STRIDE, CONTEXT,
)  # fmt: skip
# Explainer keywords checked by the model kind against the model, not declared here
MODEL_KEYWORDS = ("embedding", "baseline_token_id")


def check_each(declared: Sequence[Option], values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value checked by the option of its name among ``declared`` (every name is one)."""
    by_name = {option.name: option for option in declared}
    return {name: by_name[name].check(value) for name, value in values.items()}


def check_explainer_options(**values: Any) -> dict[str, Any]:
    """The Explainer's (and windows') options, each checked, then the ones that go together.

    Any subset may be given (the CLI checks its own before loading a model); the rest take their
    declared defaults for the checks of combinations.
    """
    checked = check_each(EXPLAINER_OPTIONS, values)
    given = {option.name: option.default for option in EXPLAINER_OPTIONS} | checked
    for name in ("stride", "context"):
        if given[name] is not None and given["long_text"] != "window":
            raise OptionError(
                f"{{{name}}}={given[name]} only applies with {{long_text}}='window'",
                name,
                ["long_text"],
            )
    return checked


def place(model: PreTrainedModel, device: str | None, precision: str | None) -> PreTrainedModel:
    """Move/convert the model as asked; half precision only where it is fast and safe (GPU)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError(
            "{device}='cuda' was requested but torch sees no CUDA device; use {device}='cpu' or "
            "'auto'",
            "device",
        )
    target = torch.device(device) if device else next(model.parameters()).device
    if precision in ("float16", "bfloat16") and target.type != "cuda":
        raise OptionError(
            f"{{precision}}={precision!r} needs a CUDA device (on CPU it is slower and less "
            "accurate); use {precision}='float32' or {device}='cuda'",
            "precision",
            ["device"],
        )
    if device is not None:
        model = model.to(target)
    return model if precision is None else model.to(dtype(precision))


def dtype(precision: str) -> torch.dtype:
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[
        precision
    ]


# ---------------------------------------------------------------------- methods' options
def check_method_keywords(
    method: object,
    keywords: Mapping[str, Any],
    method_options: Mapping[str, Any] | None,
    accepted: Iterable[str] | None,
) -> None:
    """Keywords the Explainer does not take must be options of the named method (``accepted``),
    and no option may be given both as a keyword and in ``method_options``."""
    both = sorted(set(keywords) & set(method_options or {}))
    if both:
        raise InputError(f"method option(s) {both} given twice: as keywords and in method_options")
    if keywords and accepted is not None:
        accepted = list(accepted)
        unknown = sorted(set(keywords) - set(accepted))
        if unknown:
            own = ["method_options", *(o.name for o in EXPLAINER_OPTIONS), *MODEL_KEYWORDS]
            raise OptionError(
                f"method {method!r} takes no option(s) {shown(unknown)} and they are not "
                f"Explainer keywords; {_its_options(accepted)}, the Explainer's are {shown(own)}",
                unknown[0],
            )


def _its_options(accepted: Sequence[str]) -> str:
    return f"its options are {shown(list(accepted))}" if accepted else "it takes no options"


def declared_options(cls: type) -> tuple[Option, ...]:
    """A method class's declared options (its ``options``). A class that declares none (a user's
    method, ``options = None``) has the keyword parameters of its ``__init__``, each accepting any
    value: the class checks them itself."""
    declared = getattr(cls, "options", None)
    if declared is not None:
        return tuple(declared)
    parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    return tuple(
        Option(
            name,
            None if p.default is inspect.Parameter.empty else p.default,
            "a value the method accepts",
            lambda v: True,
            "",
            "method",
        )
        for name, p in parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def check_method_options(
    name: str, declared: Sequence[Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Each given option is one the method declares and has an allowed value."""
    names = [option.name for option in declared]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise OptionError(
            f"method {name!r} takes no option(s) {shown(unknown)}; {_its_options(names)}",
            unknown[0],
        )
    return check_each(declared, given)


# ---------------------------------------------------------------------- a call's arguments
TARGET_SELECTORS = ("tokens", "entities", "gold")


def check_texts(given: object) -> Sequence[str]:
    """A non-empty list of texts (each is validated by the encoder)."""
    if not isinstance(given, Sequence) or isinstance(given, (bytes, bytearray)):
        raise InputError(f"text must be a str or a list of str, got {type(given).__name__}")
    if not given:
        raise InputError("the list of texts is empty; pass at least one text")
    return given  # type: ignore[return-value]


def split_targets(
    targets: Any, count: int, single: bool, selectors: Sequence[str] = TARGET_SELECTORS
) -> list[Any]:
    """Per text: a selector (one of the model's ``selectors``: ``"tokens"``, ``"entities"``,
    ``"gold"``) or its list of targets."""
    if isinstance(targets, str):
        if targets not in selectors:
            allowed = ", ".join(repr(s) for s in selectors)
            raise InputError(
                f"targets must be {allowed} or a list of Target objects for this model, "
                f"got {targets!r}"
            )
        return [targets] * count
    if single:
        return [list(targets)]
    per_text = list(targets)
    if len(per_text) != count or any(isinstance(t, str) for t in per_text):
        raise InputError(
            f"for {count} texts, pass targets as 'tokens', 'entities' or a list of {count} "
            "lists of Target objects"
        )
    return [list(t) for t in per_text]


def split_gold(gold: Any, given: list[str], single: bool) -> list[tuple[GoldSpan, ...] | None]:
    """Validated gold spans per text (None where no gold was given)."""
    from nerlens.gold import check_gold

    if gold is None:
        return [None] * len(given)
    if single:
        return [check_gold(gold, given[0])]
    per_text = list(gold)
    if len(per_text) != len(given):
        raise InputError(
            f"for {len(given)} texts, pass gold as a list of {len(given)} span lists (or None)"
        )
    return [None if g is None else check_gold(g, t) for g, t in zip(per_text, given)]


def check_indexes(indexes: Iterable[int]) -> frozenset[int]:
    """``ignored_indexes`` as a set of ints."""
    indexes = list(indexes)
    bad = [i for i in indexes if isinstance(i, bool) or not isinstance(i, (int, np.integer))]
    if bad:
        raise InputError(f"ignored_indexes must be ints, got {bad!r}")
    return frozenset(int(i) for i in indexes)


def check_in_range(indexes: frozenset[int], num_tokens: int) -> None:
    """Ignored indexes must point at tokens of the text (checked before any computation)."""
    out_of_range = sorted(i for i in indexes if not 0 <= i < num_tokens)
    if out_of_range:
        raise InputError(
            f"ignored_indexes {out_of_range} are out of range for a text of "
            f"{num_tokens} tokens (valid: 0..{num_tokens - 1})"
        )
