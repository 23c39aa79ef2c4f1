"""The native API: text(s) → encoding → targets → attributions → Explanation(s).

Options are checked once, in the constructor or at the top of ``__call__``, and routed to the stage
that uses them; every later stage can trust its inputs.
"""

from __future__ import annotations

import inspect
import math
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens import __version__
from nerlens.encoding import Encoding, encode, max_input_length, require_fast_tokenizer
from nerlens.entities import Entity, Strategy, check_strategy, predicted_entities
from nerlens.errors import CONVERGENCE_DELTA, ConvergenceWarning, InputError, is_int_at_least
from nerlens.explanation import Explanation
from nerlens.gold import (
    GoldSpan,
    check_gold,
    check_gold_types,
    error_targets,
    gold_entities,
    gold_tags,
    is_correct,
)
from nerlens.methods import AttributionMethod, Budget, get_method_class, resolve_method
from nerlens.methods import method_options as method_options_of
from nerlens.methods._perturbation import rows_per_chunk
from nerlens.methods.base import Attribution, ProgressCallback
from nerlens.model_input import (
    Embedding,
    ModelInput,
    model_device,
    model_max_length,
    pack,
    prepare,
    resolve_layer,
)
from nerlens.runner import ModelRunner, intra_op_threads, run_concurrently, workers_for
from nerlens.targets import (
    EntityTarget,
    Target,
    check_ignored_labels,
    check_targets,
    token_targets,
)
from nerlens.windows import Window, home_window, plan_windows, window_around

if TYPE_CHECKING:
    import pandas as pd

TargetSelector = Literal["tokens", "entities", "gold"]
LongText = Literal["error", "window"]
Device = Literal["cpu", "cuda", "auto"]
Precision = Literal["float32", "float16", "bfloat16"]
PRECISIONS: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
AUTO_PROGRESS_TOKENS = 256
MIN_CONTEXT = 16
# Windows share a forward pass (CPU only) when each one's own pass has at least this many
# token-rows. On the Intel CPU where it was measured, MKL's products then gave every row of a
# packed pass the very bits of its own pass (below about 16 they did not); other CPUs' kernels
# differ in the last bits (7e-9 seen on an AMD EPYC), so packing promises equal numbers within
# a tolerance, not bits (tests/numerics.py's KERNEL_RTOL, README "What is exact"). On GPUs,
# cuBLAS may choose other kernels by batch size, and packing is untested there: off.
PACK_MIN_TOKEN_ROWS = 32


