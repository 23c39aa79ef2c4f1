"""Text → tokens, with character offsets back into the user's unchanged text.

Offsets are the truth: the surface form of token ``i`` is always ``text[start:end]``; special
tokens have the empty span ``(0, 0)`` and ``special[i] == True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from nerlens.errors import InputError, TextTooLongError


@dataclass(frozen=True)
class Encoding:
    """One model input: token ids plus everything needed to map scores back onto the text."""

    text: str
    input_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]
    word_ids: tuple[int | None, ...]

    def __len__(self) -> int:
        return len(self.input_ids)

    def surface(self, position: int) -> str:
        """The characters of the user's text that token ``position`` covers ('' for specials)."""
        start, end = self.offsets[position]
        return self.text[start:end]


def validate_text(text: object) -> str:
    """Return ``text`` unchanged if it is a non-blank string, else raise :class:`InputError`."""
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise InputError(f"text must contain at least one non-whitespace character, got {text!r}")
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
    batch = tokenizer(
        text,
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        truncation=False,
        verbose=False,
    )
    ids = tuple(int(i) for i in batch["input_ids"])
    if max_length is not None and len(ids) > max_length:
        raise TextTooLongError(len(ids), max_length)
    return _build(
        text,
        tokenizer,
        ids,
        batch["offset_mapping"],
        batch["special_tokens_mask"],
        batch.word_ids(),
    )


def encode_windows(
    tokenizer: PreTrainedTokenizerBase, text: str, max_length: int, stride: int
) -> list[Encoding]:
    """Split a long text into overlapping windows of at most ``max_length`` tokens each.

    Consecutive windows share ``stride`` tokens of context, as in the HF pipeline's ``stride``.
    Offsets and word ids of every window still index the whole, unchanged text.
    """
    validate_text(text)
    require_fast_tokenizer(tokenizer)
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    if max_length - specials < 2:
        raise InputError(f"max_length={max_length} leaves no room for text tokens")
    if not 0 <= stride < max_length - specials:
        raise InputError(
            f"stride={stride} must be >= 0 and smaller than max_length minus the "
            f"{specials} special tokens ({max_length - specials})"
        )
    batch = tokenizer(
        text,
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        verbose=False,
    )
    return [
        _build(
            text,
            tokenizer,
            tuple(int(i) for i in batch["input_ids"][w]),
            batch["offset_mapping"][w],
            batch["special_tokens_mask"][w],
            batch.word_ids(w),
        )
        for w in range(len(batch["input_ids"]))
    ]


def _build(
    text: str,
    tokenizer: PreTrainedTokenizerBase,
    ids: tuple[int, ...],
    offsets: Sequence[Sequence[int]],
    special_mask: Sequence[int],
    word_ids: Sequence[int | None],
) -> Encoding:
    special = tuple(bool(s) for s in special_mask)
    return Encoding(
        text=text,
        input_ids=ids,
        tokens=tuple(tokenizer.convert_ids_to_tokens(list(ids))),
        offsets=tuple((0, 0) if s else (int(a), int(b)) for (a, b), s in zip(offsets, special)),
        special=special,
        word_ids=tuple(None if s else w for w, s in zip(word_ids, special)),
    )


def baseline_ids(encoding: Encoding, baseline_token_id: int) -> tuple[int, ...]:
    """The reference input: special tokens kept, every other token replaced by the baseline id.

    For BERT this is ``[CLS] + [PAD] * n + [SEP]``, so specials get exactly zero attribution.
    """
    return tuple(
        tok if special else baseline_token_id
        for tok, special in zip(encoding.input_ids, encoding.special)
    )
