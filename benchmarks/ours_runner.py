"""nerlens side of the benchmark: the same interface and JSON as ``reference_runner.py``.

Modes:
- ``compat``: ``nerlens.TokenClassificationExplainer`` with the reference's settings (50 steps,
  every selected position including special tokens), i.e. identical numbers;
- ``auto``: the native Explainer with ``n_steps="auto"`` and ``--tolerance``, same targets;
- ``batch``: the native Explainer on all texts in one call (special tokens not explained), with
  ``--n-steps`` (a number or ``auto``), timed as a whole, for sentences per second.

Each run is its own process, so ``peak_rss_mb`` is that run's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from nerlens import Explainer, TokenClassificationExplainer, load_model

WARMUP_TEXT = "A short warm-up sentence in Berlin."


def steps(value: str) -> int | str:
    return value if value == "auto" else int(value)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def explain(model, tokenizer, item: dict, args: argparse.Namespace):
    """Time one text; return the native Explanation."""
    ignored = item.get("ignored_indexes") or []
    start = time.perf_counter()
    if args.mode == "compat":
        explainer = TokenClassificationExplainer(model, tokenizer)
        explainer(item["text"], n_steps=args.n_steps, ignored_indexes=ignored)
        explanation = explainer.explanation
    else:
        explanation = Explainer(
            model, tokenizer, n_steps="auto", tolerance=args.tolerance, progress=False
        )(item["text"], ignored_indexes=ignored, include_special_tokens=True)
    return explanation, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", choices=("compat", "auto", "batch"), default="compat")
    parser.add_argument("--n-steps", type=steps, default=50)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.texts, encoding="utf-8") as handle:
        items = json.load(handle)
    model, tokenizer = load_model(args.model)
    explain(model, tokenizer, {"text": WARMUP_TEXT}, args)

    if args.mode == "batch":
        explainer = Explainer(
            model, tokenizer, n_steps=args.n_steps, tolerance=args.tolerance, progress=False
        )
        start = time.perf_counter()
        explanations = explainer([item["text"] for item in items])
        seconds = time.perf_counter() - start
        results = [
            {
                "seconds": seconds,
                "texts": len(items),
                "targets": sum(len(e) for e in explanations),
                "n_steps": args.n_steps,
                "max_abs_delta": max(float(abs(e.deltas).max()) for e in explanations if len(e)),
                "peak_rss_mb": peak_rss_mb(),
            }
        ]
    else:
        results = []
        for item in items:
            explanation, seconds = explain(model, tokenizer, item, args)
            results.append(
                {
                    "id": item["id"],
                    "seconds": seconds,
                    "tokens": list(explanation.tokens),
                    "positions": [t.position for t in explanation.targets],
                    "scores": explanation.scores.tolist(),
                    "deltas": explanation.deltas.tolist(),
                    "steps": explanation.steps.tolist(),
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"mode": args.mode, "results": results}, handle)


if __name__ == "__main__":
    main()
