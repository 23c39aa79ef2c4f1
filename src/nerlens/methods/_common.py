"""Helpers shared by the methods: precision, probabilities, target scores, chunk sizes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nerlens.runner import memory_share
from nerlens.targets import Term


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors upcast to float32; float32 and float64 unchanged."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def label_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over labels, in at least float32."""
    return torch.softmax(at_least_float32(logits), dim=-1)


class TargetScores:
    """Turns label probabilities into one score per target, for a whole batch at once."""

    def __init__(self, terms: Sequence[tuple[Term, ...]], device: torch.device) -> None:
        flat = [(t, p, lab, c) for t, target in enumerate(terms) for p, lab, c in target]
        self.positions = torch.tensor([p for _, p, _, _ in flat], device=device)
        self.labels = torch.tensor([lab for _, _, lab, _ in flat], device=device)
        mix = torch.zeros(len(flat), len(terms), dtype=torch.float64)
        for row, (t, _, _, c) in enumerate(flat):
            mix[row, t] = c
        self.mix = mix.to(device)
        self.count = len(terms)

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        """``probs`` (batch, tokens, labels) → scores (batch, targets)."""
        picked = probs[:, self.positions, self.labels]
        return picked @ self.mix.to(picked.dtype)

    def at(self, probs: torch.Tensor) -> np.ndarray:
        """Every target's value (float64) at one text's probabilities ``(tokens, labels)``."""
        return self(probs[None].double())[0].cpu().numpy()


def steps_per_chunk(model: nn.Module, num_tokens: int, budget_mb: float) -> int:
    """Interpolation steps whose saved activations fit in ``budget_mb`` (at least one).

    An estimate for transformer encoders: per layer and token, a few hidden-sized tensors, the
    feed-forward activations and one attention row per head are kept for the backward pass.
    Jobs that run at once (:func:`nerlens.runner.run_concurrently`) share the budget equally.
    """
    config = getattr(model, "config", None)
    hidden = getattr(config, "hidden_size", 768)
    layers = getattr(config, "num_hidden_layers", 12)
    heads = getattr(config, "num_attention_heads", 12)
    ffn = getattr(config, "intermediate_size", 4 * hidden)
    floats = layers * num_tokens * (10 * hidden + 2 * ffn + 3 * heads * num_tokens)
    bytes_per_step = 4 * floats
    return max(1, int(budget_mb / memory_share() * 2**20 // bytes_per_step))
