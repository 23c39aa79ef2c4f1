"""Encoding → ModelInput: the model's inputs for one text at both ends of the path, evaluated once.

What the inputs are (ids, positions, masks) and what the outputs mean are the model kind's business
(:meth:`~nerlens.models.ModelKind.path_ends`, :meth:`~nerlens.models.ModelKind.probabilities`);
here they are batched, run, and handed to the methods as :class:`ModelInput`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from nerlens.encoding import Encoding
from nerlens.models.base import Embedding
from nerlens.runner import ModelRunner

if TYPE_CHECKING:
    from nerlens.models.base import ModelKind


def model_device(model: nn.Module) -> torch.device:
    """The device the model's weights live on."""
    return next(model.parameters()).device


def expand_batch(kwargs: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor]:
    """Repeat a batch-of-one input ``size`` times (a view, no copy)."""
    return {key: value.expand(size, *value.shape[1:]) for key, value in kwargs.items()}


def candidate_positions(special: Sequence[bool]) -> np.ndarray:
    """Positions of the tokens a perturbation may replace: every non-special token."""
    return np.array([p for p, is_special in enumerate(special) if not is_special], dtype=int)


def perturbed_ids(
    ids: torch.Tensor, special: Sequence[bool], keep: np.ndarray, baseline_token_id: int
) -> torch.Tensor:
    """One row of token ids ``(rows, tokens)`` per row of ``keep``: the text's ``ids`` with every
    candidate (non-special token) not kept replaced by ``baseline_token_id``."""
    positions = torch.as_tensor(candidate_positions(special), device=ids.device)
    keep_t = torch.as_tensor(np.asarray(keep, dtype=bool), device=ids.device)
    batch = ids.repeat(len(keep_t), 1)
    batch[:, positions] = torch.where(
        keep_t, ids[positions], torch.full_like(ids[positions], baseline_token_id)
    )
    return batch


