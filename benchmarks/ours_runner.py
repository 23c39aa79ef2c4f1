"""nerlens side of the benchmark: the same interface and JSON as ``reference_runner.py``.

Modes:
- ``compat``: ``nerlens.TokenClassificationExplainer`` with the reference's settings (50 steps,
  every selected position including special tokens), i.e. identical numbers;
- ``auto``: the native Explainer with ``n_steps="auto"``, ``--tolerance`` and ``--criterion``
  (what the tolerance bounds), same targets;
- ``batch``: the native Explainer on all texts in one call (special tokens not explained), with
  ``--n-steps`` (a number or ``auto``), timed as a whole, for sentences per second;
- ``long``: the native Explainer on one long document in windows (``--context`` tokens, or the
  model's full length), entity targets, ``--method`` (IG with ``--n-steps``, default 50; the
  benchmark uses auto).

Each run is its own process, so ``peak_rss_mb`` is that run's peak resident memory. Every result
also holds the model passes it made (``passes``: forward and backward passes and their rows).
``NERLENS_BACKWARD=loop|batched`` in the environment picks the backward strategy.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from nerlens import Explainer, TokenClassificationExplainer, load_model
from nerlens.runner import count_passes

WARMUP_TEXT = "A short warm-up sentence in Berlin."


def steps(value: str) -> int | str:
    return value if value == "auto" else int(value)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def steps_options(args: argparse.Namespace, n_steps: int | str) -> dict:
    """Integrated Gradients' options: ``n_steps``, and with ``auto`` ``--tolerance`` and
    ``--criterion``."""
    if n_steps != "auto":
        return {"n_steps": n_steps}
    return {"n_steps": "auto", "tolerance": args.tolerance, "criterion": args.criterion}


def explain(model, tokenizer, item: dict, args: argparse.Namespace):
    """Time one text; return the native Explanation, the seconds and the passes made."""
    ignored = item.get("ignored_indexes") or []
    start = time.perf_counter()
    with count_passes() as passes:
        if args.mode == "compat":
            explainer = TokenClassificationExplainer(model, tokenizer)
            explainer(item["text"], n_steps=args.n_steps, ignored_indexes=ignored)
            explanation = explainer.explanation
        elif args.mode == "long":
            options = (
                {} if args.method != "integrated_gradients" else steps_options(args, args.n_steps)
            )
            explanation = Explainer(
                model, tokenizer, args.method, method_options=options,
                long_text="window", context=args.context, progress=False,
            )(item["text"], "entities")  # fmt: skip
        else:
            options = steps_options(args, "auto")
            explanation = Explainer(model, tokenizer, progress=False, **options)(
                item["text"], ignored_indexes=ignored, include_special_tokens=True
            )
    return explanation, time.perf_counter() - start, passes.as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", choices=("compat", "auto", "batch", "long"), default="compat")
    parser.add_argument("--n-steps", type=steps, default=50)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--criterion", choices=("tokens", "delta"), default="tokens")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=None, help="long mode: window tokens")
    parser.add_argument("--method", default="integrated_gradients", help="long mode: the method")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.texts, encoding="utf-8") as handle:
        items = json.load(handle)
    model, tokenizer = load_model(args.model)
    explain(model, tokenizer, {"text": WARMUP_TEXT}, args)

    if args.mode == "batch":
        explainer = Explainer(model, tokenizer, progress=False, **steps_options(args, args.n_steps))
        start = time.perf_counter()
        with count_passes() as passes:
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
                "passes": passes.as_dict(),
            }
        ]
    else:
        results = []
        for item in items:
            explanation, seconds, passes = explain(model, tokenizer, item, args)
            results.append(
                {
                    "id": item["id"],
                    "seconds": seconds,
                    "tokens": list(explanation.tokens),
                    "positions": [t.positions[0] for t in explanation.targets],
                    "scores": explanation.scores.tolist(),
                    "attributions": explanation.attributions.tolist(),
                    "deltas": explanation.deltas.tolist(),
                    "steps": explanation.steps.tolist(),
                    "peak_rss_mb": peak_rss_mb(),
                    "passes": passes,
                    "windows": explanation.settings["windows"],
                }
            )
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"mode": args.mode, "results": results}, handle)


if __name__ == "__main__":
    main()
