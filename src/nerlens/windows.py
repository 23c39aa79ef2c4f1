"""Long documents: map overlapping model windows back onto the whole text's tokens.

Each token of the document is *owned* by the window in which it sits farthest from an edge, so it
is predicted and explained with the most context on both sides. A target is attributed to the
tokens of its owning window only; tokens outside that window get exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from nerlens.encoding import Encoding


@dataclass(frozen=True)
class Window:
    """One model input and where its tokens sit in the whole document."""

    encoding: Encoding
    document_positions: tuple[int, ...]  # per window token, its position in the document
    owned: tuple[int, ...]  # window positions whose prediction and targets this window serves


def plan_windows(document: Encoding, windows: list[Encoding]) -> list[Window]:
    """Align each window to the document by character offsets and assign ownership."""
    first_special = 0
    last_special = len(document) - 1
    by_offset = {
        offset: position
        for position, (offset, special) in enumerate(zip(document.offsets, document.special))
        if not special
    }
    planned: list[tuple[Encoding, tuple[int, ...]]] = []
    for window in windows:
        positions = []
        seen_content = False
        for offset, special in zip(window.offsets, window.special):
            if special:
                positions.append(last_special if seen_content else first_special)
            else:
                positions.append(by_offset[offset])
                seen_content = True
        planned.append((window, tuple(positions)))

    best: dict[int, tuple[int, int]] = {}  # document position -> (margin, window index)
    for w, (window, positions) in enumerate(planned):
        content = [i for i, special in enumerate(window.special) if not special]
        for rank, i in enumerate(content):
            margin = min(rank, len(content) - 1 - rank)
            if positions[i] not in best or margin > best[positions[i]][0]:
                best[positions[i]] = (margin, w)
    for position in (first_special, last_special):
        best[position] = (0, 0 if position == first_special else len(planned) - 1)

    return [
        Window(window, positions, tuple(i for i, p in enumerate(positions) if best[p][1] == w))
        for w, (window, positions) in enumerate(planned)
    ]
