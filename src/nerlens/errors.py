"""The exceptions nerlens raises for bad input: each names the bad value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence


class InputError(ValueError):
    """A user-supplied value is not acceptable; the message says which and what to pass instead.

    ``option`` names the option at fault where one is (see :class:`OptionError`), else None.
    """

    option: str | None = None


class OptionError(InputError):
    """A bad option value. ``option`` is its declared name (:mod:`nerlens.options`); the message
    may name other options too (``names``). :meth:`worded` spells every such name as an entry
    point spells it (``--n-steps`` on the command line), so no entry point re-checks values."""

    def __init__(self, template: str, option: str, names: Sequence[str] = ()) -> None:
        # option names as {name}, " or None" (where None is allowed) as {or_none}; braces of
        # values doubled
        self.template = template
        self.option = option
        self.names = (option, *names)
        super().__init__(self.worded(str))

    def worded(self, spell: Callable[[str], str], unset: str | None = "None") -> str:
        """The message with each option name as ``spell`` writes it, and the value that leaves
        an option unset as ``unset`` (None: an entry point where leaving it out unsets it)."""
        none = "" if unset is None else f" or {unset}"
        return self.template.format_map({"or_none": none} | {n: spell(n) for n in self.names})


def shown(value: object) -> str:
    """``repr(value)`` made safe inside an :class:`OptionError` template."""
    return repr(value).replace("{", "{{").replace("}", "}}")


def is_int_at_least(value: object, minimum: int) -> bool:
    """Whether ``value`` is an int (a bool is not) of at least ``minimum``: the check of every
    count option (steps, threads, samples, token counts)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class TextTooLongError(InputError):
    """The text needs more tokens than the model accepts and windowing was not requested."""

    def __init__(self, num_tokens: int, max_length: int, unit: str = "tokens") -> None:
        self.num_tokens = num_tokens
        self.max_length = max_length
        counted = "tokens long (special tokens included)" if unit == "tokens" else f"{unit} long"
        super().__init__(
            f"text is {num_tokens} {counted} but the model accepts at "
            f"most {max_length}; pass a shorter text, or explain it in sliding windows "
            "(Explainer(..., long_text='window'); CLI: --long-text window)"
        )


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message names the way out."""


class HubUnreachableError(ModelLoadError):
    """A hub id was asked for, the hub cannot be reached, and the model is not in the cache."""

    def __init__(self, name: str, endpoint: str) -> None:
        self.name = name
        self.endpoint = endpoint
        super().__init__(
            f"cannot reach the Hugging Face hub ({endpoint}) and {name!r} is not in the local "
            "cache; use model 'demo' (bundled), a local directory saved with save_pretrained(), "
            "or download it once and set HF_HUB_OFFLINE=1"
        )


CONVERGENCE_DELTA = 1e-2  # a |convergence delta| above this means the scores are not to be trusted


class ConvergenceWarning(UserWarning):
    """Some targets' attributions do not add up to their change in probability (too few steps)."""


def unconverged(deltas: Sequence[float]) -> str | None:
    """The :class:`ConvergenceWarning` text for targets' convergence deltas, or None when every
    |delta| is within :data:`CONVERGENCE_DELTA` (NaN: no completeness claim, never counted)."""
    sizes = [abs(delta) for delta in deltas if not math.isnan(delta)]
    bad = [size for size in sizes if size > CONVERGENCE_DELTA]
    if not bad:
        return None
    return (
        f"{len(bad)} of {len(deltas)} targets have |convergence delta| > "
        f"{CONVERGENCE_DELTA:g} (worst {max(bad):.2g}): their scores do not add up to the "
        'change in probability; use more steps or n_steps="auto"'
    )
