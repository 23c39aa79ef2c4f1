"""Choose ``n_steps="auto"``'s first rule and splitting rule by counting work on the demo model.

    python benchmarks/auto_rules.py --summary          # seed sentence and the 64-token text
    python benchmarks/auto_rules.py --texts seed --first 8 --segment 4

For each (first-rule nodes, nodes per half segment) it explains the texts at tolerance 1e-3 and
reports the passes and path rows (counts are exact on any machine, loaded or not), the nodes per
target and the largest |delta|. The cost column, forward rows plus backward rows (a backward row
costs about what a forward row does), is what the defaults minimise. ``--summary`` stores the
rows (without times) in ``results/summary.json``, where ``run.py`` reports them. About 40 minutes
for the whole grid on 2 idle cores (the 64-token text has 64 targets).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from nerlens import Explainer, load_model
from nerlens.methods import quadrature
from nerlens.runner import count_passes

HERE = Path(__file__).resolve().parent
TEXTS = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", nargs="+", default=["seed", "news64"])
    parser.add_argument("--first", type=int, nargs="+", default=[4, 6, 8, 12, 16])
    parser.add_argument("--segment", type=int, nargs="+", default=[2, 3, 4, 6])
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--summary", action="store_true", help="store the counts for run.py")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_model("demo")
    rows = []
    print("text first segment | forward backward fwd_rows bwd_rows cost | steps max|delta| s")
    for first in args.first:
        for segment in args.segment:
            quadrature.AUTO_FIRST_STEPS = first
            quadrature.AUTO_SEGMENT_STEPS = segment
            explainer = Explainer(
                model, tokenizer, n_steps="auto", tolerance=args.tolerance, progress=False
            )
            for name in args.texts:
                start = time.perf_counter()
                with count_passes() as passes:
                    explanation = explainer(TEXTS[name])
                seconds = time.perf_counter() - start
                row = {
                    "text": name,
                    "first": first,
                    "segment": segment,
                    **passes.as_dict(),
                    "cost_rows": passes.forward_rows + passes.backward_rows,
                    "mean_steps": float(explanation.steps.mean()),
                    "max_steps": int(explanation.steps.max()),
                    "max_abs_delta": float(np.abs(explanation.deltas).max()),
                    "seconds": seconds,
                }
                rows.append(row)
                print(
                    f"{name} {first} {segment} | {row['forward']} {row['backward']} "
                    f"{row['forward_rows']} {row['backward_rows']} {row['cost_rows']} | "
                    f"{row['mean_steps']:.1f}/{row['max_steps']} {row['max_abs_delta']:.1e} "
                    f"{seconds:.1f}",
                    flush=True,
                )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    if args.summary:
        summary_file = HERE / "results" / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
        summary["rules"] = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
        summary.setdefault("dates", {})["rules"] = time.strftime("%Y-%m-%d")
        summary_file.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
