"""The native API: text(s) → encoding → targets → attributions → Explanation(s).

Options are checked once, in the constructor or at the top of ``__call__``, and routed to the stage
that uses them; every later stage can trust its inputs.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens import __version__
from nerlens.encoding import Encoding
from nerlens.entities import Strategy
from nerlens.errors import ConvergenceWarning, InputError, unconverged
from nerlens.explanation import Explanation
from nerlens.faithfulness import check_token_level
from nerlens.faithfulness import evaluate as evaluate_faithfulness
from nerlens.gold import GoldSpan, check_gold_types
from nerlens.methods import (
    DEFAULT_METHOD,
    AttributionMethod,
    Budget,
    get_method_class,
    resolve_method,
)
from nerlens.methods import method_options as method_options_of
from nerlens.methods.base import Attribution, ProgressCallback
from nerlens.model_input import (
    ModelInput,
    model_device,
    prepare,
)
from nerlens.models import kind_of
from nerlens.models.base import Embedding, ModelKind
from nerlens.models.registry import MODEL_OPTIONS
from nerlens.options import (
    check_explainer_options,
    check_in_range,
    check_indexes,
    check_method_keywords,
    check_texts,
    place,
    split_gold,
    split_targets,
)
from nerlens.prediction import Predicted, TargetSelector, predict, space_of
from nerlens.progress import progress
from nerlens.runner import ModelRunner, intra_op_threads, run_concurrently, workers_for
from nerlens.scheduling import (
    WindowWork,
    attribute,
    gather,
    prepare_inputs,
    run_work,
    window_work,
)
from nerlens.targets import (
    SpanTarget,
    Target,
    TargetSpace,
    check_ignored_labels,
    check_targets,
    span_from_characters,
)
from nerlens.windows import Window, plan_windows

if TYPE_CHECKING:
    import pandas as pd

LongText = Literal["error", "window"]
Device = Literal["cpu", "cuda", "auto"]
Precision = Literal["float32", "float16", "bfloat16"]
AUTO_PROGRESS_TOKENS = 256


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
    A zero-shot model (GLiNER) takes its model options here or per call: ``labels`` (the entity
    types to look for), ``threshold``, ``flat_ner`` and ``multi_label`` (as
    ``predict_entities``); its default targets are its predicted entities.

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
    ``threads=1`` runs everything in the calling thread. torch keeps the setting per thread: a
    call changes only its own thread's, and restores it when it ends.
    ``progress`` shows a transient bar of targets done out of the total, with an ETA (default:
    only for calls of at least 256 tokens).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        method: str | AttributionMethod = DEFAULT_METHOD,
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
        model_options = {k: options.pop(k) for k in list(options) if k in MODEL_OPTIONS}
        self.kind = kind_of(model, tokenizer).configure(**model_options)
        check_explainer_options(
            internal_batch_size=internal_batch_size,
            max_memory_mb=max_memory_mb,
            long_text=long_text,
            stride=stride,
            context=context,
            device=device,
            precision=precision,
            progress=progress,
            threads=threads,
            aggregation_strategy=aggregation_strategy,
        )
        accepted = method_options_of(get_method_class(method)) if isinstance(method, str) else None
        check_method_keywords(method, options, method_options, accepted)
        self.model = place(model, device, precision)
        self.tokenizer = tokenizer
        self.method: AttributionMethod = resolve_method(
            method, {**(method_options or {}), **options}
        )
        layer, self.embedding = self.kind.layer(embedding)
        self.runner = ModelRunner(self.model, layer)
        self.budget = Budget(internal_batch_size=internal_batch_size, max_memory_mb=max_memory_mb)
        self.baseline_token_id = self.kind.baseline_token(baseline_token_id)
        self.max_length = self.kind.max_length
        self.long_text = long_text
        if context is not None:
            self.max_length = min(self.max_length, context)
        self.context = context
        self.stride = stride
        self.progress = progress
        self.threads = threads
        self._method_reports_progress = (
            "progress" in inspect.signature(self.method.attribute).parameters
        )
        self.aggregation_strategy = aggregation_strategy
        self.kind.verify(self.runner)

    # ------------------------------------------------------------------ public API
    @overload
    def __call__(
        self,
        text: str,
        targets: TargetSelector | Sequence[Target] | None = ...,
        *,
        ignored_indexes: Iterable[int] = ...,
        ignored_labels: Iterable[str] = ...,
        include_special_tokens: bool = ...,
        gold: Iterable[GoldSpanLike] | None = ...,
        **model_options: Any,
    ) -> Explanation: ...

    @overload
    def __call__(
        self,
        text: Sequence[str],
        targets: TargetSelector | Sequence[Sequence[Target]] | None = ...,
        *,
        ignored_indexes: Iterable[int] = ...,
        ignored_labels: Iterable[str] = ...,
        include_special_tokens: bool = ...,
        gold: Sequence[Iterable[GoldSpanLike] | None] | None = ...,
        **model_options: Any,
    ) -> list[Explanation]: ...

    def __call__(
        self,
        text: str | Sequence[str],
        targets: Any = None,
        *,
        ignored_indexes: Iterable[int] = (),
        ignored_labels: Iterable[str] = (),
        include_special_tokens: bool = False,
        gold: Any = None,
        **model_options: Any,
    ) -> Explanation | list[Explanation]:
        """Explain one text (→ Explanation) or a list of texts (→ list of Explanations).

        ``targets``: ``"tokens"`` (each token's predicted label), ``"entities"`` (each predicted
        entity), or explicit Target objects (a list of lists for a list of texts); None: the
        model kind's default (tokens for a token classifier, entities for GLiNER).
        ``model_options`` (a zero-shot model's ``labels``, ``threshold``...) apply to this call.
        ``ignored_indexes``/``ignored_labels`` drop token targets by position or predicted label.
        ``gold``: the true entities as ``(start, end, type)`` character spans (a list of such lists
        for a list of texts); every target then records whether the model got it right
        (``explanation.correct``), and ``targets="gold"`` explains the truth where the model was
        wrong (see :func:`nerlens.gold.error_targets`).
        """
        kind = self._configured(model_options)
        label2id = TargetSpace(kind.labels)
        single = isinstance(text, str)
        texts = [text] if single else list(check_texts(text))
        targets = kind.default_targets if targets is None else targets
        per_text_targets = split_targets(targets, len(texts), single, kind.selectors)
        ignored_labels = check_ignored_labels(ignored_labels, label2id)
        ignored_indexes = check_indexes(ignored_indexes)
        per_text_gold = split_gold(gold, texts, single)
        for spans in per_text_gold:
            check_gold_types(spans or (), kind.labels)
        if any(g is None for g in per_text_gold) and "gold" in per_text_targets:
            raise InputError(
                "targets='gold' needs the gold entities: pass gold=[(start, end, type)]"
            )
        encoded = [self._windows(t, kind) for t in texts]
        for index, (document, _) in enumerate(encoded):
            check_in_range(ignored_indexes, len(document))
            if not isinstance(per_text_targets[index], str):
                per_text_targets[index] = check_targets(
                    per_text_targets[index], len(document), space_of(kind, document)
                )
        tokens = sum(len(document) for document, _ in encoded)
        show = self.progress if self.progress is not None else tokens >= AUTO_PROGRESS_TOKENS
        with intra_op_threads(self.threads), self.runner.session():
            workers = workers_for(model_device(self.model))
            prepared = iter(self._prepare([w.encoding for _, ws in encoded for w in ws], kind))
            predicted = run_concurrently(
                [
                    partial(
                        predict,
                        kind,
                        document,
                        windows,
                        [next(prepared) for _ in windows],
                        selection,
                        ignored_indexes,
                        ignored_labels,
                        include_special_tokens,
                        spans,
                        max_length=self.max_length,
                        strategy=self.aggregation_strategy,
                        prepare=partial(self._prepare, kind=kind),
                    )
                    for (document, windows), selection, spans in zip(
                        encoded, per_text_targets, per_text_gold
                    )
                ],
                workers,
            )
            total = sum(len(text.targets) for text in predicted)
            with progress(show, total, "targets", transient=True) as advance:
                work = [
                    w
                    for i, text in enumerate(predicted)
                    for w in window_work(i, text.windows, text.homes)
                ]
                done = run_work(
                    work, lambda w: self._attribute_window(predicted[w.text], w, advance), workers
                )
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
        check_token_level(explanation)
        kind = self._configured(
            {
                "labels": explanation.labels,
                **{k: v for k, v in explanation.settings.items() if k in self.kind.options},
            }
            if self.kind.options
            else {}
        )
        document, windows = self._windows(explanation.text, kind)
        with self.runner.session():
            return evaluate_faithfulness(
                explanation,
                document=document,
                windows=windows,
                max_length=self.max_length,
                word_limit=kind.word_limit,
                model_input=partial(self._window_input, kind=kind),
                label2id=space_of(kind, document),
                budget=self.budget,
            )

    def span_target(
        self,
        text: str,
        start: int,
        end: int,
        label: str,
        foil: str | None = None,
        **model_options: Any,
    ) -> SpanTarget:
        """A span model's target on the words of characters ``[start, end)`` of ``text``: why
        (or why not) ``label`` there, rather than ``foil`` if given. Pass the same model
        options (labels) as the call that explains it: the prompt moves the text's tokens."""
        kind = self._configured(model_options)
        document = kind.encode(text)
        target = span_from_characters(document, start, end, label, foil)
        check_targets([target], len(document), space_of(kind, document))
        return target

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels (a zero-shot model's: the ones given to the Explainer)."""
        return self.kind.labels

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    # ------------------------------------------------------------------ stages
    def _configured(self, model_options: Mapping[str, Any]) -> ModelKind:
        """The model's kind with this call's model options (labels, threshold...)."""
        unknown = sorted(set(model_options) - set(MODEL_OPTIONS))
        if unknown:
            raise InputError(
                f"unknown keyword(s) {unknown}: a call takes targets, ignored_indexes, "
                "ignored_labels, include_special_tokens, gold and model options "
                f"{list(MODEL_OPTIONS)}"
            )
        return self.kind.configure(**model_options) if model_options else self.kind

    def _windows(self, text: str, kind: ModelKind) -> tuple[Encoding, list[Window]]:
        """The text's encoding, and the model windows that cover it (one unless it is long)."""
        document = kind.encode(text, self.max_length if self.long_text == "error" else None)
        return document, plan_windows(document, self.max_length, self._stride(), kind.word_limit)

    def _attribute_window(
        self, text: Predicted, work: WindowWork, advance: ProgressCallback
    ) -> Attribution:
        """The targets ``work.chosen`` of ``text`` attributed in their home window."""
        window, model_input = text.windows[work.window], text.inputs[work.window]
        terms = [window.local_terms(text.targets[t].terms(text.space)) for t in work.chosen]
        return attribute(
            self.method, model_input, terms, self.budget, advance, self._method_reports_progress
        )

    def _explanation(
        self, text: Predicted, done: list[tuple[WindowWork, Attribution]]
    ) -> Explanation:
        """One text's Explanation from its windows' attributions."""
        document, windows, targets = text.document, text.windows, text.targets
        result = gather(done, windows, len(targets), len(document))
        if not self.method.warns_when_unconverged:
            _warn_unconverged(result.deltas)
        return Explanation(
            text=document.text,
            tokens=document.tokens,
            offsets=document.offsets,
            special=document.special,
            word_ids=document.word_ids,
            labels=text.kind.labels,
            probabilities=text.probabilities,
            targets=targets,
            attributions=result.scores,
            target_values=result.target_values,
            baseline_values=result.baseline_values,
            deltas=result.deltas,
            steps=result.steps,
            settings=self._settings(len(windows), text.kind),
            entities=text.entities,
            gold=text.gold or (),
            correct=text.correct,
            segments=document.segments,
            units=None if document.span_width is None else document.units,
        )

    def _prepare(self, encodings: Sequence[Encoding], kind: ModelKind) -> list[ModelInput]:
        """The windows' ModelInputs, in order, sharing passes (:func:`prepare_inputs`)."""
        return prepare_inputs(
            kind,
            self.runner,
            self.embedding,
            self.baseline_token_id,
            self.method,
            self.budget,
            encodings,
        )

    def _window_input(self, window: Window, kind: ModelKind) -> ModelInput:
        """One window's ModelInput, in a pass of its own."""
        (model_input,) = prepare(
            kind, self.runner, self.embedding, [window.encoding], self.baseline_token_id
        )
        return model_input

    def _stride(self) -> int:
        """Tokens shared by neighbouring windows: as given, else a quarter of the model length."""
        return self.max_length // 4 if self.stride is None else self.stride

    def _settings(self, num_windows: int, kind: ModelKind) -> dict[str, Any]:
        return {
            **kind.settings(),
            "method": self.method.name,
            **self.method.settings(),
            "embedding": self.embedding,
            "aggregation_strategy": self.aggregation_strategy,
            "baseline_token_id": self.baseline_token_id,
            "model": kind.model_name,
            "max_length": self.max_length,
            "windows": num_windows,
            "stride": self._stride() if num_windows > 1 else None,
            "context": self.context,
            "precision": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "device": str(next(self.model.parameters()).device),
            "nerlens_version": __version__,
        }


# ---------------------------------------------------------------------- helpers
GoldSpanLike = GoldSpan | tuple[int, int, str]


def _warn_unconverged(deltas: np.ndarray) -> None:
    """Say so when some scores do not add up to their change in probability (too few steps)."""
    message = unconverged(deltas.tolist())
    if message:
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
