"""Regenerate the method comparison in docs/guide.md (demo model, held-out sentences).

    python docs/compare_methods.py            # first 20 held-out sentences, ~4 minutes idle
    python docs/compare_methods.py --count 254

Prints a Markdown table. ``seconds`` are only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import nerlens

HELDOUT = Path(__file__).resolve().parents[1] / "training" / "data" / "heldout.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()[: args.count]
    texts = [" ".join(json.loads(line)["tokens"]) for line in lines]
    model, tokenizer = nerlens.load_model("demo")
    frame = nerlens.compare_methods(model, tokenizer, texts)
    print(f"{len(texts)} held-out sentences, {args.threads} threads\n")
    print("| method | options | seconds | comprehensiveness ↑ | sufficiency ↓ | targets |")
    print("|---|---|---|---|---|---|")
    for row in frame.itertuples(index=False):
        options = ", ".join(f"{k}={v}" for k, v in row.options.items()) or "-"
        print(f"| {row.method} | {options} | {row.seconds:.1f} | {row.comprehensiveness:.4f} | "
              f"{row.sufficiency:.4f} | {row.targets} |")  # fmt: skip


if __name__ == "__main__":
    main()
