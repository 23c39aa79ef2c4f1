"""Drop-in replacement for transformers-interpret's ``TokenClassificationExplainer``.

Same calls, same numbers (docs/reference-semantics.md: every selected position, special tokens
included, is a target; scores are L2-normalised), without the reference's defects: the text is
never rewritten, a repeated token keeps its explanation, and bad input raises a clear error.

Keys of the returned dict are token texts. A token text that occurs at several explained positions
is keyed ``"<token> (<position>)"`` at each of them (e.g. ``"the (1)"``, ``"the (7)"``), so every
position appears exactly once.

The reference's public surface is kept: ``attributions`` (``{position: LIGAttributions-like}``,
None before a call), ``input_ids``/``ref_input_ids`` after a call, ``encode``/``decode``,
``predicted_class_indexes``/``predicted_class_names``/``word_attributions``, ``visualize``,
``str(explainer)``, the tokenizer ids ``cls_token_id``/``sep_token_id``/``ref_token_id``, and the
error types :class:`AttributionTypeNotSupportedError` and :class:`InputIdsNotCalculatedError`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens.encoding import baseline_ids, encode
from nerlens.errors import InputError
from nerlens.explainer import Explainer
from nerlens.explanation import Explanation
from nerlens.render import display_token
from nerlens.render.html import HtmlPage, render_html

EMBEDDING_TYPES = {0: "word", 1: "position"}
SUPPORTED_ATTRIBUTION_TYPES = ["lig"]


class AttributionTypeNotSupportedError(InputError, RuntimeError):
    """``attribution_type`` is not one the explainer supports (the reference's error type)."""


class InputIdsNotCalculatedError(RuntimeError):
    """Something that needs the last text's ``input_ids`` was asked for before any call."""


@dataclass(frozen=True)
class PositionAttributions:
    """One explained position, shaped like the reference's ``LIGAttributions``."""

    tokens: list[str]
    target: int  # the label id explained (the one predicted at this position)
    attributions_sum: torch.Tensor  # per-token scores, L2-normalised
    delta: torch.Tensor  # shape (1,): the convergence delta

    @property
    def word_attributions(self) -> list[tuple[str, float]]:
        """``(token, score)`` for every input token."""
        return list(zip(self.tokens, self.attributions_sum.tolist()))


class TokenAttributions(dict[str, list[tuple[str, float]]]):
    """``{token: [(token, score), ...]}``; a missing key says which keys exist for that token."""

    def __missing__(self, key: str) -> list[tuple[str, float]]:
        similar = [k for k in self if k == key or k.startswith(f"{key} (")]
        hint = f"; this token is keyed by position: {similar}" if similar else ""
        raise KeyError(f"{key!r} is not an explained token{hint}")


class TokenClassificationExplainer:
    """Explain every token's predicted label with Layer Integrated Gradients (seed-compatible)."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        attribution_type: str = "lig",
    ) -> None:
        if attribution_type not in SUPPORTED_ATTRIBUTION_TYPES:
            raise AttributionTypeNotSupportedError(
                f"attribution_type must be one of {SUPPORTED_ATTRIBUTION_TYPES}, "
                f"got {attribution_type!r}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.attribution_type = attribution_type
        self.label2id = dict(model.config.label2id)
        self.id2label = dict(model.config.id2label)
        self.ref_token_id = tokenizer.pad_token_id
        self.sep_token_id = _first_set(tokenizer.sep_token_id, tokenizer.eos_token_id)
        self.cls_token_id = _first_set(tokenizer.cls_token_id, tokenizer.bos_token_id)
        self.model_prefix = model.base_model_prefix
        self.word_embeddings = model.get_input_embeddings()
        self.n_steps = 50
        self.internal_batch_size: int | None = None
        self.ignored_indexes: list[int] | None = None
        self.ignored_labels: list[str] | None = None
        self.text: str | None = None
        self.input_ids = torch.Tensor()
        self.ref_input_ids = torch.Tensor()
        self.attributions: dict[int, PositionAttributions] | None = None
        self._explanation: Explanation | None = None
        self._result: TokenAttributions | None = None

    def __call__(
        self,
        text: str,
        embedding_type: int = 0,
        internal_batch_size: int | None = None,
        n_steps: int | Literal["auto"] | None = None,
        ignored_indexes: Sequence[int] | None = None,
        ignored_labels: Sequence[str] | None = None,
    ) -> TokenAttributions:
        """Attributions of every selected position: ``{token: [(token, score) per input token]}``.

        Like the reference, ``n_steps`` and ``internal_batch_size`` stay set for later calls.
        ``n_steps="auto"`` (not in the reference) takes as many steps as each target needs.
        """
        if embedding_type not in EMBEDDING_TYPES:
            raise InputError(
                f"embedding_type must be 0 (word) or 1 (position), got {embedding_type!r}"
            )
        if n_steps:
            self.n_steps = n_steps
        if internal_batch_size:
            self.internal_batch_size = internal_batch_size
        self.ignored_indexes = None if ignored_indexes is None else list(ignored_indexes)
        self.ignored_labels = None if ignored_labels is None else list(ignored_labels)
        explainer = Explainer(
            self.model,
            self.tokenizer,
            "integrated_gradients",
            n_steps=self.n_steps,
            embedding=EMBEDDING_TYPES[embedding_type],
            internal_batch_size=self.internal_batch_size,
        )
        encoding = encode(self.tokenizer, text)
        indexes = self._indexes_in_range(self.ignored_indexes or [], len(encoding))
        self._explanation = explainer(
            text,
            "tokens",
            ignored_indexes=indexes,
            ignored_labels=self.ignored_labels or (),
            include_special_tokens=True,
        )
        device = self.device
        self.text = text
        self.input_ids = torch.tensor([encoding.input_ids], device=device)
        reference = baseline_ids(encoding, explainer.baseline_token_id)
        self.ref_input_ids = torch.tensor([reference], device=device)
        self.attributions = _per_position(self._explanation, self.label2id)
        self._result = _as_dict(self.attributions)
        return self._result

    # ------------------------------------------------------------------ reference methods
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens, as the reference's ``encode``."""
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, input_ids: torch.Tensor) -> list[str]:
        """Tokens of the first row of ``input_ids`` (shape ``(1, n)``), as the reference does."""
        return self.tokenizer.convert_ids_to_tokens(input_ids[0])

    @property
    def device(self) -> torch.device:
        """The device the model's weights live on."""
        return next(self.model.parameters()).device

    def __str__(self) -> str:
        return (
            f"{type(self).__name__}(\n\tmodel={type(self.model).__name__},"
            f"\n\ttokenizer={type(self.tokenizer).__name__},"
            f"\n\tattribution_type='{self.attribution_type}',)"
        )

    @staticmethod
    def _indexes_in_range(indexes: Sequence[int], num_tokens: int) -> list[int]:
        """The seed passes index 14 for a 14-token text: warn about such indexes, keep running."""
        outside = [i for i in indexes if isinstance(i, int) and not 0 <= i < num_tokens]
        if outside:
            warnings.warn(
                f"ignored_indexes {outside} are out of range for a text of {num_tokens} tokens "
                f"(valid: 0..{num_tokens - 1}); they have no effect",
                stacklevel=3,
            )
        return [i for i in indexes if i not in outside]

    # ------------------------------------------------------------------ reference properties
    @property
    def explanation(self) -> Explanation:
        """The native Explanation behind the last call."""
        if self._explanation is None:
            raise ValueError("no text explained yet: call the explainer on a text first")
        return self._explanation

    @property
    def predicted_class_indexes(self) -> np.ndarray:
        """The predicted label id of every input token of the last text."""
        if self._explanation is None:
            raise InputIdsNotCalculatedError(
                "input_ids have not been created yet: call the explainer on a text first"
            )
        return self._explanation.predicted_label_ids

    @property
    def predicted_class_names(self) -> list[str] | np.ndarray:
        """The predicted label of every input token of the last text (via ``id2label``; the
        label ids themselves where ``id2label`` lacks them, as in the reference)."""
        indexes = self.predicted_class_indexes
        try:
            return [self.id2label[int(index)] for index in indexes]
        except KeyError:
            return indexes

    @property
    def word_attributions(self) -> TokenAttributions:
        """The last result, as returned by the call."""
        if self._result is None:
            raise ValueError("no text explained yet: call the explainer on a text first")
        return self._result

    def visualize(
        self, html_filepath: str | None = None, true_classes: Sequence[str] | None = None
    ) -> HtmlPage:
        """The reference's table; shown inline in a notebook, written to ``html_filepath``."""
        page = render_html(self.explanation, true_classes)
        if html_filepath:
            path = html_filepath if html_filepath.endswith(".html") else html_filepath + ".html"
            page.save(path)
        _display_in_notebook(page)
        return page


def _first_set(*token_ids: int | None) -> int | None:
    return next((token_id for token_id in token_ids if token_id is not None), None)


def _per_position(
    explanation: Explanation, label2id: dict[str, int]
) -> dict[int, PositionAttributions]:
    """The reference's ``attributions``: ``{position: attributions of its predicted label}``."""
    tokens = [display_token(t) for t in explanation.tokens]
    return {
        row.target.positions[0]: PositionAttributions(
            tokens=tokens,
            target=label2id[row.target.label],
            attributions_sum=torch.tensor(row.scores, dtype=torch.float64),
            delta=torch.tensor([row.delta], dtype=torch.float64),
        )
        for row in explanation
    }


def _as_dict(attributions: dict[int, PositionAttributions]) -> TokenAttributions:
    """The call's return value: keyed by token text, by ``"<token> (<position>)"`` if repeated."""
    counts = Counter(attr.tokens[position] for position, attr in attributions.items())
    result = TokenAttributions()
    for position, attr in attributions.items():
        token = attr.tokens[position]
        key = f"{token} ({position})" if counts[token] > 1 else token
        result[key] = attr.word_attributions
    return result


def _display_in_notebook(page: HtmlPage) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    shell: Any = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        display(page)
