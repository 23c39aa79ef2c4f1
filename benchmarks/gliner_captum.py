"""GLiNER: nerlens' integrated gradients vs Captum's, side by side in one run, and occlusion.

The case issue 19 sets: a 400-word text (the first 400 words of ``texts.json``'s doc512), the
labels person, location and organization, every predicted entity a target. nerlens explains them
all in one Explainer call; the reference is one Captum ``LayerIntegratedGradients`` call per
entity, on GLiNER's own forward and inputs (built by GLiNER's own collator, checked equal to
nerlens'), the same layer (the encoder's word embeddings), baseline (the baseline id at every
non-special position: tokenizer specials and GLiNER's prompt markers kept), quadrature and
number of steps, so the numbers must agree. The text is longer than the model takes (``max_len``
words, 512 tokens), so nerlens explains it in windows; each entity is given to Captum in the
window nerlens explained it in (``nerlens.windows``, with the Explanation's own settings).

    python benchmarks/gliner_captum.py           # the demo GLiNER, 50 steps
    python benchmarks/gliner_captum.py --model DIR --threshold 0.5105 --n-steps 4   # a smoke test
    python benchmarks/run.py --only              # then: rewrite docs/benchmarks.md with the rows

``--model`` takes any saved GLiNER (uni-encoder span model). A random head scores every span
alike (about 0.51), so with one ``--threshold`` must be chosen to give a realistic number of
entities (10 to 30); the script prints the count, and the best span score when none is found.

Targets: nerlens at least 2x faster than Captum with every attribution within 1e-5 of Captum's,
and occlusion for all entities in at most 2 s. Timings: best of ``--repeats`` after a warm-up,
in one process with ``--threads`` threads; passes are counted (``nerlens.runner.count_passes``
for nerlens, the forward function's calls and the backward passes through its output for
Captum). Captum's time counts its LIG calls only (the entities, windows and inputs are given
to it); it runs on the model in eval mode with frozen weights, as nerlens does, with its
defaults otherwise (all steps in one batch) and its convergence delta (nerlens gives deltas).
Writes ``benchmarks/results/gliner.json`` (which ``run.py`` renders into docs/benchmarks.md,
``gliner_section``) and prints that section, the details behind it and the verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerlens import ConvergenceWarning, Explainer, Explanation, load_model
from nerlens.runner import PassCount, count_passes
from nerlens.windows import Window, assign_homes, plan_windows
from run import gliner_section, machine, passes

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TEXTS = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))
LABELS = ("person", "location", "organization")
WARMUP_TEXT = "A short warm-up sentence: Angela Merkel met the board of Siemens in Berlin."
TARGET_SPEEDUP = 2.0
TARGET_AGREEMENT = 1e-5
TARGET_OCCLUSION_S = 2.0
MODEL_INPUTS = ("input_ids", "attention_mask", "words_mask", "text_lengths", "span_idx",
                "span_mask")  # fmt: skip


def benchmark_text(words: int) -> str:
    """The first ``words`` whitespace-separated words of the long news document."""
    return " ".join(TEXTS["doc512"].split()[:words])


def best_of(repeats: int, call: Callable[[], Any]) -> tuple[Any, float, dict[str, int]]:
    """``call``'s result, its best time of ``repeats`` and the passes of one call."""
    best = float("inf")
    for _ in range(repeats):
        with count_passes() as counted:
            start = time.perf_counter()
            result = call()
            best = min(best, time.perf_counter() - start)
    return result, best, counted.as_dict()


# ---------------------------------------------------------------------- Captum's side
@dataclass(frozen=True)
class Span:
    """One entity as Captum's forward reads it: the sigmoid of GLiNER's logit of one span
    (start word and width) and label."""

    window: int  # the window nerlens explained it in
    word: int  # start word, in the window's words
    width: int  # words
    label: int  # column of the label prompt


