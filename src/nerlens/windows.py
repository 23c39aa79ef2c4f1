"""Long documents: model windows cut from the document's own tokens, and what each one serves.

The text is tokenised once. A window is a slice of the document's content tokens wrapped in the
tokenizer's template tokens ([CLS] … [SEP], <s> … </s>), so where each window token sits in the
document is known by construction: tokens are never matched by their character offsets, which
several tokens can share (an emoji split into byte tokens, a bare Metaspace "▁"). Consecutive
windows share ``stride`` tokens, as the HF pipeline's ``stride`` does.

Each token of the document is *owned* by the window in which it sits farthest from an edge (the
first such window on a tie): it is predicted there, with the most context on both sides. Each
target is explained in one window, its *home*: among the windows that hold all of its tokens, the
one that gives the worst-placed of them the most context. For a one-token target that is its
owner. A target that no window holds whole (an entity across a boundary, wider than the overlap)
gets one more window, centred on it. A target is attributed only to the tokens of its home
window; the others get exactly 0. The explainer takes the probabilities of all of a target's
tokens from its home, so that an entity's probability and its value come from one window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from nerlens.encoding import Encoding
from nerlens.errors import InputError
from nerlens.targets import Target, Term

if TYPE_CHECKING:
    from nerlens.model_input import ModelInput


@dataclass(frozen=True)
class Window:
    """One model input and where its tokens sit in the whole document."""

    encoding: Encoding
    document_positions: tuple[int, ...]  # per window token, its position in the document
    # document position -> tokens of context on its nearer side, for each token this window can
    # explain: its content tokens, plus the template tokens when it is the first/last window
    context: Mapping[int, int]
    owned: tuple[int, ...] = ()  # window positions whose prediction this window serves

    def local_terms(self, terms: tuple[Term, ...]) -> tuple[Term, ...]:
        """A target's ``terms`` with its document positions turned into this window's."""
        return tuple((self._local[p], label, c) for p, label, c in terms)

    @cached_property
    def _local(self) -> dict[int, int]:
        return {p: i for i, p in enumerate(self.document_positions)}


def plan_windows(document: Encoding, max_length: int, stride: int) -> list[Window]:
    """The windows that cover ``document``: one if it fits in ``max_length`` tokens, else
    overlapping windows of at most ``max_length`` tokens that share ``stride`` content tokens."""
    first, last = document.content
    capacity = _capacity(document, max_length)
    if len(document) <= max_length:
        slices = [(first, last)]
    else:
        if capacity < 2:
            raise InputError(
                f"max_length={max_length} leaves no room for text tokens next to the "
                f"{len(document) - (last - first)} template tokens"
            )
        if not 0 <= stride < capacity:
            raise InputError(
                f"stride={stride} must be >= 0 and smaller than the model's length minus its "
                f"{len(document) - (last - first)} template tokens ({capacity})"
            )
        slices = []
        start = first
        while not slices or slices[-1][1] < last:
            slices.append((start, min(start + capacity, last)))
            start += capacity - stride
    windows = [
        _window(document, a, b, keeps_start=w == 0, keeps_end=w == len(slices) - 1)
        for w, (a, b) in enumerate(slices)
    ]
    owner: dict[int, int] = {}
    for w, window in enumerate(windows):
        for position, margin in window.context.items():
            if position not in owner or margin > windows[owner[position]].context[position]:
                owner[position] = w
    return [
        replace(
            window,
            owned=tuple(i for i, p in enumerate(window.document_positions) if owner.get(p) == w),
        )
        for w, window in enumerate(windows)
    ]


def home_window(positions: Sequence[int], windows: Sequence[Window]) -> int | None:
    """The window that explains a target on ``positions`` (see the module doc), or None when no
    window holds all of them."""
    best: tuple[int, int] | None = None  # (context of the worst-placed token, window index)
    for w, window in enumerate(windows):
        if all(p in window.context for p in positions):
            worst = min(window.context[p] for p in positions)
            if best is None or worst > best[0]:
                best = (worst, w)
    return None if best is None else best[1]


def assign_homes(
    document: Encoding, targets: Sequence[Target], windows: list[Window], max_length: int
) -> list[int]:
    """Each target's home window, by :func:`home_window`. A target that no planned window holds
    whole (an entity across a boundary wider than the windows' overlap) gets a window of at most
    ``max_length`` tokens centred on it (:func:`window_around`), appended to ``windows``; such
    added windows serve only those targets."""
    planned = len(windows)
    homes = []
    for target in targets:
        home = home_window(target.positions, windows[:planned])
        if home is None:
            extra = home_window(target.positions, windows[planned:])
            home = len(windows) if extra is None else planned + extra
        if home == len(windows):
            windows.append(window_around(document, target.positions, max_length))
        homes.append(home)
    return homes


def owned_probabilities(
    windows: Sequence[Window], inputs: Sequence[ModelInput], shape: tuple[int, int]
) -> np.ndarray:
    """Every token's probabilities (``shape``: the document's tokens × labels, float64), each
    from the window that owns it; ``inputs`` are the windows' model inputs."""
    probabilities = np.zeros(shape)
    for window, model_input in zip(windows, inputs):
        owned = list(window.owned)
        doc_positions = [window.document_positions[i] for i in owned]
        probabilities[doc_positions] = model_input.input_probs[owned].double().cpu().numpy()
    return probabilities


