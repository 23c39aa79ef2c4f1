"""Corpus-job benchmark: documents per second (local and Ray engines) and peak memory.

News-style sentences are composed from the demo model's hand-written held-out set and its
generated training data (``training/data``; no downloads). Each measurement runs ``nerlens
batch`` in a fresh child process into a fresh output directory and prints one JSON line.

    python benchmarks/corpus.py rate --sentences 1000 --method occlusion
    python benchmarks/corpus.py rate --sentences 1000 --method occlusion --engine ray
    python benchmarks/corpus.py rate --sentences 100 --method integrated_gradients --n-steps auto
    python benchmarks/corpus.py rss --sentences 1000 10000 --method integrated_gradients \\
        --n-steps 2 --targets entities

``rate`` counts the whole command (model loading and, for Ray, Ray's start-up); the rate of the
explaining alone (from the job's shard timings) is printed next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data"


def sentences(count: int) -> list[str]:
    """``count`` sentences: the held-out set first, then the training set, cycled if needed."""
    texts = []
    for name in ("heldout.jsonl", "train.jsonl"):
        with (DATA / name).open(encoding="utf-8") as lines:
            texts += [" ".join(json.loads(line)["tokens"]) for line in lines]
    return list(islice(cycle(texts), count))


def run_batch(count: int, options: list[str], workdir: Path) -> dict[str, float]:
    """Run ``nerlens batch`` on ``count`` sentences in a child process; time and peak RSS."""
    corpus = workdir / f"news-{count}.txt"
    corpus.write_text("\n".join(sentences(count)) + "\n", encoding="utf-8")
    out = workdir / f"out-{count}-{time.monotonic_ns()}"
    command = [sys.executable, "-c", "from nerlens.cli import main; main()", "batch", str(corpus)]
    command += ["--out", str(out), "--no-progress", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"nerlens batch failed with status {status}")
    markers = [json.loads(p.read_text()) for p in (out / "done").glob("*.json")]
    explaining = max(m["finished"] for m in markers) - min(m["started"] for m in markers)
    return {
        "sentences": count,
        "seconds": round(seconds, 2),
        "sentences_per_second": round(count / seconds, 2),
        "explaining_sentences_per_second": round(count / explaining, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measure", choices=["rate", "rss"])
    parser.add_argument("--sentences", type=int, nargs="+", default=[1000])
    parser.add_argument("--method", default="integrated_gradients")
    parser.add_argument("--n-steps", default=None, help="for methods that take n_steps")
    parser.add_argument("--targets", default="tokens")
    parser.add_argument("--engine", default="local", choices=["local", "ray"])
    parser.add_argument("--actors", type=int, default=None)
    parser.add_argument("--save", type=Path, default=None, help="also append the JSON lines here")
    args = parser.parse_args()

    options = ["--model", "demo", "--method", args.method, "--targets", args.targets]
    options += ["--engine", args.engine]
    if args.n_steps is not None:
        options += ["--n-steps", args.n_steps]
    if args.actors is not None:
        options += ["--actors", str(args.actors)]
    threads = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="nerlens-corpus-bench-") as workdir:
        results = [run_batch(count, options, Path(workdir)) for count in args.sentences]
    lines = [
        json.dumps({"measure": args.measure, "options": " ".join(options), **result})
        for result in results
    ]
    print("\n".join(lines))
    if args.save is not None:
        with args.save.open("a", encoding="utf-8") as saved:
            saved.writelines(line + "\n" for line in lines)
    if args.measure == "rss" and len(results) > 1:
        low, high = results[0]["peak_rss_mb"], results[-1]["peak_rss_mb"]
        print(f"peak RSS {low} MB → {high} MB: {100 * (high - low) / low:+.1f}% ({threads} cores)")


if __name__ == "__main__":
    main()