class GLiNERWindows:
    """Each window's inputs as GLiNER's own collator builds them, and each entity's span in it.

    ``windows`` are nerlens' (``nerlens.windows.plan_windows`` with the Explanation's settings),
    so that each entity is attributed on exactly the input nerlens attributed it on; the inputs
    themselves come from GLiNER (``prepare_batch``/``collate_batch`` of the window's text) and
    are checked equal to those nerlens builds (``kind.path_ends``).
    """

    def __init__(self, explainer: Explainer, explanation: Explanation) -> None:
        settings = explanation.settings
        kind = explainer.kind.configure(labels=explanation.labels, threshold=settings["threshold"])
        self.model = explainer.model
        self.labels = list(explanation.labels)
        self.document = kind.encode(explanation.text)
        if self.document.tokens != explanation.tokens:
            raise SystemExit("the document's tokens differ from the Explanation's")
        max_length, stride = settings["max_length"], settings["stride"] or 0
        self.windows = plan_windows(self.document, max_length, stride, kind.word_limit)
        self.homes = assign_homes(
            self.document, explanation.targets, self.windows, max_length, kind.word_limit
        )
        if len(self.windows) != settings["windows"]:
            raise SystemExit(f"planned {len(self.windows)} windows, nerlens used "
                             f"{settings['windows']}")  # fmt: skip
        self.inputs = [self._gliner_inputs(w, kind, explainer) for w in self.windows]
        self.baselines = [self._baseline(inputs, settings["baseline_token_id"])
                          for inputs in self.inputs]  # fmt: skip

    def _gliner_inputs(self, window: Window, kind: Any, explainer: Explainer) -> dict:
        """GLiNER's batch of one for the window's text, checked against nerlens' inputs."""
        encoding = window.encoding
        text_offsets = [o for o, s in zip(encoding.offsets, encoding.segments) if s == "text"]
        first, last = text_offsets[0][0], text_offsets[-1][1]
        prepared = self.model.prepare_batch([encoding.text[first:last]], self.labels)
        batch = self.model.collate_batch(prepared["input_x"], prepared["entity_types"])
        inputs = {key: batch[key] for key in MODEL_INPUTS}
        ours, _ = kind.path_ends(encoding, "word", explainer.baseline_token_id)
        for key in MODEL_INPUTS:
            if not torch.equal(inputs[key], ours[key].to(inputs[key].dtype)):
                raise SystemExit(f"GLiNER's {key} differs from nerlens' for window {window}")
        return inputs

    def _baseline(self, inputs: dict, baseline_id: int) -> torch.Tensor:
        """The baseline ids: ``baseline_id`` at every position but the tokenizer's special
        tokens and GLiNER's prompt markers (``<<ENT>>``, ``<<SEP>>``)."""
        tokenizer = self.model.data_processor.transformer_tokenizer
        config = self.model.config
        markers = tokenizer.convert_tokens_to_ids([config.ent_token, config.sep_token])
        kept = torch.tensor(sorted({*tokenizer.all_special_ids, *markers}))
        ids = inputs["input_ids"]
        return torch.where(torch.isin(ids, kept), ids, torch.full_like(ids, baseline_id))

    def span(self, index: int, explanation: Explanation) -> Span:
        """Target ``index`` of the Explanation as a span of its home window's words."""
        target, home = explanation.targets[index], self.homes[index]
        encoding = self.windows[home].encoding
        local = {p: i for i, p in enumerate(self.windows[home].document_positions)}
        words = sorted({w for w in encoding.word_ids if w is not None})
        first = words.index(encoding.word_ids[local[target.start]])
        last = words.index(encoding.word_ids[local[target.end - 1]])
        return Span(home, first, last - first + 1, self.labels.index(target.label))

    def to_document(self, window: int, row: torch.Tensor) -> np.ndarray:
        """A window's attribution row placed in the document's tokens (0 outside it)."""
        placed = np.zeros(len(self.document))
        placed[list(self.windows[window].document_positions)] = row.double().numpy()
        return placed


def span_score(model: Any, span: Span, counter: PassCount) -> Callable[..., torch.Tensor]:
    """Captum's forward function for one entity: GLiNER's forward on the inputs
    (``MODEL_INPUTS``, in order), the span's sigmoid per row; it counts its passes."""

    def score(*inputs: torch.Tensor) -> torch.Tensor:
        rows = len(inputs[0])
        counter.forward += 1
        counter.forward_rows += rows
        logits = model(**dict(zip(MODEL_INPUTS, inputs))).logits
        value = torch.sigmoid(logits[:, span.word, span.width - 1, span.label].float())
        if value.requires_grad:

            def counted(grad: torch.Tensor) -> None:
                counter.backward += 1
                counter.backward_rows += rows

            value.register_hook(counted)
        return value

    return score


