"""Text → tokens, with character offsets back into the user's unchanged text.

Offsets are the truth: the surface form of token ``i`` is always ``text[start:end]``; special
tokens have the empty span ``(0, 0)`` and ``special[i] == True``. Tokens are identified by their
position, never by their offsets: several tokens can share one span (an emoji split into byte
tokens, a bare Metaspace "▁").

A model input may also hold tokens that are not the text's (a label prompt, ``segment ==
"prompt"``, offsets ``(0, 0)``), and its outputs may be per token (a token classifier) or per
*unit* of several tokens (a span model's spans of up to ``span_width`` words):
:attr:`Encoding.units` says which tokens each output row covers, so targets, windows and views
never need to know which.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

from nerlens.errors import InputError, TextTooLongError

Segment = Literal["prompt", "text", "special"]
"""What a token of a model input is: part of a label prompt, of the text, or a special token."""


@dataclass(frozen=True)
class Encoding:
    """One model input: token ids plus everything needed to map scores back onto the text.

    ``segments`` (empty: every token is ``"special"`` or ``"text"`` by ``special``) marks
    prompt tokens. ``span_width`` is None when the model's outputs are per token; for a span
    model it is the most words a span may have, and the outputs are per span of the text's
    words (:attr:`units`).
    """

    text: str
    input_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]
    word_ids: tuple[int | None, ...]
    content: tuple[int, int]  # [start, stop): the text's own tokens, between the template's
    segments: tuple[Segment, ...] = ()
    span_width: int | None = None

    def window(self, start: int, stop: int) -> tuple[Encoding, tuple[int, ...]]:
        """The model input for content tokens ``[start, stop)`` wrapped in the same template
        tokens ([CLS] … [SEP], <s> … </s>), and each of its tokens' position in this encoding.

        No re-tokenisation: the window's ids are the document's own, so they are exactly what
        the tokenizer's post-processor makes of that slice of the text's tokens.
        """
        first, last = self.content
        if not first <= start <= stop <= last:
            raise ValueError(f"window [{start}, {stop}) is outside the content [{first}, {last})")
        positions = (*range(first), *range(start, stop), *range(last, len(self)))
        return (
            Encoding(
                text=self.text,
                input_ids=tuple(self.input_ids[p] for p in positions),
                tokens=tuple(self.tokens[p] for p in positions),
                offsets=tuple(self.offsets[p] for p in positions),
                special=tuple(self.special[p] for p in positions),
                word_ids=tuple(self.word_ids[p] for p in positions),
                content=(first, first + stop - start),
                segments=tuple(self.segments[p] for p in positions) if self.segments else (),
                span_width=self.span_width,
            ),
            positions,
        )

    def segment(self, position: int) -> Segment:
        """Whether token ``position`` is part of the prompt, of the text, or special."""
        if self.segments:
            return self.segments[position]
        return "special" if self.special[position] else "text"

    @cached_property
    def units(self) -> tuple[tuple[int, int], ...]:
        """The ``[start, stop)`` tokens each row of the model's outputs covers: one per token,
        or for a span model every span of 1..``span_width`` consecutive text words, by start
        word then width (the order of the model's outputs)."""
        if self.span_width is None:
            return tuple((p, p + 1) for p in range(len(self)))
        words: dict[int, list[int]] = {}
        for position in range(*self.content):
            word = self.word_ids[position]
            if word is not None and self.segment(position) == "text":
                words.setdefault(word, []).append(position)
        ranges = [(group[0], group[-1] + 1) for group in words.values()]
        return tuple(
            (ranges[first][0], ranges[first + width][1])
            for first in range(len(ranges))
            for width in range(min(self.span_width, len(ranges) - first))
        )

    @cached_property
    def unit_index(self) -> dict[tuple[int, int], int]:
        """Each unit's row in the model's outputs, by its ``[start, stop)`` tokens."""
        return {span: row for row, span in enumerate(self.units)}

    def __len__(self) -> int:
        return len(self.input_ids)

    def surface(self, position: int) -> str:
        """The characters of the user's text that token ``position`` covers ('' for specials)."""
        start, end = self.offsets[position]
        return self.text[start:end]


_SURROGATE = re.compile("[\ud800-\udfff]")


def validate_text(text: object) -> str:
    """Return ``text`` unchanged if it is a non-blank string of Unicode characters, else raise
    :class:`InputError`."""
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise InputError(f"text must contain at least one non-whitespace character, got {text!r}")
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        raise InputError(
            f"text has a lone surrogate U+{ord(surrogate.group()):04X} at character "
            f"{surrogate.start()}, which is not a Unicode character (undecodable bytes read with "
            "errors='surrogateescape' give these); decode the text with its real encoding"
        )
    return text


def require_fast_tokenizer(tokenizer: PreTrainedTokenizerBase) -> None:
    """Offsets need a fast (Rust) tokenizer; say so clearly instead of failing deep inside."""
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(
            "nerlens needs a fast tokenizer for character offsets, got "
            f"{type(tokenizer).__name__}; "
            "load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
        )


def max_input_length(tokenizer: PreTrainedTokenizerBase, model_limit: int | None) -> int:
    """The longest input (special tokens included) both the tokenizer and the model accept."""
    limits = [n for n in (tokenizer.model_max_length, model_limit) if n and n < 1_000_000]
    return min(limits) if limits else 512


def encode(
    tokenizer: PreTrainedTokenizerBase, text: str, max_length: int | None = None
) -> Encoding:
    """Tokenise ``text`` with the tokenizer's special tokens; never rewrites the text.

    Raises :class:`TextTooLongError` when the input needs more than ``max_length`` tokens.
    """
    validate_text(text)
    require_fast_tokenizer(tokenizer)
    encoding = private_backend(tokenizer).encode(text, add_special_tokens=True)
    ids = tuple(encoding.ids)
    if max_length is not None and len(ids) > max_length:
        raise TextTooLongError(len(ids), max_length)
    special = tuple(bool(s) for s in encoding.special_tokens_mask)
    own = [i for i, sequence in enumerate(encoding.sequence_ids) if sequence is not None]
    return Encoding(
        text=text,
        input_ids=ids,
        tokens=tuple(tokenizer.convert_ids_to_tokens(list(ids))),
        offsets=tuple((0, 0) if s else offset for offset, s in zip(encoding.offsets, special)),
        special=special,
        word_ids=tuple(None if s else w for w, s in zip(encoding.word_ids, special)),
        content=(own[0], own[-1] + 1) if own else (len(ids), len(ids)),
    )


_BACKENDS: weakref.WeakKeyDictionary[PreTrainedTokenizerBase, tuple[int, Tokenizer]] = (
    weakref.WeakKeyDictionary()
)
_BACKENDS_LOCK = threading.Lock()


def private_backend(tokenizer: PreTrainedTokenizerBase) -> Tokenizer:
    """nerlens' own copy of the tokenizer's Rust backend, never truncating or padding.

    A fast tokenizer keeps truncation and padding as state on its backend: every call with
    other settings (a pipeline's ``truncation=True``) changes it, and a call in another thread
    can then cut or pad this one's text. Encoding with a private copy makes nerlens safe next to
    any other use of the tokenizer, and it never changes the user's tokenizer. The copy is made
    again when tokens are added to the tokenizer.
    """
    size = len(tokenizer)
    with _BACKENDS_LOCK:
        cached = _BACKENDS.get(tokenizer)
        if cached is None or cached[0] != size:
            backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
            backend.no_truncation()
            backend.no_padding()
            backend.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
            cached = _BACKENDS[tokenizer] = (size, backend)
        return cached[1]


def baseline_ids(encoding: Encoding, baseline_token_id: int) -> tuple[int, ...]:
    """The reference input: special tokens kept, every other token replaced by the baseline id.

    For BERT this is ``[CLS] + [PAD] * n + [SEP]``, so specials get exactly zero attribution.
    """
    return tuple(
        tok if special else baseline_token_id
        for tok, special in zip(encoding.input_ids, encoding.special)
    )
