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

Models whose outputs are per span of words (:attr:`Encoding.units
<nerlens.encoding.Encoding.units>`) are served the same way, unit by unit: a unit is owned by the
window where its worst-placed token has the most context, and a model that counts words
(``word_limit``) gets windows cut between words, of at most that many words, each with the
model's template (a label prompt included) around it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
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
    document_units: tuple[int, ...]  # per unit (output row) of the window, the document's unit
    owned: tuple[int, ...] = ()  # window units whose prediction this window serves

    def local_terms(self, terms: tuple[Term, ...]) -> tuple[Term, ...]:
        """A target's ``terms`` with its document units turned into this window's."""
        return tuple((self.local_unit(u), label, c) for u, label, c in terms)

    def local_unit(self, unit: int) -> int:
        """The row of document unit ``unit`` in this window's outputs."""
        return self._local[unit]

    @cached_property
    def _local(self) -> dict[int, int]:
        return {u: i for i, u in enumerate(self.document_units)}

    def margin(self, start: int, stop: int) -> int | None:
        """The context of the worst-placed of document tokens ``[start, stop)`` here, or None
        when this window cannot explain all of them."""
        if not all(p in self.context for p in range(start, stop)):
            return None
        return min(self.context[p] for p in range(start, stop))


def plan_windows(
    document: Encoding, max_length: int, stride: int, word_limit: int | None = None
) -> list[Window]:
    """The windows that cover ``document``: one if it fits in ``max_length`` tokens (and
    ``word_limit`` words), else overlapping windows of at most that many that share about
    ``stride`` content tokens (cut between words when ``word_limit`` is given)."""
    first, last = document.content
    capacity = _capacity(document, max_length)
    cuts = _Cuts(document, word_limit)
    if len(document) <= max_length and cuts.fits(first, last):
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
            stop = cuts.stop(start, min(start + capacity, last))
            slices.append((start, stop))
            start = cuts.start(stop - stride, after=start, stop=stop)
    windows = [
        _window(document, a, b, keeps_start=w == 0, keeps_end=w == len(slices) - 1)
        for w, (a, b) in enumerate(slices)
    ]
    owner: dict[int, tuple[int, int]] = {}  # document unit -> (its best margin, window)
    for w, window in enumerate(windows):
        for unit in window.document_units:
            margin = window.margin(*document.units[unit])
            if margin is not None and (unit not in owner or margin > owner[unit][0]):
                owner[unit] = (margin, w)
    return [
        replace(
            window,
            owned=tuple(
                i
                for i, unit in enumerate(window.document_units)
                if owner.get(unit, (0, -1))[1] == w
            ),
        )
        for w, window in enumerate(windows)
    ]


class _Cuts:
    """Where windows of ``document`` may start and stop: anywhere, or between words and with
    at most ``word_limit`` words when the model counts words."""

    def __init__(self, document: Encoding, word_limit: int | None) -> None:
        self.word_limit = word_limit
        first, last = document.content
        self.word_starts = [
            p
            for p in range(first, last)
            if p == first or document.word_ids[p] != document.word_ids[p - 1]
        ] + [last]

    def fits(self, start: int, stop: int) -> bool:
        """Whether tokens ``[start, stop)`` hold at most ``word_limit`` words."""
        if self.word_limit is None:
            return True
        return bisect_left(self.word_starts, stop) - bisect_left(self.word_starts, start) <= (
            self.word_limit
        )

    def stop(self, start: int, stop: int) -> int:
        """``stop`` moved back to a word's start and to ``word_limit`` words from ``start``."""
        if self.word_limit is None:
            return stop
        first_word = bisect_left(self.word_starts, start)
        limit = self.word_starts[min(first_word + self.word_limit, len(self.word_starts) - 1)]
        stop = min(stop, limit)
        at_word = self.word_starts[bisect_right(self.word_starts, stop) - 1]
        if at_word <= start:
            raise InputError(
                f"a word of the text (from token {start}) is longer than a model window"
            )
        return at_word

    def start(self, start: int, after: int, stop: int | None = None) -> int:
        """``start`` moved back to a word's start, past ``after``: a window that ends at
        ``stop`` is followed by one that starts at most half way through it (word windows may
        be shorter than ``stride`` tokens)."""
        if self.word_limit is None:
            return start
        if stop is not None:
            start = max(start, (after + stop) // 2)
        at_word = self.word_starts[max(bisect_right(self.word_starts, start) - 1, 0)]
        if at_word > after:
            return at_word
        return self.word_starts[bisect_right(self.word_starts, after)]


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
    document: Encoding,
    targets: Sequence[Target],
    windows: list[Window],
    max_length: int,
    word_limit: int | None = None,
) -> list[int]:
    """Each target's home window, by :func:`home_window`. A target that no planned window holds
    whole (an entity across a boundary wider than the windows' overlap) gets a window of at most
    ``max_length`` tokens (and ``word_limit`` words) centred on it (:func:`window_around`),
    appended to ``windows``; such added windows serve only those targets."""
    planned = len(windows)
    homes = []
    for target in targets:
        home = home_window(target.positions, windows[:planned])
        if home is None:
            extra = home_window(target.positions, windows[planned:])
            home = len(windows) if extra is None else planned + extra
        if home == len(windows):
            windows.append(window_around(document, target.positions, max_length, word_limit))
        homes.append(home)
    return homes


