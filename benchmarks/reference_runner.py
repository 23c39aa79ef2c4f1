"""Reference side of the nerlens benchmark: runs transformers-interpret 0.10.0.

This script runs INSIDE the isolated reference virtual environment created by
``benchmarks/reference_env.sh`` (it imports only torch, transformers,
transformers_interpret, captum's version string and the standard library), never
inside nerlens' own environment.

Usage::

    python reference_runner.py --model DIR --texts FILE.json --out OUT.json \
        [--n-steps 50] [--internal-batch-size N] [--repeats 1] [--threads 2]

FILE.json is a JSON list of objects::

    {"id": str, "text": str, "ignored_indexes": [int, ...] | null,
     "ignored_labels": [str, ...] | null}

For every text, ``TokenClassificationExplainer(model, tokenizer)(text, ...)`` is
timed with ``time.perf_counter`` (best of ``--repeats``; one warm-up call on a
different short text precedes the first text). A fresh explainer is built for each
call, outside the timed region, because the explainer keeps ``n_steps`` and
``internal_batch_size`` from one call to the next.

The explainer's returned dict is keyed by token TEXT, so repeated tokens (two
"the", two "[SEP]"-like pieces, ...) collapse into one entry. The runner therefore
reads the per-position results from ``explainer.attributions`` (a dict
position -> ``LIGAttributions``), whose ``attributions_sum`` is the normalised score
vector over all input tokens (special tokens included) and whose ``delta`` is
captum's convergence delta for that position.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from importlib import metadata

import torch
import transformers
import transformers_interpret
from transformers import AutoModelForTokenClassification, AutoTokenizer
from transformers_interpret import TokenClassificationExplainer

WARMUP_TEXT = "A short warm-up sentence in Berlin."


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        return rss / (1024 * 1024)
    return rss / 1024


def _explain(model, tokenizer, item: dict, n_steps: int, internal_batch_size: int | None):
    explainer = TokenClassificationExplainer(model, tokenizer)
    start = time.perf_counter()
    returned = explainer(
        item["text"],
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
        ignored_indexes=item.get("ignored_indexes"),
        ignored_labels=item.get("ignored_labels"),
    )
    seconds = time.perf_counter() - start
    return explainer, returned, seconds


def _collect(explainer, returned: dict, item: dict, model) -> dict:
    id2label = model.config.id2label
    input_ids = explainer.input_ids[0].tolist()
    tokens = explainer.tokenizer.convert_ids_to_tokens(input_ids)

    positions: list[int] = []
    scores: list[list[float]] = []
    deltas: list[float | None] = []
    for position, lig in explainer.attributions.items():
        positions.append(int(position))
        scores.append([float(x) for x in lig.attributions_sum.detach().cpu().tolist()])
        delta = getattr(lig, "delta", None)
        deltas.append(None if delta is None else float(delta.detach().cpu().reshape(-1)[0]))

    # Predictions exactly as the explainer makes them: model(input_ids) alone
    # (no attention_mask / position_ids / token_type_ids), softmax, argmax.
    with torch.no_grad():
        logits = model(explainer.input_ids)[0]
        probs = torch.softmax(logits, dim=2)[0]
    pred_ids = torch.argmax(probs, dim=1).tolist()
    predicted_labels = [id2label.get(int(i), id2label.get(str(i), str(i))) for i in pred_ids]
    target_probs = [float(probs[p, pred_ids[p]]) for p in positions]

    return {
        "id": item["id"],
        "text": item["text"],
        "cleaned_text": explainer.text,
        "text_rewritten": explainer.text != item["text"],
        "input_ids": input_ids,
        "ref_input_ids": explainer.ref_input_ids[0].tolist(),
        "tokens": tokens,
        "positions": positions,
        "scores": scores,
        "deltas": deltas,
        "predicted_label_ids": pred_ids,
        "predicted_labels": predicted_labels,
        "target_labels": [predicted_labels[p] for p in positions],
        "target_probs": target_probs,
        "returned_n_keys": len(returned),
        "returned_keys": list(returned.keys()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="local directory saved with save_pretrained")
    parser.add_argument(
        "--texts", required=True, help="JSON list of {id, text, ignored_indexes, ignored_labels}"
    )
    parser.add_argument("--out", required=True, help="output JSON file")
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--internal-batch-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.n_steps < 1:
        parser.error("--n-steps must be >= 1 (the explainer treats 0 as 'keep the previous value')")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    torch.set_num_threads(args.threads)

    with open(args.texts, encoding="utf-8") as fh:
        items = json.load(fh)
    if not isinstance(items, list):
        parser.error("--texts must hold a JSON list")

    load_start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForTokenClassification.from_pretrained(args.model)
    model.eval()
    load_seconds = time.perf_counter() - load_start
    rss_after_load = _peak_rss_mb()

    results = []
    for k, item in enumerate(items):
        if k == 0:
            _explain(
                model, tokenizer, {"text": WARMUP_TEXT}, args.n_steps, args.internal_batch_size
            )
        best = None
        all_seconds = []
        for _ in range(args.repeats):
            explainer, returned, seconds = _explain(
                model, tokenizer, item, args.n_steps, args.internal_batch_size
            )
            all_seconds.append(seconds)
            if best is None or seconds < best[2]:
                best = (explainer, returned, seconds)
        explainer, returned, seconds = best
        record = _collect(explainer, returned, item, model)
        record["seconds"] = seconds
        record["all_seconds"] = all_seconds
        record["n_explained"] = len(record["positions"])
        record["n_tokens"] = len(record["tokens"])
        record["peak_rss_mb"] = _peak_rss_mb()
        results.append(record)
        print(
            f"[reference] {item['id']}: {record['n_tokens']} tokens, "
            f"{record['n_explained']} explained, "
            f"{seconds:.3f}s, peak RSS {record['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )

    out = {
        "implementation": "transformers-interpret",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "captum": _version("captum"),
            "transformers_interpret": _version("transformers-interpret")
            or getattr(transformers_interpret, "__version__", None),
            "tokenizers": _version("tokenizers"),
            "numpy": _version("numpy"),
        },
        "settings": {
            "model": args.model,
            "model_class": type(model).__name__,
            "tokenizer_class": type(tokenizer).__name__,
            "n_steps": args.n_steps,
            "internal_batch_size": args.internal_batch_size,
            "repeats": args.repeats,
            "threads": args.threads,
            "torch_num_threads": torch.get_num_threads(),
            "warmup_text": WARMUP_TEXT,
            "timing": "time.perf_counter around explainer(text, ...) only; best of repeats; "
            "fresh explainer per call built outside the timed region",
        },
        "load_seconds": load_seconds,
        "rss_after_load_mb": rss_after_load,
        "peak_rss_note": "peak_rss_mb is resource.getrusage(RUSAGE_SELF).ru_maxrss read after "
        "each text: "
        "the process-lifetime peak so far (monotone), model load and warm-up included",
        "process_peak_rss_mb": _peak_rss_mb(),
        "scores_note": "scores[j][t]: normalised attribution of input token t for explained "
        "position "
        "positions[j] (LIGAttributions.attributions_sum: sum over hidden dim, divided by the "
        "L2 norm "
        "over the whole sequence incl. special tokens). deltas[j]: captum convergence delta.",
        "results": results,
    }
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