class Explainer:
    """Explains a token-classification model's predictions on texts.

    ``method`` is a registered method's name (``nerlens.available_methods()``) or a method object
    such as ``nerlens.methods.Occlusion()``. A named method's options go in ``method_options``
    (``{"n_samples": 50}``); as a shorthand, keywords the Explainer does not take itself are
    method options too (``n_steps=8``). An option named like an Explainer keyword (``stride``,
    ``device``...) always means the Explainer's; give it via ``method_options`` or the object.
    ``device=None`` keeps the model where it is; a device name moves the model there, and
    ``precision`` ("float16"/"bfloat16", GPU only) converts it: both change the model you pass.
    Half precision is safe here because probabilities are taken in float32 and scores are
    accumulated in float64; watch ``explanation.deltas`` (float16 rounding shows up there).
    ``long_text="window"`` explains texts longer than the model accepts in overlapping windows
    that share ``stride`` tokens (default: a quarter of the model's maximum length). Each token
    is predicted in the window that gives it the most context; each target is explained in one
    window that holds all of its tokens, and an entity that crosses a window boundary takes the
    probabilities of its tokens from that same window, so its probability and its value agree
    (see :mod:`nerlens.windows`).
    ``aggregation_strategy`` ("simple", "first", "average", "max") groups predicted entities
    (``explanation.entities``, ``targets="entities"``) exactly as the HF token-classification
    pipeline does with that strategy.

    Concurrency: one Explainer (or several on one model) may be called from many threads at
    once; each result equals the one a sequential call gives. While any call runs, the model is
    in eval mode with frozen weights and one hook on the attributed layer; the last call to end
    restores the model's training flag and ``requires_grad`` flags and removes the hook, also
    when a call raises (see :mod:`nerlens.runner`). Do not train the model meanwhile.

    ``context`` (with ``long_text="window"``) caps the windows at that many tokens even where the
    model accepts more: every token is then predicted and attributed with the model seeing only
    its window (at least ``stride // 2`` tokens each side, except at the text's ends), so
    predictions can differ from full-length ones, tokens outside a target's window score 0, and
    attribution costs about ``context / model length`` as much per target. The default, None,
    uses the model's full length: exact. For long documents, ``context=128`` is about 4× faster.
    ``threads`` sets torch's intra-op threads for the duration of each call (None: leave torch's
    setting alone). On CPU that many single-threaded workers run a call's independent passes
    side by side (targets' backward passes, windows, texts; see :mod:`nerlens.runner`), so
    ``threads=1`` runs everything in the calling thread. torch's setting is process-wide: while
    calls with ``threads`` run at the same time, the smallest count asked for applies, and the
    earlier setting comes back when the last of them ends.
    ``progress`` shows a transient bar of targets done out of the total, with an ETA (default:
    only for calls of at least 256 tokens).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        method: str | AttributionMethod = "integrated_gradients",
        *,
        method_options: Mapping[str, Any] | None = None,
        embedding: Embedding = "word",
        internal_batch_size: int | None = None,
        max_memory_mb: float = 1024.0,
        baseline_token_id: int | None = None,
        long_text: LongText = "error",
        stride: int | None = None,
        context: int | None = None,
        device: Device | None = None,
        precision: Precision | None = None,
        progress: bool | None = None,
        threads: int | None = None,
        aggregation_strategy: Strategy = "simple",
        **options: Any,
    ) -> None:
        require_fast_tokenizer(tokenizer)
        if not hasattr(model, "config") or not getattr(model.config, "id2label", None):
            raise InputError(
                "model must be a transformers token-classification model with config.id2label, "
                f"got {type(model).__name__}"
            )
        if internal_batch_size is not None and (
            not isinstance(internal_batch_size, int) or internal_batch_size < 1
        ):
            raise InputError(
                f"internal_batch_size must be a positive int or None, got {internal_batch_size!r}"
            )
        if not max_memory_mb > 0:
            raise InputError(f"max_memory_mb must be > 0, got {max_memory_mb!r}")
        if long_text not in ("error", "window"):
            raise InputError(f"long_text must be 'error' or 'window', got {long_text!r}")
        if threads is not None and not is_int_at_least(threads, 1):
            raise InputError(f"threads must be a positive int or None, got {threads!r}")
        self.model = _place(model, device, precision)
        self.tokenizer = tokenizer
        _check_method_keywords(method, options, method_options)
        self.method: AttributionMethod = resolve_method(
            method, {**(method_options or {}), **options}
        )
        layer, self.embedding = resolve_layer(model, embedding)
        self.runner = ModelRunner(self.model, layer)
        self.budget = Budget(internal_batch_size=internal_batch_size, max_memory_mb=max_memory_mb)
        self.baseline_token_id = _baseline_token(tokenizer, baseline_token_id)
        self.labels = tuple(model.config.id2label[i] for i in range(len(model.config.id2label)))
        self.label2id = {label: i for i, label in enumerate(self.labels)}
        self.max_length = max_input_length(tokenizer, model_max_length(model))
        self.long_text = long_text
        if context is not None:
            if not is_int_at_least(context, MIN_CONTEXT):
                raise InputError(
                    f"context must be an int >= {MIN_CONTEXT} or None, got {context!r}"
                )
            if long_text != "window":
                raise InputError(
                    f"context={context} explains texts in windows of {context} tokens: "
                    "pass long_text='window' with it"
                )
            self.max_length = min(self.max_length, context)
        self.context = context
        self.stride = _check_stride(stride, long_text)
        self.progress = progress
        self.threads = threads
        self._method_reports_progress = (
            "progress" in inspect.signature(self.method.attribute).parameters
        )
        self.aggregation_strategy = check_strategy(aggregation_strategy)
        _check_token_classifier(self)

    # ------------------------------------------------------------------ public API
    @overload
    def __call__(
        self,
        text: str,
        targets: TargetSelector | Sequence[Target] = ...,
        *,
        ignored_indexes: Iterable[int] = ...,
        ignored_labels: Iterable[str] = ...,
        include_special_tokens: bool = ...,
        gold: Iterable[GoldSpanLike] | None = ...,
    ) -> Explanation: ...

    @overload
    def __call__(
        self,
        text: Sequence[str],
        targets: TargetSelector | Sequence[Sequence[Target]] = ...,
        *,
        ignored_indexes: Iterable[int] = ...,
        ignored_labels: Iterable[str] = ...,
        include_special_tokens: bool = ...,
        gold: Sequence[Iterable[GoldSpanLike] | None] | None = ...,
    ) -> list[Explanation]: ...

    def __call__(
        self,
        text: str | Sequence[str],
        targets: Any = "tokens",
        *,
        ignored_indexes: Iterable[int] = (),
        ignored_labels: Iterable[str] = (),
        include_special_tokens: bool = False,
        gold: Any = None,
    ) -> Explanation | list[Explanation]:
        """Explain one text (→ Explanation) or a list of texts (→ list of Explanations).

        ``targets``: ``"tokens"`` (each token's predicted label), ``"entities"`` (each predicted
        entity), or explicit Target objects (a list of lists for a list of texts).
        ``ignored_indexes``/``ignored_labels`` drop token targets by position or predicted label.
        ``gold``: the true entities as ``(start, end, type)`` character spans (a list of such lists
        for a list of texts); every target then records whether the model got it right
        (``explanation.correct``), and ``targets="gold"`` explains the truth where the model was
        wrong (see :func:`nerlens.gold.error_targets`).
        """
        single = isinstance(text, str)
        texts = [text] if single else list(_texts(text))
        per_text_targets = _split_targets(targets, len(texts), single)
        ignored_labels = check_ignored_labels(ignored_labels, self.label2id)
        ignored_indexes = _check_indexes(ignored_indexes)
        per_text_gold = _split_gold(gold, texts, single)
        for spans in per_text_gold:
            check_gold_types(spans or (), self.labels)
        if any(g is None for g in per_text_gold) and "gold" in per_text_targets:
            raise InputError(
                "targets='gold' needs the gold entities: pass gold=[(start, end, type)]"
            )
        encoded = [self._windows(t) for t in texts]
        for index, (document, _) in enumerate(encoded):
            _check_in_range(ignored_indexes, len(document))
            if not isinstance(per_text_targets[index], str):
                per_text_targets[index] = check_targets(
                    per_text_targets[index], len(document), self.label2id
                )
        tokens = sum(len(document) for document, _ in encoded)
        show = self.progress if self.progress is not None else tokens >= AUTO_PROGRESS_TOKENS
        with intra_op_threads(self.threads), self.runner.session():
            workers = workers_for(model_device(self.model))
            prepared = iter(self._prepare([w.encoding for _, ws in encoded for w in ws]))
            predicted = run_concurrently(
                [
                    partial(
                        self._predict,
                        document,
                        windows,
                        [next(prepared) for _ in windows],
                        selection,
                        ignored_indexes,
                        ignored_labels,
                        include_special_tokens,
                        spans,
                    )
                    for (document, windows), selection, spans in zip(
                        encoded, per_text_targets, per_text_gold
                    )
                ],
                workers,
            )
            total = sum(len(text.targets) for text in predicted)
            with _progress(show, total) as advance:
                work = [w for i, text in enumerate(predicted) for w in _window_work(i, text)]
                done = self._run_work(predicted, work, advance, workers)
                results = []
                for i, text in enumerate(predicted):  # a loop: warnings point at the caller
                    results.append(
                        self._explanation(text, [(w, r) for w, r in zip(work, done) if w.text == i])
                    )
        return results[0] if single else results

    def evaluate(self, explanation: Explanation) -> pd.DataFrame:
        """Faithfulness of ``explanation``: one row per target, in order (comprehensiveness and
        sufficiency at 10..50% of the tokens and their means; see :mod:`nerlens.faithfulness`).
        A text explained in windows is scored per target in the window that explained it."""
        from nerlens.faithfulness import evaluate

        return evaluate(self, explanation)

    # ------------------------------------------------------------------ stages
    def _windows(self, text: str) -> tuple[Encoding, list[Window]]:
        """The text's encoding, and the model windows that cover it (one unless it is long)."""
        document = encode(
            self.tokenizer, text, self.max_length if self.long_text == "error" else None
        )
        _check_vocabulary(document, self.model)
        return document, plan_windows(document, self.max_length, self._stride())

    def _predict(
        self,
        document: Encoding,
        windows: list[Window],
        inputs: list[ModelInput],
        selection: TargetSelector | Sequence[Target],
        ignored_indexes: frozenset[int],
        ignored_labels: frozenset[str],
        include_special: bool,
        gold: tuple[GoldSpan, ...] | None = None,
    ) -> _Predicted:
        """The predictions from every window's input (``inputs``, :meth:`_prepare`), the targets
        they give, and the inputs of any window added around a target no window holds whole."""
        probabilities = np.zeros((len(document), len(self.labels)))
        for window, model_input in zip(windows, inputs):
            owned = list(window.owned)
            doc_positions = [window.document_positions[i] for i in owned]
            probabilities[doc_positions] = model_input.input_probs[owned].double().cpu().numpy()
        predicted = [self.labels[i] for i in probabilities.argmax(axis=1)]
        entities = predicted_entities(
            document, probabilities, self.labels, self.tokenizer, self.aggregation_strategy
        )
        found = tuple(
            EntityTarget(e.token_start, e.token_end, e.entity_group, e.labels) for e in entities
        )

        if selection == "tokens":
            targets: tuple[Target, ...] = token_targets(
                predicted, document.special, ignored_indexes, ignored_labels, include_special
            )
        elif selection == "entities":
            targets = found
        elif selection == "gold":
            targets = error_targets(
                gold or (), document.offsets, document.special, self.labels, predicted, found
            )
        else:
            targets = tuple(selection)
        windows = list(windows)
        homes = self._homes(document, targets, windows)
        inputs = [*inputs, *self._prepare([window.encoding for window in windows[len(inputs) :]])]
        if _probabilities_from_homes(probabilities, targets, homes, windows, inputs):
            entities = predicted_entities(  # the Explanation's entities follow its probabilities
                document, probabilities, self.labels, self.tokenizer, self.aggregation_strategy
            )
        if gold is not None:
            correct: tuple[bool, ...] | None = self._correct(
                document, gold, probabilities, entities, targets
            )
        else:
            correct = None
        return _Predicted(
            document, windows, inputs, probabilities, entities, targets, homes, gold, correct
        )

    def _run_work(
        self,
        predicted: list[_Predicted],
        work: list[_WindowWork],
        advance: ProgressCallback,
        workers: int,
    ) -> list[Attribution]:
        """Every window's attributions, in ``work``'s order.

        Windows (of one text or of many) are independent, so on CPU up to ``workers`` of them
        run at once, single-threaded. A window too big to share the time evenly runs first and
        alone, with its own passes spread over the workers (see :func:`_alone`).
        """
        jobs = [partial(self._attribute_window, predicted[w.text], w, advance) for w in work]
        alone = _alone([w.cost for w in work], workers)
        results: dict[int, Attribution] = {i: jobs[i]() for i in alone}
        shared = sorted(set(range(len(work))) - set(alone), key=lambda i: -work[i].cost)
        results.update(zip(shared, run_concurrently([jobs[i] for i in shared], workers)))
        return [results[i] for i in range(len(work))]

    def _attribute_window(
        self, text: _Predicted, work: _WindowWork, advance: ProgressCallback
    ) -> Attribution:
        """The targets ``work.chosen`` of ``text`` attributed in their home window."""
        window, model_input = text.windows[work.window], text.inputs[work.window]
        terms = [window.local_terms(text.targets[t].terms(self.label2id)) for t in work.chosen]
        reported = _Reported(advance)
        if self._method_reports_progress:
            result = self.method.attribute(model_input, terms, self.budget, reported)
        else:  # a user's method written before progress reports: all done at its end
            result = self.method.attribute(model_input, terms, self.budget)
        advance(len(work.chosen) - reported.count)
        return result

    def _explanation(
        self, text: _Predicted, done: list[tuple[_WindowWork, Attribution]]
    ) -> Explanation:
        """One text's Explanation from its windows' attributions."""
        document, windows, targets = text.document, text.windows, text.targets
        attributions = np.zeros((len(targets), len(document)))
        target_values = np.zeros(len(targets))
        baseline_values = np.zeros(len(targets))
        deltas = np.zeros(len(targets))
        steps = np.zeros(len(targets), dtype=np.int64)
        for work, result in done:
            chosen = work.chosen
            positions = list(windows[work.window].document_positions)
            for row, t in enumerate(chosen):
                attributions[t, positions] = result.scores[row]
            target_values[chosen] = result.target_values
            baseline_values[chosen] = result.baseline_values
            deltas[chosen] = result.deltas
            steps[chosen] = result.steps

        if self.method.settings().get("n_steps") != "auto":  # auto warns when it stops short
            _warn_unconverged(deltas)
        return Explanation(
            text=document.text,
            tokens=document.tokens,
            offsets=document.offsets,
            special=document.special,
            word_ids=document.word_ids,
            labels=self.labels,
            probabilities=text.probabilities,
            targets=targets,
            attributions=attributions,
            target_values=target_values,
            baseline_values=baseline_values,
            deltas=deltas,
            steps=steps,
            settings=self._settings(len(windows)),
            entities=text.entities,
            gold=text.gold or (),
            correct=text.correct,
        )

    def _correct(
        self,
        document: Encoding,
        gold: tuple[GoldSpan, ...],
        probabilities: np.ndarray,
        entities: tuple[Entity, ...],
        targets: tuple[Target, ...],
    ) -> tuple[bool, ...]:
        """Per target, whether the model's prediction there (the Explanation's own
        probabilities and entities) matches the gold."""
        predicted = [self.labels[i] for i in probabilities.argmax(axis=1)]
        tags = gold_tags(gold, document.offsets, document.special, self.labels)
        spans = gold_entities(gold, document.offsets, document.special, self.labels)
        gold_keys = {(e.start, e.end, e.label) for e in spans}
        found_keys = {(e.token_start, e.token_end, e.entity_group) for e in entities}
        return tuple(is_correct(t, predicted, tags, gold_keys, found_keys) for t in targets)

    def _homes(
        self,
        document: Encoding,
        targets: Sequence[Target],
        windows: list[Window],
    ) -> list[int]:
        """Each target's home window (see :mod:`nerlens.windows`). A target that no window holds
        whole (an entity across a boundary wider than the windows' overlap) gets a window
        centred on it, appended to ``windows``."""
        planned = len(windows)
        homes = []
        for target in targets:
            home = home_window(target.positions, windows[:planned])
            if home is None:  # added windows serve only the targets no planned window holds
                extra = home_window(target.positions, windows[planned:])
                home = len(windows) if extra is None else planned + extra
            if home == len(windows):
                windows.append(window_around(document, target.positions, self.max_length))
            homes.append(home)
        return homes

    def _prepare(self, encodings: Sequence[Encoding]) -> list[ModelInput]:
        """The windows' ModelInputs, in order. A method's target-free perturbations ride in their
        window's pass when they fit the memory budget, and on CPU windows of one token count
        share passes (:func:`pack`, as many rows as the budget allows), where every row gets the
        numbers of a pass of its own: occlusion on a batch of short texts is a few passes, not
        one per text. A pass has a fixed cost (about 12 ms of a sentence's 96 on one core)."""
        device = model_device(self.model)
        workers = workers_for(device)
        lengths = [len(encoding) for encoding in encodings]
        capacity = {n: rows_per_chunk(self.model, n, self.budget, workers) for n in {*lengths}}
        perturbations = [self.method.perturbations(encoding.special) for encoding in encodings]
        perturbations = [
            None if keep is None or 1 + len(keep) > capacity[n] else keep
            for keep, n in zip(perturbations, lengths)
        ]
        rows = [1 + (0 if keep is None else len(keep)) for keep in perturbations]
        smallest = PACK_MIN_TOKEN_ROWS if device.type == "cpu" else math.inf
        packs = pack(lengths, rows, capacity, smallest)
        prepared = run_concurrently(
            [
                partial(
                    prepare,
                    self.runner,
                    self.embedding,
                    [encodings[i] for i in members],
                    self.baseline_token_id,
                    [perturbations[i] for i in members],
                )
                for members in packs
            ],
            workers,
        )
        inputs: dict[int, ModelInput] = {}
        for members, results in zip(packs, prepared):
            inputs.update(zip(members, results))
        return [inputs[i] for i in range(len(encodings))]

    def _stride(self) -> int:
        """Tokens shared by neighbouring windows: as given, else a quarter of the model length."""
        return self.max_length // 4 if self.stride is None else self.stride

    def _settings(self, num_windows: int) -> dict[str, Any]:
        return {
            "method": self.method.name,
            **self.method.settings(),
            "embedding": self.embedding,
            "aggregation_strategy": self.aggregation_strategy,
            "baseline_token_id": self.baseline_token_id,
            "model": str(getattr(self.model.config, "_name_or_path", "") or ""),
            "max_length": self.max_length,
            "windows": num_windows,
            "stride": self._stride() if num_windows > 1 else None,
            "context": self.context,
            "precision": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "device": str(next(self.model.parameters()).device),
            "nerlens_version": __version__,
        }


