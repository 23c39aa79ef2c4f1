"""The interactive view: the sentence with its entities; click a token to see what drove its label.

The page is self-contained (inline CSS and JS, no network request). The data is embedded once, as
JSON in a ``<script type="application/json">`` element; the script builds the DOM with text nodes
only, so no text of the explanation is ever parsed as markup. Scores are stored compactly: each
target's scores divided by its L2 norm and rounded to thousandths (integers), without leading and
trailing zeros, plus the norm, from which raw attributions are recovered to three significant
digits.

Tokens are shown as words written in the text by default (the "words" toggle; off: the
tokenizer's pieces). Where JavaScript does not run (an untrusted notebook, GitHub, nbviewer), the
rendering carries a static view of the default target, built from the same payload with inline
styles only: the sentence coloured, the entity chips, and the top tokens for and against. The
script replaces it when it runs.
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
from nerlens.render._common import (
    DELTA_WARNING,
    View,
    compare_gold,
    delta_warning,
    display_token,
    shown_level,
    target_label,
    target_text,
    token_names,
)
from nerlens.render.html import HtmlPage
from nerlens.targets import target_to_dict

SCALE = 1000  # normalised scores are stored as integers in [-SCALE, SCALE]
PAYLOAD_VERSION = 2
SHOWN_SETTINGS = ("method", "n_steps", "model")
KIND_ORDER = ("token", "entity", "contrast")  # a token shows the first target of the first kind
TOP = 5  # tokens listed for and against a label (as interactive.js lists them)
RED, BLUE, WHITE = (178, 24, 43), (33, 102, 172), (247, 247, 247)  # as interactive.js colours


def view_payload(explanation: Explanation) -> dict[str, Any]:
    """Everything the interactive view shows, JSON-ready: subword and word levels (the word
    level is :meth:`Explanation.aggregate` ``("word")``, shown first; an aggregated Explanation
    has only its own level), and the comparison with the gold when the explanation has one."""
    levels = {"subword": _level(explanation, explanation, "tokens")}
    words = shown_level(explanation, "words")
    if words is not explanation:
        levels["word"] = _level(words, explanation, "words")
    settings = explanation.settings
    comparison = compare_gold(explanation)
    return {
        "version": PAYLOAD_VERSION,
        "text": explanation.text,
        "levels": levels,
        "level": "word" if "word" in levels else "subword",
        "scale": SCALE,
        "deltaWarning": DELTA_WARNING,
        "warning": delta_warning(explanation),
        "settings": {key: settings[key] for key in SHOWN_SETTINGS if key in settings},
        "gold": None
        if comparison is None
        else {
            "missed": [[g.start, g.end, g.label] for g in comparison.missed],
            "spurious": list(comparison.spurious),
        },
    }


def _level(explanation: Explanation, original: Explanation, view: View) -> dict[str, Any]:
    """One level (subwords or words): tokens, predictions, entities, targets and their scores;
    targets are named from ``original`` (the token-level explanation) as ``view`` shows them."""
    norms = np.linalg.norm(explanation.attributions, axis=1)
    scaled = np.rint(explanation.scores * SCALE).astype(np.int64)
    targets = [
        {
            **target_to_dict(target),
            "text": f"{target_text(original, source, view)} → {target_label(source)}",
            "p": round(explanation.row(i).probability, 4),
            "delta": _significant(explanation.deltas[i]),
            "norm": float(f"{norms[i]:.6g}"),
            "correct": None if explanation.correct is None else explanation.correct[i],
        }
        for i, (target, source) in enumerate(zip(explanation.targets, original.targets))
    ]
    entities = [[e.token_start, e.token_end, e.entity_group] for e in explanation.entities]
    return {
        "tokens": [display_token(t) for t in explanation.tokens],
        "names": token_names(explanation.tokens),
        "offsets": [list(o) for o in explanation.offsets],
        "special": [int(s) for s in explanation.special],
        "labels": list(explanation.predicted_labels),
        "probs": _rounded(explanation.predicted_probabilities, 3),
        "entities": entities,
        "targets": targets,
        "initial": _initial(targets, entities),
        "scores": [_packed(row) for row in scaled],
    }


def _initial(targets: list[dict[str, Any]], entities: list[list[Any]]) -> int:
    """The target shown first: the one a click on the first explained entity shows (the first
    target of the first kind in :data:`KIND_ORDER` covering it), else the first; -1: none."""
    for start, _, _ in entities:
        covering = [
            (KIND_ORDER.index(t["kind"]), i)
            for i, t in enumerate(targets)
            if start in _positions(t)
        ]
        if covering:
            return min(covering)[1]
    return 0 if targets else -1


def _positions(target: dict[str, Any]) -> range:
    if target["kind"] == "entity":
        return range(target["start"], target["end"])
    return range(target["position"], target["position"] + 1)


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


def static_view(payload: dict[str, Any]) -> str:
    """The default target without JavaScript, from the payload the script reads (inline styles,
    which notebook viewers keep): the sentence coloured by its scores, entity chips, and the
    top tokens for and against its label."""
    level = payload["levels"][payload["level"]]
    chosen = level["initial"]
    if chosen < 0:
        return _note("No targets were explained.")
    target = level["targets"][chosen]
    row = _unpacked(level["scores"][chosen], len(level["tokens"]))
    values = [v / payload["scale"] for v in row]
    head = (
        f"<div style='font-size:15px;margin:6px 0 2px'><b>{html.escape(target['text'])}</b>"
        f" &nbsp;p = {target['p']:.3f}{_verdict(target['correct'])}</div>"
    )
    lists = "".join(
        _static_list(level, values, sign, f"top tokens {word} {target['label']}")
        for sign, word in ((1, "for"), (-1, "against"))
    )
    return (
        f"<div class='nl-static'>{_static_sentence(payload, level, values, target)}{head}"
        f"<div style='display:flex;flex-wrap:wrap;gap:4px 28px'>{lists}</div>"
        + _note(
            "A static view of one target: where JavaScript runs (a trusted notebook, a saved "
            "page opened in a browser) every target can be picked."
        )
        + "</div>"
    )


def _static_sentence(
    payload: dict[str, Any], level: dict[str, Any], values: list[float], target: dict[str, Any]
) -> str:
    """The text with every unit coloured by ``values`` and each predicted entity chipped."""
    text, cursor, parts = payload["text"], 0, []
    ends = {end - 1: label for _, end, label in level["entities"]}
    marked = set(_positions(target))
    for i, token in enumerate(level["tokens"]):
        start, end = level["offsets"][i]
        if level["special"][i]:
            surface = token
        else:
            parts.append(html.escape(text[cursor:start]))
            surface = text[max(start, cursor) : end] or token
            cursor = max(cursor, end)
        ring = "box-shadow:0 0 0 2px #111;" if i in marked else ""
        dark = "color:#fff;" if abs(values[i]) > 0.55 else "color:#1f2933;"
        small = "font-size:11px;margin:0 3px;" if level["special"][i] else ""
        parts.append(
            f"<span data-static-index='{i}' title='{values[i]:+.3f}' style='background-color:"
            f"{colour(values[i])};{dark}{ring}{small}border-radius:3px;padding:1px 0'>"
            f"{html.escape(surface)}</span>"
        )
        if i in ends:
            parts.append(
                "<span class='nl-chip' style='font-size:10px;font-weight:700;color:#fff;"
                "background:#3e4c59;border-radius:3px;padding:0 4px;margin-left:3px'>"
                f"{html.escape(ends[i])}</span>"
            )
    parts.append(html.escape(text[cursor:]))
    return (
        f"<div style='font-size:16px;line-height:2.1;white-space:pre-wrap'>{''.join(parts)}</div>"
    )


def _static_list(level: dict[str, Any], values: list[float], sign: int, title: str) -> str:
    order = sorted(
        (i for i, v in enumerate(values) if sign * v > 0), key=lambda i: -sign * values[i]
    )
    colour_of = f"rgb{RED if sign > 0 else BLUE}".replace(" ", "")
    items = "".join(
        f"<li>{html.escape(level['names'][i])} <span style='color:{colour_of}'>"
        f"{'+' if values[i] > 0 else '−'}{abs(values[i]):.3f}</span></li>"
        for i in order[:TOP]
    )
    body = f"<ol style='margin:2px 0'>{items}</ol>" if items else "<div><i>none</i></div>"
    return f"<div><div style='font-size:12px;color:#52606d'>{html.escape(title)}</div>{body}</div>"


def _verdict(correct: bool | None) -> str:
    if correct is None:
        return ""
    return (
        " &nbsp;<b style='color:#1a7f37'>✓ right</b>"
        if correct
        else (" &nbsp;<b style='color:#9b1c1c'>✗ wrong</b>")
    )


def _note(text: str) -> str:
    return f"<div style='font-size:11px;color:#7b8794;margin-top:4px'>{html.escape(text)}</div>"


def _unpacked(packed: list[int], length: int) -> list[int]:
    """A stored row back to full length (as interactive.js reads it)."""
    row = [0] * length
    row[packed[0] : packed[0] + len(packed) - 1] = packed[1:]
    return row


def colour(value: float) -> str:
    """The diverging colour of a score in [-1, 1], as interactive.js draws it."""
    weight = min(1.0, abs(value))
    end = RED if value >= 0 else BLUE
    rgb = (round(w + (e - w) * weight) for w, e in zip(WHITE, end))
    return f"rgb({','.join(map(str, rgb))})"


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
        f'<div class="nerlens" id="{root}">{static_view(payload) if payload else ""}</div>'
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