@dataclass(frozen=True)
class ModelInput:
    """One encoded text, evaluated once at the input (and at the baseline when a method asks).

    ``inputs``/``baseline`` are the model's keyword arguments (batch of one) that produce the
    attributed layer's output at the two ends of the path; ``*_layer_output`` are those outputs
    and ``*_probs`` the label probabilities there (shape ``(tokens, labels)``). The baseline end
    is evaluated on first use only: perturbation and plain-gradient methods never need it, and
    for them that forward pass is a large share of a short text's cost. ``runner`` runs the
    model with that layer's output replaced, safely from any thread; ``kind`` says what its
    outputs mean.
    """

    runner: ModelRunner
    kind: ModelKind
    inputs: dict[str, torch.Tensor]
    baseline: dict[str, torch.Tensor]
    input_layer_output: torch.Tensor
    input_probs: torch.Tensor
    special: tuple[bool, ...] = ()  # per token: a special token, never perturbed
    baseline_token_id: int | None = None  # the id that stands for "absent" in perturbations
    # the method's target-free perturbations, run with the input: keep mask, label probabilities
    perturbed: tuple[np.ndarray, torch.Tensor] | None = None

    @cached_property
    def _baseline_end(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The attributed layer's output and the label probabilities at the baseline."""
        output, logits = self.runner.capture(self.baseline)
        return output, self.kind.probabilities(logits)[0]

    @property
    def baseline_layer_output(self) -> torch.Tensor:
        return self._baseline_end[0]

    @property
    def baseline_probs(self) -> torch.Tensor:
        return self._baseline_end[1]

    @property
    def num_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1])

    @property
    def model(self) -> nn.Module:
        return self.runner.model

    def logits_at(self, layer_output: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, tokens, labels)`` with the attributed layer's output replaced by
        ``layer_output`` ``(batch, tokens, hidden)``; every other input is the text's own."""
        return self.runner.forward(expand_batch(self.inputs, len(layer_output)), layer_output)

    def logits_for_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, tokens, labels)`` for a batch of perturbed token ids ``(batch, tokens)``
        of the text's length; every other input (attention mask, positions) is the text's own."""
        kwargs = expand_batch(self.inputs, len(input_ids))
        return self.runner.forward({**kwargs, "input_ids": input_ids})

    def probabilities_at(self, layer_output: torch.Tensor) -> torch.Tensor:
        """What targets read (the kind's :meth:`~nerlens.models.ModelKind.probabilities`) at
        :meth:`logits_at`."""
        return self.kind.probabilities(self.logits_at(layer_output))

    def probabilities_for_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """What targets read at :meth:`logits_for_ids`."""
        return self.kind.probabilities(self.logits_for_ids(input_ids))


def prepare(
    kind: ModelKind,
    runner: ModelRunner,
    embedding: Embedding,
    encodings: Sequence[Encoding],
    baseline_token_id: int,
    perturbations: Sequence[np.ndarray | None] | None = None,
) -> list[ModelInput]:
    """Model inputs at each text and at its baseline (the runner's layer as the kind's
    :meth:`~nerlens.models.ModelKind.layer` gave it), from ONE forward pass over every text:
    texts of one token count only.

    The texts are evaluated here, each baseline when a method first needs it; the path between
    them is the method's business. ``perturbations[i]`` (a method's target-free keep mask for
    text ``i``, see ``AttributionMethod.perturbations``) run in the same pass, right after their
    text, into ``ModelInput.perturbed``. The rows of a batch are computed independently of each
    other, so every number equals that of a pass per text up to the matrix kernels' summation
    order (the last bits, on some CPUs). Call inside ``runner.session()``.
    """
    if len({len(encoding) for encoding in encodings}) > 1:
        raise ValueError("prepare packs texts of one token count only")
    perturbations = perturbations or [None] * len(encodings)
    ends = [kind.path_ends(e, embedding, baseline_token_id) for e in encodings]
    batches, row = [], 0
    firsts = []  # each text's row in the pass; its perturbations follow it
    for encoding, keep, (inputs, _) in zip(encodings, perturbations, ends):
        firsts.append(row)
        batch, ids = inputs, inputs["input_ids"]
        if keep is not None:
            rows = perturbed_ids(ids[0], encoding.special, keep, baseline_token_id)
            batch = {**expand_batch(inputs, 1 + len(rows)), "input_ids": torch.cat([ids, rows])}
        batches.append(batch)
        row += len(batch["input_ids"])
    outputs, logits = runner.capture(
        {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}
    )
    probabilities = kind.probabilities(logits)
    return [
        ModelInput(
            runner=runner,
            kind=kind,
            inputs=inputs,
            baseline=baseline,
            input_layer_output=outputs[first : first + 1],
            input_probs=probabilities[first],
            special=encoding.special,
            baseline_token_id=baseline_token_id,
            perturbed=None
            if keep is None
            else (keep, probabilities[first + 1 : first + 1 + len(keep)]),
        )
        for encoding, keep, (inputs, baseline), first in zip(encodings, perturbations, ends, firsts)
    ]


def pack(
    lengths: Sequence[int], rows: Sequence[int], capacity: dict[int, int], smallest: float
) -> list[list[int]]:
    """Texts grouped for :func:`prepare`: each group holds texts of one token count ``n``, in
    order, as many as fit ``capacity[n]`` rows in all (``rows[i]`` is text ``i``'s).

    A text whose own pass has fewer than ``smallest`` token-rows (``rows[i] * lengths[i]``) goes
    alone: for such small products the matrix kernels may sum in another order than they do in a
    larger pass (measured with MKL below about 16), and it would not get its own pass's numbers.
    """
    groups: list[list[int]] = []
    open_group: dict[int, tuple[list[int], int]] = {}  # token count -> (its last group, rows)
    for i, (n, size) in enumerate(zip(lengths, rows)):
        if size * n < smallest:
            groups.append([i])
            continue
        members, used = open_group.get(n, ([], 0))
        if not members or used + size > capacity[n]:
            members, used = [], 0
            groups.append(members)
        members.append(i)
        open_group[n] = (members, used + size)
    return groups