# ---------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class _Predicted:
    """One text after the forward passes at both path ends (every window, the extra ones around
    targets no planned window holds included): what is left is attribution."""

    document: Encoding
    windows: list[Window]
    inputs: list[ModelInput]
    probabilities: np.ndarray
    entities: tuple[Entity, ...]
    targets: tuple[Target, ...]
    homes: list[int]  # per target, the window that explains it
    gold: tuple[GoldSpan, ...] | None
    correct: tuple[bool, ...] | None


@dataclass(frozen=True)
class _WindowWork:
    """The targets of text ``text`` that window ``window`` explains, and a guess of the cost."""

    text: int
    window: int
    chosen: list[int]
    cost: int  # targets × tokens: what the passes of a window roughly scale with


def _window_work(index: int, text: _Predicted) -> list[_WindowWork]:
    """Text ``index``'s windows that explain at least one target, each with its targets."""
    work = []
    for w, window in enumerate(text.windows):
        chosen = [t for t, home in enumerate(text.homes) if home == w]
        if chosen:
            work.append(_WindowWork(index, w, chosen, len(chosen) * len(window.document_positions)))
    return work


def _alone(costs: Sequence[int], workers: int) -> list[int]:
    """The jobs to run one at a time, each using every worker for its own passes.

    Run side by side, single-threaded, jobs end when the largest ends: that wastes workers when
    one job costs more than an even share of the rest. Such jobs (largest first, again and
    again) run alone; the rest share the workers.
    """
    order = sorted(range(len(costs)), key=lambda i: -costs[i])
    remaining = sum(costs)
    alone: list[int] = []
    for i in order:
        if workers <= 1 or costs[i] * workers <= remaining:
            break
        alone.append(i)
        remaining -= costs[i]
    return alone


