"""From label probabilities to target scores: precision, one score per target."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nerlens.targets import Term


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors upcast to float32; float32 and float64 unchanged."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


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
