"""The interactive view: the sentence with its entities; click a token to see what drove its label.

The page is self-contained (inline CSS and JS, no network request). The data is embedded once, as
JSON in a ``<script type="application/json">`` element; the script builds the DOM with text nodes
only, so no text of the explanation is ever parsed as markup. Scores are stored compactly: each
target's scores divided by its L2 norm and rounded to thousandths (integers), without leading and
trailing zeros, plus the norm, from which raw attributions are recovered to three significant
digits.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
import uuid
import webbrowser
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from nerlens.explanation import Explanation
from nerlens.render._common import DELTA_WARNING, delta_warning, display_token, token_names
from nerlens.render.html import HtmlPage
from nerlens.targets import target_to_dict

SCALE = 1000  # normalised scores are stored as integers in [-SCALE, SCALE]
PAYLOAD_VERSION = 1
SHOWN_SETTINGS = ("method", "n_steps", "model")


def view_payload(explanation: Explanation) -> dict[str, Any]:
    """Everything the interactive view shows, JSON-ready: subword and word levels (the word
    level is :meth:`Explanation.aggregate` ``("word")``; an aggregated Explanation has only its
    own level)."""
    levels = {"subword": _level(explanation)}
    if "aggregated" not in explanation.settings:
        levels["word"] = _level(explanation.aggregate("word"))
    settings = explanation.settings
    return {
        "version": PAYLOAD_VERSION,
        "text": explanation.text,
        "levels": levels,
        "scale": SCALE,
        "deltaWarning": DELTA_WARNING,
        "warning": delta_warning(explanation),
        "settings": {key: settings[key] for key in SHOWN_SETTINGS if key in settings},
    }


def _level(explanation: Explanation) -> dict[str, Any]:
    """One level (subwords or words): tokens, predictions, entities, targets and their scores."""
    norms = np.linalg.norm(explanation.attributions, axis=1)
    scaled = np.rint(explanation.scores * SCALE).astype(np.int64)
    shown = [display_token(t) for t in explanation.tokens]
    return {
        "tokens": shown,
        "names": token_names(explanation.tokens),
        "offsets": [list(o) for o in explanation.offsets],
        "special": [int(s) for s in explanation.special],
        "labels": list(explanation.predicted_labels),
        "probs": _rounded(explanation.predicted_probabilities, 3),
        "entities": [[e.token_start, e.token_end, e.entity_group] for e in explanation.entities],
        "targets": [
            {
                **target_to_dict(target),
                "text": target.describe(shown),
                "p": round(explanation.row(i).probability, 4),
                "delta": _significant(explanation.deltas[i]),
                "norm": float(f"{norms[i]:.6g}"),
            }
            for i, target in enumerate(explanation.targets)
        ],
        "scores": [_packed(row) for row in scaled],
    }


def _packed(row: np.ndarray) -> list[int]:
    """``[first, v_first, ..., v_last]``: the row without its leading and trailing zeros (a
    window of a long document scores only its own tokens); ``[0]`` for an all-zero row."""
    nonzero = np.flatnonzero(row)
    if not len(nonzero):
        return [0]
    first, last = int(nonzero[0]), int(nonzero[-1])
    return [first, *row[first : last + 1].tolist()]


def _significant(value: float) -> float | None:
    """Three significant digits; None for NaN (methods without a convergence delta)."""
    return None if math.isnan(value) else float(f"{value:.3g}")


def _rounded(values: np.ndarray, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` survives as such."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def asset(name: str) -> str:
    """The text of a file shipped in ``nerlens/render/`` (the view's CSS and JS)."""
    return files("nerlens.render").joinpath(name).read_text(encoding="utf-8")


def component(payload: dict[str, Any] | None = None) -> str:
    """The view's markup for one rendering, with its own id; ``payload=None`` leaves it empty.

    An empty component is filled later by ``window.nerlensView.mount(root, payload)`` (the web app
    does this after each request).
    """
    root = f"nerlens-{uuid.uuid4().hex[:12]}"
    data = (
        f'<script type="application/json" id="{root}-data">{script_json(payload)}</script>'
        if payload is not None
        else ""
    )
    mount = (
        f"<script>window.nerlensView.mount(document.getElementById('{root}'),"
        f"JSON.parse(document.getElementById('{root}-data').textContent));</script>"
        if payload is not None
        else ""
    )
    return (
        f"<style>{asset('interactive.css')}</style>"
        f'<div class="nerlens" id="{root}"><noscript>This view needs JavaScript.</noscript></div>'
        f"{data}<script>{asset('interactive.js')}</script>{mount}"
    )


def render_interactive(explanation: Explanation, *, full_page: bool = False) -> HtmlPage:
    """The interactive view of ``explanation``: a notebook fragment, or a standalone page."""
    body = component(view_payload(explanation))
    return HtmlPage(standalone_page("nerlens explanation", body) if full_page else body)


def standalone_page(title: str, body: str) -> str:
    """A complete HTML document around ``body`` that loads nothing from the network."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'\">"
        f"<title>{html.escape(title)}</title></head><body class='nerlens-page'>{body}</body></html>"
    )


def show(explanation: Explanation) -> Path | None:
    """Display inline when running in a notebook kernel; otherwise open a temporary standalone
    page in the web browser and return its path."""
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import HTML, display

        display(HTML(render_interactive(explanation).data))
        return None
    handle, name = tempfile.mkstemp(prefix="nerlens-", suffix=".html")
    os.close(handle)
    path = render_interactive(explanation, full_page=True).save(name)
    webbrowser.open(path.resolve().as_uri())
    return path