class _Reported:
    """Passes a method's progress reports on, counting them (the rest is reported after).
    Reports may come from the method's worker threads."""

    def __init__(self, advance: ProgressCallback) -> None:
        self.advance = advance
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, done: int) -> None:
        with self._lock:
            self.count += done
        self.advance(done)


def _place(
    model: PreTrainedModel, device: Device | None, precision: Precision | None
) -> PreTrainedModel:
    """Move/convert the model as asked; half precision only where it is fast and safe (GPU)."""
    if device not in (None, "cpu", "cuda", "auto"):
        raise InputError(f"device must be 'cpu', 'cuda', 'auto' or None, got {device!r}")
    if precision not in (None, *PRECISIONS):
        raise InputError(f"precision must be one of {[*PRECISIONS]} or None, got {precision!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "device='cuda' was requested but torch sees no CUDA device; use device='cpu' or 'auto'"
        )
    target = torch.device(device) if device else next(model.parameters()).device
    if precision in ("float16", "bfloat16") and target.type != "cuda":
        raise InputError(
            f"precision={precision!r} needs a CUDA device (on CPU it is slower and less "
            "accurate); use precision='float32' or device='cuda'"
        )
    if device is not None:
        model = model.to(target)
    return model if precision is None else model.to(PRECISIONS[precision])


