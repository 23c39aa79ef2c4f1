"""GLiNER (zero-shot span NER, the ``gliner`` package): the second model kind.

A GLiNER model reads a label prompt and the text in one encoder input,
``[CLS] <<ENT>> person <<ENT>> location <<SEP>> the text's subwords [SEP]``, pools each of the
text's words (GLiNER's own word splitter) from its subwords, and scores every span of up to
``max_width`` words against every label: ``sigmoid(logits[start word, width, label])``. Here
that input is built exactly as GLiNER builds it (its splitter, its word mask, its span indices),
its spans are the kind's *units* (:attr:`nerlens.encoding.Encoding.units`), and its entities are
decoded as ``predict_entities`` decodes them (threshold, greedy overlap removal). The labels and
the decoding options may change from call to call (:meth:`GLiNERKind.configure`).

Supported: uni-encoder span models (``UniEncoderSpanGLiNER``: the gliner_small/medium/large and
gliner_multi_pii families). Bi-encoder, token-level, decoder and relation variants get an error.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from nerlens.encoding import (
    Encoding,
    Segment,
    baseline_ids,
    max_input_length,
    private_backend,
    require_fast_tokenizer,
    validate_text,
)
from nerlens.entities import Entity, Strategy
from nerlens.errors import InputError, OptionError, TextTooLongError, shown
from nerlens.gold import GoldSpan, covered_tokens
from nerlens.model_input import model_device
from nerlens.models.base import Embedding, ModelKind, ModelSource, check_embedding
from nerlens.targets import SpanTarget, Target

if TYPE_CHECKING:
    from nerlens.runner import ModelRunner

CONFIG_FILE = "gliner_config.json"
SUPPORTED = "UniEncoderSpanGLiNER"
MAX_LABELS = 64  # labels in one prompt: each adds tokens to every input and a column per span
MAX_LABEL_CHARS = 100
INSTALL_HINT = 'GLiNER models need the gliner package: pip install "nerlens[gliner]"'


@dataclass(frozen=True)
class Decoding:
    """How GLiNER turns span scores into entities (``predict_entities``' own options)."""

    threshold: float = 0.5
    flat_ner: bool = True
    multi_label: bool = False


def _cut(value: object, chars: int) -> str:
    """``repr(value)`` cut to ``chars`` characters, safe inside an OptionError template."""
    return f"{value!r:.{chars}}".replace("{", "{{").replace("}", "}}")


def check_labels(labels: object) -> tuple[str, ...]:
    """The entity types to look for: distinct non-blank strings, bounded in count and length."""
    if isinstance(labels, str):
        labels = [part.strip() for part in labels.split(",")]
    if not isinstance(labels, Sequence) or not all(isinstance(x, str) for x in labels):
        raise OptionError(
            f"{{labels}} must be a list of entity-type names, got {_cut(labels, 100)}", "labels"
        )
    blank = [label for label in labels if not label.strip()]
    if blank or not labels:
        raise OptionError(
            f"{{labels}} must be non-blank entity-type names, got {_cut(list(labels), 100)}",
            "labels",
        )
    if len(set(labels)) != len(labels):
        raise OptionError(f"{{labels}} must be distinct, got {_cut(list(labels), 200)}", "labels")
    if len(labels) > MAX_LABELS:
        raise OptionError(
            f"at most {MAX_LABELS} {{labels}} may be given, got {len(labels)}", "labels"
        )
    long = next((label for label in labels if len(label) > MAX_LABEL_CHARS), None)
    if long is not None:
        raise OptionError(
            f"{{labels}}: a label may have at most {MAX_LABEL_CHARS} characters, got "
            f"{len(long)}: {_cut(long, 60)}",
            "labels",
        )
    return tuple(labels)


def check_decoding(threshold: object, flat_ner: object, multi_label: object) -> Decoding:
    """GLiNER's decoding options, checked."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise OptionError(
            f"{{threshold}} must be a number in [0, 1), got {shown(threshold)}", "threshold"
        )
    if not 0 <= threshold < 1 or math.isnan(threshold):
        raise OptionError(f"{{threshold}} must be in [0, 1), got {shown(threshold)}", "threshold")
    for name, value in (("flat_ner", flat_ner), ("multi_label", multi_label)):
        if not isinstance(value, bool):
            raise OptionError(f"{{{name}}} must be True or False, got {shown(value)}", name)
    return Decoding(float(threshold), bool(flat_ner), bool(multi_label))


def _gliner_classes() -> tuple[type, type] | None:
    """``(BaseGLiNER, UniEncoderSpanGLiNER)`` when gliner is imported (a GLiNER model exists
    only then), else None: recognising models never imports gliner."""
    module = sys.modules.get("gliner.model")
    if module is None:
        return None
    return module.BaseGLiNER, module.UniEncoderSpanGLiNER


class _WordIds:
    """The one method of a tokenizer's batch output that gliner's ``prepare_word_mask`` reads."""

    def __init__(self, word_ids: list[int | None]) -> None:
        self._word_ids = word_ids

    def word_ids(self, _index: int) -> list[int | None]:
        return self._word_ids


class GLiNERKind(ModelKind):
    """A GLiNER uni-encoder span model, with the labels to look for and how to decode."""

    requirement = f"a GLiNER {SUPPORTED} (gliner package)"
    demo_name = "demo-gliner"
    options: ClassVar[tuple[str, ...]] = ("labels", "threshold", "flat_ner", "multi_label")
    default_targets = "entities"
    selectors: ClassVar[tuple[str, ...]] = ("entities", "gold")

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        labels: Sequence[str] = (),
        threshold: float = 0.5,
        flat_ner: bool = True,
        multi_label: bool = False,
    ) -> None:
        _, span_model = _gliner_classes() or (None, None)
        if span_model is None or not isinstance(model, span_model):
            raise InputError(
                f"nerlens explains GLiNER uni-encoder span models ({SUPPORTED}: gliner_small/"
                f"medium/large, gliner_multi_pii); {type(model).__name__} is not supported "
                "(bi-encoder, token-level, decoder and relation-extraction variants are not)"
            )
        require_fast_tokenizer(tokenizer)
        config = model.config
        if getattr(config, "precomputed_prompts_mode", False):
            raise InputError("GLiNER models with precomputed prompts are not supported")
        self.model = model
        self.tokenizer = tokenizer
        self.labels = check_labels(labels) if labels else ()
        self.decoding = check_decoding(threshold, flat_ner, multi_label)
        encoder = model.model.token_rep_layer.get_input_embeddings()
        self._embeddings = encoder
        backbone = getattr(model.model.token_rep_layer.bert_layer.model, "config", None)
        self._backbone_config = backbone
        self.max_length = max_input_length(
            tokenizer, getattr(backbone, "max_position_embeddings", None)
        )
        self.word_limit = int(config.max_len)
        self.max_width = int(config.max_width)

    # ------------------------------------------------------------------ recognising and loading
    @classmethod
    def recognises(cls, model: object) -> bool:
        classes = _gliner_classes()
        return classes is not None and isinstance(model, classes[0])

    @classmethod
    def handles(cls, source: ModelSource) -> bool:
        """A directory with ``gliner_config.json``, or a hub id whose repository has one."""
        if source.directory is not None:
            return (source.directory / CONFIG_FILE).is_file()
        from huggingface_hub import file_exists, try_to_load_from_cache

        if source.cache_only:
            return isinstance(try_to_load_from_cache(source.name, CONFIG_FILE), str)
        try:
            return bool(file_exists(source.name, CONFIG_FILE))
        except Exception:
            return False

    @classmethod
    def load(cls, source: ModelSource, trust_remote_code: bool) -> tuple[Any, Any]:
        try:
            from gliner import GLiNER
        except ImportError as error:
            raise ImportError(INSTALL_HINT) from error
        model = GLiNER.from_pretrained(source.location, local_files_only=source.cache_only)
        return model.eval(), model.data_processor.transformer_tokenizer

    @classmethod
    def load_demo(cls) -> tuple[Any, Any]:
        from nerlens.models.gliner_demo import load_demo_gliner

        return load_demo_gliner()

    # ------------------------------------------------------------------ one model
    def configure(self, **options: Any) -> GLiNERKind:
        """This kind with other labels or decoding options (the rest unchanged)."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise InputError(f"unknown GLiNER option(s) {unknown}; known: {list(self.options)}")
        current = {"labels": self.labels, **vars(self.decoding)}
        return GLiNERKind(self.model, self.tokenizer, **{**current, **options})

    def settings(self) -> dict[str, Any]:
        return vars(self.decoding).copy()

    @property
    def encoder_config(self) -> Any:
        """The backbone's config: GLiNER's own holds only its head's sizes."""
        return self._backbone_config

    @property
    def model_name(self) -> str:
        config = self.model.config
        return str(getattr(config, "name_or_path", "") or getattr(config, "_name_or_path", ""))

    def verify(self, runner: ModelRunner) -> None:
        """One forward on a tiny text: GLiNER must give span logits over the prompt's labels."""
        kind = self if self.labels else self.configure(labels=("entity",))
        encoding = kind.encode("a")
        inputs, _ = kind.path_ends(encoding, "word", kind.baseline_token(None))
        with runner.session(), torch.no_grad():
            logits = getattr(self.model(**inputs), "logits", None)
        expected = (1, 1, self.max_width, len(kind.labels))
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
            got = "no .logits" if logits is None else f"logits of shape {tuple(logits.shape)}"
            raise InputError(
                f"a GLiNER span model must give logits (batch, words, max_width, labels) = "
                f"{expected} here; {type(self.model).__name__} gives {got}"
            )

    @cached_property
    def _markers(self) -> frozenset[int]:
        """The ids of GLiNER's prompt markers (never perturbed, like special tokens)."""
        config = self.model.config
        tokens = [config.ent_token, config.sep_token]
        return frozenset(int(i) for i in self.tokenizer.convert_tokens_to_ids(tokens))

    def words(self, text: str) -> list[tuple[int, int]]:
        """The character span of each of the text's words, as GLiNER's splitter cuts them."""
        return [(start, end) for _, start, end in self.model.data_processor.words_splitter(text)]

    def prompt(self) -> list[str]:
        """The label prompt's words: ``<<ENT>> label`` per label, then ``<<SEP>>``."""
        if not self.labels:
            raise InputError(
                "a GLiNER model needs the entity types to look for: pass labels=['person', "
                "'location', ...] (CLI: --labels person,location)"
            )
        config = self.model.config
        return [*(w for label in self.labels for w in (config.ent_token, label)), config.sep_token]

    def encode(self, text: str, max_length: int | None = None) -> Encoding:
        """The prompt and the text's words, tokenised as GLiNER tokenises them (never cut)."""
        validate_text(text)
        words = self.words(text)
        prompt = self.prompt()
        if max_length is not None and len(words) > self.word_limit:
            raise TextTooLongError(len(words), self.word_limit, unit="words")
        encoded = private_backend(self.tokenizer).encode(
            [*prompt, *(text[a:b] for a, b in words)], is_pretokenized=True
        )
        ids = tuple(encoded.ids)
        if max_length is not None and len(ids) > max_length:
            raise TextTooLongError(len(ids), max_length)
        special, segments, word_ids, offsets = [], [], [], []
        for token_id, word, (start, end), is_special in zip(
            ids, encoded.word_ids, encoded.offsets, encoded.special_tokens_mask
        ):
            in_text = word is not None and word >= len(prompt) and not is_special
            segment: Segment = "text" if in_text else "prompt" if word is not None else "special"
            special.append(bool(is_special) or token_id in self._markers)
            segments.append("special" if is_special else segment)
            word_ids.append(word - len(prompt) if in_text else None)
            first = words[word - len(prompt)][0] if in_text else 0
            offsets.append((first + start, first + end) if in_text else (0, 0))
        text_tokens = [p for p, segment in enumerate(segments) if segment == "text"]
        found = {w for w in word_ids if w is not None}
        if len(found) != len(words):
            empty = next(i for i in range(len(words)) if i not in found)
            raise InputError(
                f"the word {text[slice(*words[empty])]!r} at character {words[empty][0]} has no "
                "token in this tokenizer, so GLiNER would score its neighbours' spans in its place"
            )
        return Encoding(
            text=text,
            input_ids=ids,
            tokens=tuple(self.tokenizer.convert_ids_to_tokens(list(ids))),
            offsets=tuple(offsets),
            special=tuple(special),
            word_ids=tuple(word_ids),
            content=(text_tokens[0], text_tokens[-1] + 1),
            segments=tuple(segments),
            span_width=self.max_width,
        )

    def layer(self, embedding: Embedding) -> tuple[nn.Module, Embedding]:
        """The encoder's word embeddings (GLiNER's forward takes no position ids)."""
        check_embedding(embedding)
        if embedding == "position":
            warnings.warn(
                "embedding='position' is not available: GLiNER's forward takes no position "
                "ids, so positions cannot be set to a baseline; attributing to the word "
                "embeddings instead",
                stacklevel=3,
            )
        return self._embeddings, "word"

    def path_ends(
        self, encoding: Encoding, embedding: Embedding, baseline_token_id: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """GLiNER's inputs (ids, masks, word mask, span indices) at the text and at the
        baseline, which replaces every non-special id (the label words included)."""
        from gliner.data_processing.utils import prepare_span_idx

        device = model_device(self.model)
        prompt_words = len(self.prompt())
        num_words = self._num_words(encoding)
        # gliner's own word mask (first-subword pooling or the model's), from each token's word
        # in GLiNER's numbering: the prompt's words first, then the text's
        word_ids = self._gliner_word_ids(encoding, prompt_words)
        words_mask = self.model.data_processor.prepare_word_mask(
            [word_ids], _WordIds(word_ids), [prompt_words]
        )
        spans = prepare_span_idx(num_words, self.max_width)
        span_idx = torch.as_tensor(spans, dtype=torch.long, device=device).reshape(1, -1, 2)
        ids = torch.tensor([encoding.input_ids], device=device)
        inputs = {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "words_mask": torch.tensor(words_mask, device=device),
            "text_lengths": torch.tensor([[num_words]], device=device),
            "span_idx": span_idx,
            "span_mask": span_idx[:, :, 1] < num_words,
        }
        reference = torch.tensor([baseline_ids(encoding, baseline_token_id)], device=device)
        return inputs, {**inputs, "input_ids": reference}

    @staticmethod
    def _num_words(encoding: Encoding) -> int:
        return len({w for w in encoding.word_ids if w is not None})

    @staticmethod
    def _gliner_word_ids(encoding: Encoding, prompt_words: int) -> list[int | None]:
        """Each token's word as GLiNER's tokenizer numbers them: the prompt's words, then the
        text's from ``prompt_words`` on (a window's text words renumbered from there)."""
        text_words = sorted({w for w in encoding.word_ids if w is not None})
        renumber = {w: prompt_words + i for i, w in enumerate(text_words)}
        word_ids: list[int | None] = []
        prompt_word = -1
        for position, word in enumerate(encoding.word_ids):
            segment = encoding.segment(position)
            if word is not None:
                word_ids.append(renumber[word])
            elif segment == "prompt":  # a marker is a word, and so is each label
                previous = position - 1
                label_goes_on = not encoding.special[position] and (
                    encoding.segment(previous) == "prompt" and not encoding.special[previous]
                )
                prompt_word += 0 if label_goes_on else 1
                word_ids.append(prompt_word)
            else:
                word_ids.append(None)
        return word_ids

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Each span's sigmoid per label ``(batch, spans, labels)``, the spans that fit in the
        text (start word + width < words) in GLiNER's order, in float32 as GLiNER scores."""
        batch, words, width, labels = logits.shape
        starts = torch.arange(words, device=logits.device)[:, None]
        fits = (starts + torch.arange(width, device=logits.device)[None, :] < words).reshape(-1)
        return torch.sigmoid(logits.float()).reshape(batch, words * width, labels)[:, fits]

    def entities(
        self, encoding: Encoding, probabilities: np.ndarray, strategy: Strategy
    ) -> tuple[Entity, ...]:
        """``predict_entities``' entities: spans scoring above the threshold, greedily kept
        by score without overlaps (flat) or partial overlaps (nested), ordered by start."""
        decoding = self.decoding
        scores = probabilities.astype(np.float32)
        units, labels = np.nonzero(scores > np.float32(decoding.threshold))
        candidates = [
            (*encoding.units[u], int(label), float(scores[u, label]))
            for u, label in zip(units, labels)
        ]
        kept: list[tuple[int, int, int, float]] = []
        for candidate in sorted(candidates, key=lambda c: -c[3]):
            if not any(_clash(candidate, other, decoding) for other in kept):
                kept.append(candidate)
        kept.sort(key=lambda c: c[0])
        words = self.words(encoding.text)
        entities = []
        for start, end, label, score in kept:
            first = words[encoding.word_ids[start]][0]
            last = words[encoding.word_ids[end - 1]][1]
            entities.append(
                Entity(
                    entity_group=self.labels[label],
                    score=score,
                    word=encoding.text[first:last],
                    start=first,
                    end=last,
                    token_start=start,
                    token_end=end,
                    labels=(self.labels[label],) * (end - start),
                )
            )
        return tuple(entities)

    def entity_target(self, entity: Entity) -> Target:
        return SpanTarget(entity.token_start, entity.token_end, entity.entity_group)

    def correctness(
        self,
        gold: Sequence[GoldSpan],
        document: Encoding,
        probabilities: np.ndarray,
        entities: Sequence[Entity],
        targets: Sequence[Target],
    ) -> tuple[bool, ...]:
        """Per span target: whether the model's decision on its span and label (an entity or
        not) is the gold's, as in entity-level scoring."""
        truth = {self._gold_key(span, document) for span in gold}
        found = {(e.token_start, e.token_end, e.entity_group) for e in entities}
        keys = [(t.start, t.end, t.label) for t in targets if isinstance(t, SpanTarget)]
        return tuple((key in truth) == (key in found) for key in keys)

    def error_targets(
        self,
        gold: Sequence[GoldSpan],
        document: Encoding,
        probabilities: np.ndarray,
        entities: Sequence[Entity],
    ) -> tuple[Target, ...]:
        """Why not each gold entity the model missed (its span and gold label), and why each
        entity it found that the gold does not hold."""
        truth = [self._gold_key(span, document) for span in gold]
        found = [(e.token_start, e.token_end, e.entity_group) for e in entities]
        missed = [key for key in truth if key not in found]
        wrong = [key for key in found if key not in truth]
        return tuple(SpanTarget(*key) for key in sorted(missed + wrong))

    @staticmethod
    def _gold_key(span: GoldSpan, document: Encoding) -> tuple[int, int, str]:
        """A gold span as ``(token start, token end, label)`` on the whole words it touches."""
        touched = covered_tokens(span, document.offsets, document.special)
        words = {document.word_ids[p] for p in touched} - {None}
        tokens = [p for p in range(*document.content) if document.word_ids[p] in words]
        return tokens[0], tokens[-1] + 1, span.label

    def entity_dict(self, entity: Entity) -> dict[str, Any]:
        """``predict_entities``' dict: start, end, text, label, score."""
        return entity.as_gliner()


def _clash(
    span: tuple[int, int, int, float], kept: tuple[int, int, int, float], decoding: Decoding
) -> bool:
    """Whether ``span`` may not be kept next to ``kept`` (GLiNER's ``greedy_search``)."""
    (a1, b1, *_), (a2, b2, *_) = span, kept
    if (a1, b1) == (a2, b2):
        return not decoding.multi_label
    overlaps = a1 < b2 and a2 < b1
    if decoding.flat_ner:
        return overlaps
    nested = (a1 <= a2 and b2 <= b1) or (a2 <= a1 and b1 <= b2)
    return overlaps and not nested