def probabilities_from_homes(
    probabilities: np.ndarray,
    targets: Sequence[Target],
    homes: Sequence[int],
    windows: Sequence[Window],
    inputs: Sequence[ModelInput],
) -> bool:
    """Make each target's probabilities those of its home window, in place; True if any moved.

    ``probabilities`` hold each token's probabilities from the window that owns it
    (:func:`owned_probabilities`); ``inputs`` are the windows' model inputs. A target whose
    tokens are owned by other windows than its home (an entity across a window boundary) takes
    the probabilities of all its tokens from its home instead, so that its probability and its
    explained value are computed on the same model input.
    """
    owner = {
        window.document_positions[i]: w for w, window in enumerate(windows) for i in window.owned
    }
    changed = False
    for target, home in zip(targets, homes):
        moved = [p for p in target.positions if owner.get(p) != home]
        if moved:
            local = [windows[home].document_positions.index(p) for p in moved]
            probabilities[moved] = inputs[home].input_probs[local].double().cpu().numpy()
            changed = True
    return changed


def window_around(document: Encoding, positions: Sequence[int], max_length: int) -> Window:
    """A window centred on ``positions``, for a target that no planned window holds whole."""
    first, last = document.content
    low, high = min(positions), max(positions) + 1
    capacity = _capacity(document, max_length)
    if low < first or high > last or high - low > capacity:
        raise InputError(
            f"a target on tokens {low}..{high - 1} cannot be explained in one model window: "
            f"the model takes {capacity} text tokens at most"
            + ("" if high - low > capacity else ", and the target includes template tokens")
        )
    start = max(first, min(low - (capacity - (high - low)) // 2, last - capacity))
    return _window(document, start, min(start + capacity, last), False, False)


def _capacity(document: Encoding, max_length: int) -> int:
    """How many content tokens fit in one window next to the template tokens."""
    first, last = document.content
    return max_length - (len(document) - (last - first))


def _window(
    document: Encoding, start: int, stop: int, keeps_start: bool, keeps_end: bool
) -> Window:
    encoding, positions = document.window(start, stop)
    first, last = document.content
    context = {p: min(p - start, stop - 1 - p) for p in range(start, stop)}
    if keeps_start:
        context.update(dict.fromkeys(range(first), 0))
    if keeps_end:
        context.update(dict.fromkeys(range(last, len(document)), 0))
    return Window(encoding, positions, context)