def _baseline_token(tokenizer: PreTrainedTokenizerBase, token_id: int | None) -> int:
    if token_id is not None:
        if not isinstance(token_id, int) or not 0 <= token_id < len(tokenizer):
            raise InputError(
                f"baseline_token_id must be a token id in 0..{len(tokenizer) - 1}, got {token_id!r}"
            )
        return token_id
    for candidate in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    raise InputError("the tokenizer has no pad, unk or eos token; pass baseline_token_id=...")


def _check_stride(stride: int | None, long_text: LongText) -> int | None:
    """``stride`` is a non-negative int and only given where windows use it."""
    if stride is None:
        return None
    if not is_int_at_least(stride, 0):
        raise InputError(f"stride must be a non-negative int or None, got {stride!r}")
    if long_text != "window":
        raise InputError(f"stride={stride} only applies with long_text='window'")
    return stride


def _check_vocabulary(encoding: Encoding, model: PreTrainedModel) -> None:
    """Every token id must have a row in the model's embeddings (else: not its tokenizer)."""
    rows = model.get_input_embeddings().weight.shape[0]
    if max(encoding.input_ids) >= rows:
        position = next(i for i, token in enumerate(encoding.input_ids) if token >= rows)
        raise InputError(
            f"token {encoding.tokens[position]!r} has id {encoding.input_ids[position]}, but the "
            f"model embeds ids 0..{rows - 1} only; pass the tokenizer that belongs to the model"
        )


