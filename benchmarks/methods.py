"""Methods benchmark: occlusion (and every other method) vs the reference's Integrated Gradients.

The case the issue sets: the demo model, every token target of the seed sentence (special tokens
included, as the reference explains them). The reference is transformers-interpret 0.10.0 in its
isolated venv (``benchmarks/reference_env.sh``), timed by ``reference_runner.py`` (best of
``--repeats``, after a warm-up); nerlens methods are timed here the same way, in one process
with the same thread count. Occlusion must be at least 50x faster than the reference.

    python benchmarks/methods.py                      # full run, ~2 minutes idle on 2 cores
    python benchmarks/methods.py --skip-reference     # nerlens side only (smoke test)

Writes ``benchmarks/results/methods.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from nerlens import Explainer, load_model

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
RESULTS = HERE / "results"
SEED_TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."
WARMUP_TEXT = "A short warm-up sentence in Berlin."
TARGET_SPEEDUP = 50.0
METHODS: list[tuple[str, dict]] = [
    ("occlusion", {}),
    ("saliency", {}),
    ("gradient_x_input", {}),
    ("lime", {}),
    ("shapley_sampling", {}),
    ("integrated_gradients", {"n_steps": "auto"}),
    ("integrated_gradients", {"n_steps": 50}),
]


def demo_dir() -> Path:
    """The demo model saved once where the reference venv can load it."""
    path = WORK / "models" / "demo"
    if not (path / "config.json").exists():
        model, tokenizer = load_model("demo")
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def reference_seconds(python: str, model: Path, repeats: int, threads: int) -> dict:
    """The reference's best-of-``repeats`` time for every token of the seed sentence."""
    texts = WORK / "methods-texts.json"
    out = WORK / "methods-reference.json"
    texts.write_text(json.dumps([{"id": "seed", "text": SEED_TEXT, "ignored_indexes": None,
                                  "ignored_labels": None}]))  # fmt: skip
    command = [python, str(HERE / "reference_runner.py"), "--model", str(model), "--texts",
               str(texts), "--out", str(out), "--repeats", str(repeats), "--threads",
               str(threads)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())["results"][0]
    return {"seconds": result["seconds"], "targets": len(result["positions"])}


def our_seconds(model, tokenizer, method: str, options: dict, repeats: int) -> dict:
    """Best-of-``repeats`` time of one method on every token target of the seed sentence."""
    explainer = Explainer(model, tokenizer, method, method_options=options, progress=False)
    explainer(WARMUP_TEXT)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        explanation = explainer(SEED_TEXT, include_special_tokens=True)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "targets": len(explanation.targets)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--reference-python", help="default: from benchmarks/reference_env.sh")
    parser.add_argument("--out", type=Path, default=RESULTS / "methods.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = demo_dir()
    model, tokenizer = load_model(str(path))

    rows = []
    for method, options in METHODS:
        measured = our_seconds(model, tokenizer, method, options, args.repeats)
        label = method + "".join(f" {k}={v}" for k, v in options.items())
        rows.append({"method": label, **measured})
        print(f"  {label}: {measured['seconds']:.3f}s", file=sys.stderr, flush=True)

    reference = None
    if not args.skip_reference:
        python = (
            args.reference_python
            or subprocess.run(
                ["bash", str(HERE / "reference_env.sh")], check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        reference = reference_seconds(python, path, args.repeats, args.threads)
        if reference["targets"] != rows[0]["targets"]:
            raise SystemExit(f"reference explained {reference['targets']} targets, nerlens "
                             f"{rows[0]['targets']}")  # fmt: skip
        for row in rows:
            row["speedup_vs_reference"] = reference["seconds"] / row["seconds"]

    report = {
        "case": "demo model, seed sentence, every token target (special tokens included)",
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "reference_ig_50_steps": reference,
        "target_speedup_occlusion": TARGET_SPEEDUP,
        "methods": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print("| method | targets | seconds | speed-up vs reference IG |")
    print("|---|---|---|---|")
    if reference:
        print(f"| reference IG (transformers-interpret 0.10.0, 50 steps) | "
              f"{reference['targets']} | {reference['seconds']:.3f} | 1x |")  # fmt: skip
    for row in rows:
        ratio = row.get("speedup_vs_reference")
        shown = f"{ratio:.0f}x" if ratio else "-"
        print(f"| {row['method']} | {row['targets']} | {row['seconds']:.3f} | {shown} |")
    if reference:
        occlusion = rows[0]["speedup_vs_reference"]
        verdict = "meets" if occlusion >= TARGET_SPEEDUP else "MISSES"
        print(f"\nocclusion is {occlusion:.0f}x faster: {verdict} the {TARGET_SPEEDUP:.0f}x target")


if __name__ == "__main__":
    main()