def captum_ig(
    gliner: GLiNERWindows, spans: list[Span], n_steps: int, counter: PassCount
) -> list[tuple[np.ndarray, float]]:
    """One ``LayerIntegratedGradients`` call per span: its document row and its delta."""
    from captum.attr import LayerIntegratedGradients

    layer = gliner.model.model.token_rep_layer.get_input_embeddings()
    results = []
    for span in spans:
        inputs = gliner.inputs[span.window]
        attributions, delta = LayerIntegratedGradients(
            span_score(gliner.model, span, counter), layer
        ).attribute(
            inputs["input_ids"],
            baselines=gliner.baselines[span.window],
            additional_forward_args=tuple(inputs[key] for key in MODEL_INPUTS[1:]),
            n_steps=n_steps,
            method="gausslegendre",
            return_convergence_delta=True,
        )
        row = gliner.to_document(span.window, attributions[0].sum(-1).detach())
        results.append((row, float(delta[0])))
    return results


def span_values(gliner: GLiNERWindows, spans: list[Span]) -> np.ndarray:
    """Each span's value f(input) by Captum's forward function (not timed)."""
    with torch.no_grad():
        return np.array(
            [
                float(
                    span_score(gliner.model, span, PassCount())(
                        *(gliner.inputs[span.window][key] for key in MODEL_INPUTS)
                    )[0]
                )
                for span in spans
            ]
        )


def frozen(model: torch.nn.Module) -> None:
    """Eval mode and weights without gradients: how nerlens runs the model during a call."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)


# ---------------------------------------------------------------------- the run
class Bench:
    """One model, text and set of options; each method explained by a warmed-up Explainer."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model, self.tokenizer = load_model(args.model)
        self.labels = args.labels.split(",")
        self.text = benchmark_text(args.words)

    def explainer(self, method: str, **method_options: Any) -> Explainer:
        made = Explainer(
            self.model, self.tokenizer, method, method_options=method_options,
            labels=self.labels, threshold=self.args.threshold, long_text="window",
            max_memory_mb=self.args.max_memory_mb, progress=False,
        )  # fmt: skip
        with warnings.catch_warnings():  # a warm-up's convergence is no news
            warnings.simplefilter("ignore", ConvergenceWarning)
            made(WARMUP_TEXT)
        return made

    def timed(self, name: str, explainer: Explainer, repeats: int) -> tuple[Explanation, dict]:
        """The text's Explanation, and the best time of ``repeats`` calls with one call's
        passes and targets."""
        explanation, seconds, counted = best_of(repeats, lambda: explainer(self.text))
        result = {"seconds": seconds, "passes": counted,
                  "targets": [str(target) for target in explanation.targets]}  # fmt: skip
        print(f"  {name}: {len(explanation.targets)} entities, {seconds:.1f} s, passes "
              f"{passes(result)}", file=sys.stderr, flush=True)  # fmt: skip
        return explanation, result


