"""The model kinds nerlens knows, most specific first, and the choice of a model's kind."""

from __future__ import annotations

from typing import Any

from nerlens.errors import InputError
from nerlens.models.base import ModelKind
from nerlens.models.gliner import GLiNERKind
from nerlens.models.token_classifier import TokenClassifierKind

# Asked in order, by kind_of and load_model: a new kind goes before the token classifier, which
# handles every model directory and hub id.
KINDS: tuple[type[ModelKind], ...] = (GLiNERKind, TokenClassifierKind)
# every kind's per-call model options (a zero-shot model's labels...): the Explainer routes them
# to its model's kind, which refuses those it does not take
MODEL_OPTIONS: tuple[str, ...] = tuple(dict.fromkeys(o for kind in KINDS for o in kind.options))


def kind_of(model: object, tokenizer: Any) -> ModelKind:
    """The kind of ``model``, bound to it and its ``tokenizer`` (InputError if none fits)."""
    for kind in KINDS:
        if kind.recognises(model):
            return kind(model, tokenizer)
    required = " or ".join(kind.requirement for kind in KINDS)
    raise InputError(f"model must be {required}, got {type(model).__name__}")