def _check_token_classifier(explainer: Explainer) -> None:
    """One forward on a tiny text: the model must give per-token logits over its labels."""
    encoding = encode(explainer.tokenizer, "a")
    _check_vocabulary(encoding, explainer.model)
    ids = torch.tensor([encoding.input_ids], device=model_device(explainer.model))
    with explainer.runner.session(), torch.no_grad():
        output = explainer.model(input_ids=ids, attention_mask=torch.ones_like(ids))
    logits = getattr(output, "logits", None)
    expected = (1, ids.shape[1], len(explainer.labels))
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
        got = "no .logits" if logits is None else f"logits of shape {tuple(logits.shape)}"
        raise InputError(
            "model must be a token-classification model (AutoModelForTokenClassification) whose "
            "logits have shape (batch, tokens, labels) with one label per config.id2label entry; "
            f"{type(explainer.model).__name__} gives {got} for {ids.shape[1]} tokens "
            f"and {len(explainer.labels)} labels"
        )


def _texts(texts: object) -> Iterable[str]:
    if not isinstance(texts, Sequence) or isinstance(texts, (bytes, bytearray)):
        raise InputError(f"text must be a str or a list of str, got {type(texts).__name__}")
    if not texts:
        raise InputError("the list of texts is empty; pass at least one text")
    return texts  # each is validated by encode()


