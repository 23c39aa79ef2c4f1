"""GPU figures (run on a CUDA machine): CPU/GPU agreement, half precision, and timings.

    python benchmarks/gpu_check.py --tokenizer DIR --out results.json

Uses a randomly initialised bert-base-sized tagger (seed 0) and the benchmark texts. Timings
compare, on the same card in the same run, one explanation per target (the reference's pattern:
a full forward and backward pass per target) with nerlens' shared forward pass.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

from nerlens import Explainer

HERE = Path(__file__).resolve().parent
TEXTS = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))
CONLL = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def timed(function, *args, **kwargs):
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = function(*args, **kwargs)
    torch.cuda.synchronize()
    return result, time.perf_counter() - start


def explain_each(explainer, text, targets):
    """The reference's pattern: one full pass per target."""
    return [explainer(text, [target]) for target in targets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=9,
                        id2label=dict(enumerate(CONLL)),
                        label2id={label: i for i, label in enumerate(CONLL)})  # fmt: skip
    model = BertForTokenClassification(config).eval()
    report: dict = {"card": torch.cuda.get_device_name(), "torch": torch.__version__}

    cpu = Explainer(model, tokenizer, n_steps=50)(TEXTS["seed"], include_special_tokens=True)
    gpu = Explainer(model, tokenizer, device="cuda", n_steps=50)(
        TEXTS["seed"], include_special_tokens=True
    )
    report["cpu_vs_cuda_float32_max_abs_diff"] = float(np.abs(cpu.scores - gpu.scores).max())
    for precision in ("bfloat16", "float16"):
        half_model = BertForTokenClassification(config).eval()
        half_model.load_state_dict(model.state_dict())
        half = Explainer(half_model, tokenizer, device="cuda", precision=precision, n_steps=50)(
            TEXTS["seed"], include_special_tokens=True
        )
        report[f"{precision}_vs_float32_max_abs_diff"] = float(
            np.abs(half.scores - gpu.scores).max()
        )
        report[f"{precision}_max_abs_delta"] = float(np.abs(half.deltas).max())

    rows = []
    for name in ("seed", "news64", "news256"):
        text = TEXTS[name]
        explainer = Explainer(model, tokenizer, device="cuda", n_steps=50, progress=False)
        explainer(text)  # warm-up
        shared, shared_s = timed(explainer, text, include_special_tokens=True)
        targets = list(shared.targets)
        singles, single_s = timed(explain_each, explainer, text, targets)
        diff = max(float(np.abs(s.attributions[0] - shared.attributions[i]).max())
                   for i, s in enumerate(singles))  # fmt: skip
        auto_explainer = Explainer(model, tokenizer, device="cuda", n_steps="auto",
                                   progress=False)  # fmt: skip
        auto, auto_s = timed(auto_explainer, text, include_special_tokens=True)
        rows.append({"text": name, "tokens": len(shared.tokens), "targets": len(targets),
                     "per_target_s": single_s, "shared_s": shared_s,
                     "speedup": single_s / shared_s, "bound": 2 * len(targets) / (1 + len(targets)),
                     "max_abs_diff": diff, "auto_s": auto_s,
                     "auto_speedup": single_s / auto_s,
                     "auto_max_abs_delta": float(np.abs(auto.deltas).max())})  # fmt: skip
        print(rows[-1], flush=True)
    report["timings"] = rows
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