def compare_ig(bench: Bench) -> dict:
    """nerlens' fixed-step IG (one call) against one Captum LIG call per entity."""
    args = bench.args
    ig = bench.explainer("integrated_gradients", n_steps=args.n_steps)
    explanation, ours = bench.timed(f"nerlens IG, {args.n_steps} steps", ig, args.repeats)
    targets = len(explanation.targets)
    if not targets:
        best = float(explanation.probabilities.max())
        raise SystemExit(f"no entity above threshold {args.threshold} (the best span scores "
                         f"{best:.4f}): pass a lower --threshold")  # fmt: skip

    gliner = GLiNERWindows(ig, explanation)
    spans = [gliner.span(i, explanation) for i in range(targets)]
    frozen(bench.model)
    counter = PassCount()
    captum_ig(gliner, spans[:1], args.n_steps, PassCount())  # warm-up
    results, seconds, _ = best_of(
        args.repeats, lambda: captum_ig(gliner, spans, args.n_steps, counter)
    )
    per_call = {key: n // args.repeats for key, n in counter.as_dict().items()}
    captum = {"seconds": seconds, "passes": per_call}
    print(f"  Captum LIG, {args.n_steps} steps: {seconds:.1f} s, passes {passes(captum)}",
          file=sys.stderr, flush=True)  # fmt: skip
    rows = np.array([row for row, _ in results])
    values = span_values(gliner, spans)
    scores = np.array([entity.score for entity in explanation.entities])
    used = len(set(gliner.homes))  # windows with at least one target: one shared forward each
    return {
        "gliner_words": len({w for w in gliner.document.word_ids if w is not None}),
        "tokens": len(explanation.tokens),
        "windows": len(gliner.windows),
        "window_tokens": [len(window.encoding) for window in gliner.windows],
        "entities": targets,
        "entities_per_window": [gliner.homes.count(w) for w in range(len(gliner.windows))],
        "nerlens": ours,
        "captum": captum,
        "speedup": captum["seconds"] / ours["seconds"],
        "bound": 2 * targets / (used + targets),
        "max_abs_diff": float(np.abs(rows - explanation.attributions).max()),
        "max_abs_attribution": float(np.abs(explanation.attributions).max()),
        "max_abs_value_diff": float(np.abs(values - explanation.target_values).max()),
        "max_abs_score_diff": float(np.abs(values - scores).max()),
        "max_abs_delta_nerlens": float(np.abs(explanation.deltas).max()),
        "max_abs_delta_captum": float(max(abs(delta) for _, delta in results)),
    }


def auto_ig(bench: Bench) -> dict:
    """nerlens' IG with ``n_steps="auto"`` (tolerance 1e-3) on the same entities."""
    ig = bench.explainer("integrated_gradients", n_steps="auto")
    explanation, result = bench.timed("nerlens IG, auto", ig, bench.args.repeats)
    return {
        **result,
        "steps": f"{explanation.steps.min()}-{explanation.steps.max()}",
        "max_abs_delta": float(np.abs(explanation.deltas).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo-gliner", help="a GLiNER directory or name")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--labels", default=",".join(LABELS))
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1, help="IG timings: best of this many")
    parser.add_argument("--occlusion-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-memory-mb", type=float, default=1024.0, help="nerlens' budget")
    parser.add_argument("--skip-auto", action="store_true", help="no n_steps='auto' row")
    parser.add_argument("--out", type=Path, default=RESULTS / "gliner.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = Bench(args)
    compared = compare_ig(bench)
    occlusion = bench.explainer("occlusion")
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "model": args.model,
        "machine": machine(),
        "words": args.words,
        "labels": bench.labels,
        "threshold": args.threshold,
        "n_steps": args.n_steps,
        "occlusion_repeats": args.occlusion_repeats,
        "max_memory_mb": args.max_memory_mb,
        **compared,
        "auto": None if args.skip_auto else auto_ig(bench),
        "occlusion": bench.timed("occlusion", occlusion, args.occlusion_repeats)[1],
    }
    for name in ("auto", "occlusion"):
        if report[name] and report[name]["targets"] != report["nerlens"]["targets"]:
            raise SystemExit(f"{name} explained other entities than integrated gradients")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_report(report)


def print_report(r: dict) -> None:
    """The section of docs/benchmarks.md, the details behind it, and the verdicts."""
    print("\n".join(gliner_section(r)) + "\n")
    print(f"{r['words']} words: {r['gliner_words']} GLiNER words, {r['tokens']} tokens, windows "
          f"of {r['window_tokens']} tokens explaining {r['entities_per_window']} entities; "
          f"labels {', '.join(r['labels'])}; nerlens max_memory_mb "
          f"{r['max_memory_mb']:g}")  # fmt: skip
    print(f"Captum's f(input) vs nerlens' target values: {r['max_abs_value_diff']:.1e}; "
          f"vs the entities' scores: {r['max_abs_score_diff']:.1e}")  # fmt: skip
    occlusion_s = r["occlusion"]["seconds"]
    verdicts = [
        (f"agreement {r['max_abs_diff']:.1e}", r["max_abs_diff"] <= TARGET_AGREEMENT,
         f"<= {TARGET_AGREEMENT:.0e}"),
        (f"speed-up {r['speedup']:.2f}x", r["speedup"] >= TARGET_SPEEDUP,
         f">= {TARGET_SPEEDUP:g}x"),
        (f"occlusion {occlusion_s:.2f} s", occlusion_s <= TARGET_OCCLUSION_S,
         f"<= {TARGET_OCCLUSION_S:g} s"),
    ]  # fmt: skip
    for measured, met, target in verdicts:
        print(f"{measured}: {'meets' if met else 'MISSES'} the target {target}")


if __name__ == "__main__":
    main()