def _split_targets(targets: Any, count: int, single: bool) -> list[Any]:
    if isinstance(targets, str):
        if targets not in ("tokens", "entities", "gold"):
            raise InputError(
                "targets must be 'tokens', 'entities', 'gold' or a list of Target objects, "
                f"got {targets!r}"
            )
        return [targets] * count
    if single:
        return [list(targets)]
    per_text = list(targets)
    if len(per_text) != count or any(isinstance(t, str) for t in per_text):
        raise InputError(
            f"for {count} texts, pass targets as 'tokens', 'entities' or a list of {count} "
            "lists of Target objects"
        )
    return [list(t) for t in per_text]


GoldSpanLike = GoldSpan | tuple[int, int, str]


def _check_method_keywords(
    method: object, options: Mapping[str, Any], method_options: Mapping[str, Any] | None
) -> None:
    """Keywords the Explainer does not take must be options of the named method, once."""
    both = sorted(set(options) & set(method_options or {}))
    if both:
        raise InputError(f"method option(s) {both} given twice: as keywords and in method_options")
    if options and isinstance(method, str):
        accepted = method_options_of(get_method_class(method))
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            own = [p for p in inspect.signature(Explainer.__init__).parameters if p != "self"]
            keywords = [p for p in own if p not in ("model", "tokenizer", "options")]
            raise InputError(
                f"method {method!r} takes no option(s) {unknown} and they are not Explainer "
                f"keywords; its options are {list(accepted)}, the Explainer's are {keywords}"
            )