def owned_probabilities(
    windows: Sequence[Window], inputs: Sequence[ModelInput], shape: tuple[int, int]
) -> np.ndarray:
    """Every unit's probabilities (``shape``: the document's units × labels, float64), each
    from the window that owns it; ``inputs`` are the windows' model inputs."""
    probabilities = np.zeros(shape)
    for window, model_input in zip(windows, inputs):
        owned = list(window.owned)
        document_units = [window.document_units[i] for i in owned]
        probabilities[document_units] = model_input.input_probs[owned].double().cpu().numpy()
    return probabilities


def probabilities_from_homes(
    probabilities: np.ndarray,
    units: Sequence[Sequence[int]],
    homes: Sequence[int],
    windows: Sequence[Window],
    inputs: Sequence[ModelInput],
) -> bool:
    """Make each target's probabilities those of its home window, in place; True if any moved.

    ``probabilities`` hold each unit's probabilities from the window that owns it
    (:func:`owned_probabilities`); ``units`` are each target's units (rows) and ``inputs`` the
    windows' model inputs. A target whose units are owned by other windows than its home (an
    entity across a window boundary) takes the probabilities of all its units from its home
    instead, so that its probability and its explained value are computed on the same input.
    """
    owner = {window.document_units[i]: w for w, window in enumerate(windows) for i in window.owned}
    changed = False
    for target_units, home in zip(units, homes):
        moved = [u for u in target_units if owner.get(u) != home]
        if moved:
            local = [windows[home].local_unit(u) for u in moved]
            probabilities[moved] = inputs[home].input_probs[local].double().cpu().numpy()
            changed = True
    return changed


def window_around(
    document: Encoding, positions: Sequence[int], max_length: int, word_limit: int | None = None
) -> Window:
    """A window centred on ``positions``, for a target that no planned window holds whole."""
    first, last = document.content
    low, high = min(positions), max(positions) + 1
    capacity = _capacity(document, max_length)
    cuts = _Cuts(document, word_limit)
    if low < first or high > last or high - low > capacity or not cuts.fits(low, high):
        raise InputError(
            f"a target on tokens {low}..{high - 1} cannot be explained in one model window: "
            f"the model takes {capacity} text tokens at most"
            + ("" if word_limit is None else f" and {word_limit} words")
            + ("" if high - low > capacity else ", and the target includes template tokens")
        )
    start = max(first, min(low - (capacity - (high - low)) // 2, last - capacity))
    start = min(cuts.start(start, after=first - 1), low)
    stop = cuts.stop(start, min(start + capacity, last))
    if stop < high:  # the words before the target took its room: start at the target
        start, stop = low, cuts.stop(low, min(low + capacity, last))
    return _window(document, start, stop, False, False)


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
    document_units = tuple(
        document.unit_index[(positions[a], positions[b - 1] + 1)] for a, b in encoding.units
    )
    return Window(encoding, positions, context, document_units)
