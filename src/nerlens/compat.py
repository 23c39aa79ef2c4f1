"""Drop-in replacement for transformers-interpret's ``TokenClassificationExplainer``.

Same calls, same numbers (``../docs``: every selected position, special tokens included, is a
target; scores are L2-normalised), without the reference's defects: the text is never rewritten,
a repeated token keeps its explanation, and bad input raises a clear error.

Keys of the returned dict are token texts. A token text that occurs at several explained positions
is keyed ``"<token> (<position>)"`` at each of them (e.g. ``"the (1)"``, ``"the (7)"``), so every
position appears exactly once.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens.encoding import encode
from nerlens.errors import InputError
from nerlens.explainer import Explainer
from nerlens.explanation import Explanation
from nerlens.render._common import display_token
from nerlens.render.html import HtmlPage, render_html

EMBEDDING_TYPES = {0: "word", 1: "position"}


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
        if attribution_type != "lig":
            raise InputError(f"attribution_type must be 'lig', got {attribution_type!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.attribution_type = attribution_type
        self.label2id = dict(model.config.label2id)
        self.id2label = dict(model.config.id2label)
        self.n_steps = 50
        self.internal_batch_size: int | None = None
        self.ignored_indexes: list[int] | None = None
        self.ignored_labels: list[str] | None = None
        self._explanation: Explanation | None = None
        self._result: TokenAttributions | None = None

    def __call__(
        self,
        text: str,
        embedding_type: int = 0,
        internal_batch_size: int | None = None,
        n_steps: int | None = None,
        ignored_indexes: Sequence[int] | None = None,
        ignored_labels: Sequence[str] | None = None,
    ) -> TokenAttributions:
        """Attributions of every selected position: ``{token: [(token, score) per input token]}``.

        Like the reference, ``n_steps`` and ``internal_batch_size`` stay set for later calls.
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
        num_tokens = len(encode(self.tokenizer, text))
        indexes = self._indexes_in_range(self.ignored_indexes or [], num_tokens)
        self._explanation = explainer(
            text,
            "tokens",
            ignored_indexes=indexes,
            ignored_labels=self.ignored_labels or (),
            include_special_tokens=True,
        )
        self._result = _as_dict(self._explanation)
        return self._result

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
        return self.explanation.predicted_label_ids

    @property
    def predicted_class_names(self) -> list[str]:
        """The predicted label of every input token of the last text."""
        return list(self.explanation.predicted_labels)

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


def _as_dict(explanation: Explanation) -> TokenAttributions:
    tokens = [display_token(t) for t in explanation.tokens]
    rows = list(explanation)
    positions = [row.target.positions[0] for row in rows]
    counts = Counter(tokens[p] for p in positions)
    result = TokenAttributions()
    for row, position in zip(rows, positions):
        token = tokens[position]
        key = f"{token} ({position})" if counts[token] > 1 else token
        result[key] = list(zip(tokens, row.scores))
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
