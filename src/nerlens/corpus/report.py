"""The corpus report: one HTML page from the :class:`Corpus` queries (renders, never computes)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from nerlens.corpus.queries import Corpus

STYLE = (  # fits any window: tables wrap long cells, scroll inside their box, never the page
    "body{font-family:sans-serif;margin:2em auto;max-width:80em;padding:0 1em}"
    " table{border-collapse:collapse;max-width:100%}"
    " td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd;"
    "overflow-wrap:anywhere}"
    " h3{margin-top:1.5em} details{margin:0.5em 0;max-width:100%;overflow-x:auto}"
    " .pair{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(15em,100%),1fr));"
    "gap:1em 2em}"
    " .pair>div{min-width:0;overflow-x:auto} .pair td,.pair th{overflow-wrap:normal}"
    " .settings{color:#555;font-size:0.85em;white-space:pre-wrap;overflow-wrap:anywhere}"
)


def write_report(
    corpus: Corpus, path: str | Path, top: int = 10, examples: int = 20, min_count: int = 2
) -> Path:
    """Write the report of ``corpus`` to ``path``: overview, context per label, gold results.

    Context tokens and words seen fewer than ``min_count`` times are left out of the rankings
    (a word seen once says little about a label).
    """
    path = Path(path)
    sections = [_overview(corpus), _context(corpus, top, min_count)]
    if corpus.has_gold:
        sections.append(_gold(corpus, examples, path))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>nerlens corpus report</title>"
        f"<style>{STYLE}</style></head><body><h1>nerlens corpus report</h1>"
        + "".join(sections)
        + "</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _overview(corpus: Corpus) -> str:
    from nerlens.errors import CONVERGENCE_DELTA

    overview = corpus.overview().iloc[0]
    manifest = corpus.manifest
    facts = {
        "documents": int(overview["documents"]),
        "targets": int(overview["targets"]),
        f"targets with |delta| > {CONVERGENCE_DELTA:g} (scores not to be trusted)": int(
            overview["unconverged_targets"]
        ),
        "errors (bad records)": int(overview["errors"]),
        "shards finished": f"{int(overview['shards_finished'])} of "
        f"{int(overview['shards_planned'])}",
        "throughput": _rate(overview["docs_per_second"], overview["compute_seconds"]),
        "model": f"{manifest['model']} (weights sha256 {manifest['model_hash'][:12]}…)",
        "labels": ", ".join(manifest["labels"]),
        "input": f"{manifest['input']} (sha256 {manifest['input_hash'][:12]}…)",
        "versions": _versions(corpus),
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    settings = html.escape(json.dumps(manifest["settings"], indent=1))
    errors = corpus.sql("SELECT line, doc_id, message FROM errors ORDER BY record LIMIT 20")
    listed = f"<h3>Bad records (first 20)</h3>{_table(errors)}" if len(errors) else ""
    return (
        f"<h2>Overview</h2><table>{rows}</table>"
        f"<details><summary>settings</summary><p class='settings'>{settings}</p></details>{listed}"
    )


def _versions(corpus: Corpus) -> str:
    """The versions that computed the shards (with shard counts where they differ)."""
    sets = corpus.versions()
    if len(sets) <= 1:
        return ", ".join(f"{k} {v}" for k, v in corpus.manifest["versions"].items())
    rows = sets.to_dict("records")
    return "; ".join(
        ", ".join(f"{k} {v}" for k, v in row.items() if k != "shards")
        + f" ({row['shards']} shards)"
        for row in rows
    )


def _rate(rate: Any, seconds: float) -> str:
    if rate is None or rate != rate:  # None or NaN: nothing finished yet
        return "n/a"
    return f"{rate:.2f} documents/s over {seconds:.1f} s of compute (all workers)"


def _context(corpus: Corpus, top: int, min_count: int) -> str:
    parts = [
        "<h2>What drives each label</h2><p>Per target label: the context tokens and words with "
        "the highest mean and total attribution (the target's own tokens excluded; seen at least "
        f"{min_count} times). Attribution is in probability units: a token's share of the change "
        "in the target's probability.</p>"
    ]
    # (title, unit, segment): a zero-shot model's label prompt is context too
    kinds = [(f"{unit}s", unit, "text") for unit in ("token", "word")]
    if corpus.has_prompt:
        parts.append(
            "<p>The model read a label prompt: <i>label words</i> rank the prompt's labels by "
            "their attribution to the target (its own label among them).</p>"
        )
        kinds.append(("label words", "word", "prompt"))
    tables = {
        (title, order): corpus.top_context(unit, top, order, min_count, segment)
        for title, unit, segment in kinds
        for order in ("mean", "total")
    }
    labels = corpus.sql("SELECT DISTINCT label FROM targets ORDER BY label")["label"]
    for label in labels:
        cells = []
        for (title, order), frame in tables.items():
            rows = frame[frame["label"] == label].drop(columns=["label", "rank"])
            cells.append(f"<div><h4>{title} by {order}</h4>{_table(rows)}</div>")
        parts.append(f"<h3>{html.escape(label)}</h3><div class='pair'>{''.join(cells)}</div>")
    return "".join(parts)


def _gold(corpus: Corpus, examples: int, report: Path) -> str:
    """Scores, then each false positive/negative: inline table, linked interactive view.

    The views are written anew by every report (a view left by an earlier report may show
    another job's, or an earlier run's, numbers) and the earlier ones are deleted.
    """
    from nerlens.render import render_html

    views = report.with_name(f"{report.stem}_documents")
    for stale in views.glob("record-*.html"):
        stale.unlink()
    written: set[int] = set()
    scores = corpus.gold_scores()
    errors = corpus.gold_errors()
    parts = [
        "<h2>Against the gold labels (entity level: span and type must match)</h2>" + _table(scores)
    ]
    for kind in ("false positive", "false negative"):
        chosen = errors[errors["kind"] == kind]
        parts.append(f"<h3>{kind}s ({len(chosen)}; first {min(examples, len(chosen))})</h3>")
        for row in chosen.head(examples).itertuples(index=False):
            explanation = corpus.explanation(row.record, row.start, row.end)
            marked = (
                html.escape(explanation.text[: row.start])
                + f"<mark><b>{html.escape(row.span)}</b> <sub>{html.escape(row.label)}</sub></mark>"
                + html.escape(explanation.text[row.end :])
            )
            table = render_html(explanation).data if len(explanation) else "(no targets here)"
            view = views / f"record-{row.record}.html"
            if row.record not in written:
                views.mkdir(exist_ok=True)
                corpus.explanation(row.record).save_html(view)
                written.add(row.record)
            link = f"<a href='{html.escape(f'{views.name}/{view.name}')}'>interactive view</a>"
            parts.append(
                f"<details><summary>document {html.escape(str(row.doc_id))}: {marked} "
                f"({link})</summary>{table}</details>"
            )
    return "".join(parts)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0)