def _split_gold(gold: Any, texts: list[str], single: bool) -> list[tuple[GoldSpan, ...] | None]:
    """Validated gold spans per text (None where no gold was given)."""
    if gold is None:
        return [None] * len(texts)
    if single:
        return [check_gold(gold, texts[0])]
    per_text = list(gold)
    if len(per_text) != len(texts):
        raise InputError(
            f"for {len(texts)} texts, pass gold as a list of {len(texts)} span lists (or None)"
        )
    return [None if g is None else check_gold(g, t) for g, t in zip(per_text, texts)]


def _check_indexes(indexes: Iterable[int]) -> frozenset[int]:
    indexes = list(indexes)
    bad = [i for i in indexes if isinstance(i, bool) or not isinstance(i, (int, np.integer))]
    if bad:
        raise InputError(f"ignored_indexes must be ints, got {bad!r}")
    return frozenset(int(i) for i in indexes)


def _check_in_range(indexes: frozenset[int], num_tokens: int) -> None:
    """Ignored indexes must point at tokens of the text (checked before any computation)."""
    out_of_range = sorted(i for i in indexes if not 0 <= i < num_tokens)
    if out_of_range:
        raise InputError(
            f"ignored_indexes {out_of_range} are out of range for a text of "
            f"{num_tokens} tokens (valid: 0..{num_tokens - 1})"
        )


def _probabilities_from_homes(
    probabilities: np.ndarray,
    targets: Sequence[Target],
    homes: Sequence[int],
    windows: Sequence[Window],
    inputs: Sequence[ModelInput],
) -> bool:
    """Make each target's probabilities those of the window that explains it; True if any moved.

    A token's probabilities come from the window that owns it. A target whose tokens are owned by
    other windows than its home (an entity across a window boundary) takes the probabilities of
    all its tokens from its home instead, so that its probability and its explained value are
    computed on the same model input.
    """
    owner = {
        window.document_positions[i]: w for w, window in enumerate(windows) for i in window.owned
    }
    changed = False
    for target, home in zip(targets, homes):
        moved = [p for p in target.positions if owner.get(p) != home]
        if moved:
            local = [windows[home].document_positions.index(p) for p in moved]
            probabilities[moved] = inputs[home].input_probs[local].double().cpu().numpy()
            changed = True
    return changed


def _warn_unconverged(deltas: np.ndarray) -> None:
    """Say so when some scores do not add up to their change in probability (too few steps)."""
    bad = np.abs(deltas) > CONVERGENCE_DELTA
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} of {len(deltas)} targets have |convergence delta| > "
            f"{CONVERGENCE_DELTA:g} (worst {np.nanmax(np.abs(deltas)):.2g}): their scores do not "
            'add up to the change in probability; use more steps or n_steps="auto"',
            ConvergenceWarning,
            stacklevel=4,
        )


def _progress(show: bool, total: int) -> Any:
    """A context giving an ``advance(k)`` callback; a transient rich bar when ``show``."""
    if not show:
        return nullcontext(lambda done: None)
    return _ProgressBar(total)


class _ProgressBar:
    """A transient rich bar: targets done out of ``total``, elapsed time and ETA."""

    def __init__(self, total: int, console: Console | None = None) -> None:
        self.bar = Progress(
            TextColumn("explaining"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("targets"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=True,
            console=console,
        )
        self.task = self.bar.add_task("explaining", total=total)

    def __enter__(self) -> ProgressCallback:
        self.bar.start()
        return lambda done: self.bar.advance(self.task, done)

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
