"""How many rows (path steps, perturbed inputs) one forward pass holds under the memory budget."""

from __future__ import annotations

from typing import Any

from nerlens.methods.base import Budget
from nerlens.runner import memory_share


def steps_per_chunk(config: Any, num_tokens: int, budget_mb: float) -> int:
    """Interpolation steps whose saved activations fit in ``budget_mb`` (at least one).

    An estimate for transformer encoders of ``config`` (the model kind's ``encoder_config``):
    per layer and token, a few hidden-sized tensors, the feed-forward activations and one
    attention row per head are kept for the backward pass. Jobs that run at once
    (:func:`nerlens.runner.run_concurrently`) share the budget equally.
    """
    hidden = getattr(config, "hidden_size", 768)
    layers = getattr(config, "num_hidden_layers", 12)
    heads = getattr(config, "num_attention_heads", 12)
    ffn = getattr(config, "intermediate_size", 4 * hidden)
    floats = layers * num_tokens * (10 * hidden + 2 * ffn + 3 * heads * num_tokens)
    bytes_per_step = 4 * floats
    return max(1, int(budget_mb / memory_share() * 2**20 // bytes_per_step))


def rows_per_chunk(config: Any, num_tokens: int, budget: Budget, sharing: int = 1) -> int:
    """Perturbed inputs per forward pass: ``internal_batch_size``, else what fits the budget
    (a ``sharing``-th of it, when the caller runs that many passes at once)."""
    return budget.internal_batch_size or steps_per_chunk(
        config, num_tokens, budget.max_memory_mb / sharing
    )
