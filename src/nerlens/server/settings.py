"""What the operator of ``nerlens serve`` allows: sizes, steps, targets, a zero-shot model's
labels per request, workers and time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nerlens.errors import InputError


@dataclass(frozen=True)
class ServerSettings:
    """What the operator allows: body and text size, steps, targets, the labels a request may
    give a zero-shot model (GLiNER: each adds tokens to every model input), and how much work
    may wait (and for how long)."""

    max_text_chars: int = 5000
    max_steps: int = 200
    max_targets: int = 512
    max_labels: int = 32
    max_label_chars: int = 100
    workers: int = 1
    queue_size: int = 8
    timeout_s: float = 120.0
    long_text: Literal["error", "window"] = "window"
    max_body_bytes: int = 1_000_000
    # model token-rows per second that the cost check assumes; None: measured at start
    tokens_per_second: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_text_chars", "max_steps", "max_targets", "max_labels", "max_label_chars",
            "workers", "max_body_bytes",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.tokens_per_second is not None and not self.tokens_per_second > 0:
            raise InputError(f"tokens_per_second must be > 0, got {self.tokens_per_second!r}")
        if self.queue_size < 0 or not self.timeout_s > 0:
            raise InputError(
                f"queue_size must be >= 0 and timeout_s > 0, got {self.queue_size!r} and "
                f"{self.timeout_s!r}"
            )
