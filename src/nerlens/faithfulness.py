"""How faithful is an explanation? Remove the tokens it ranks highest and watch the target.

For each target t of an Explanation, with the n non-special tokens as candidates, ranked by raw
attribution (highest first, ties to the lower position), and for q in 0.1, 0.2, ..., 0.5 with
k = ceil(q·n):

- ``comprehensiveness@q`` = f_t(x) − f_t(x with the top k candidates replaced by the baseline id):
  large when the tokens the explanation ranks highest really carry the prediction;
- ``sufficiency@q`` = f_t(x) − f_t(x with every other candidate replaced): small (or negative)
  when the top k alone suffice;
- ``comprehensiveness`` and ``sufficiency`` are their means over q (AOPC).

Replacing keeps every position (nothing shifts, nothing is re-tokenised); special tokens are never
replaced. A text explained in windows is scored per target in its home window (the one that
explained it): the candidates are that window's tokens and f_t is that window's. All perturbed
inputs of a window go through the model in as few forward passes as the memory budget allows,
every target of the window scored from the same passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from nerlens.encoding import Encoding
from nerlens.errors import InputError, is_int_at_least
from nerlens.explanation import Explanation
from nerlens.methods import AttributionMethod
from nerlens.methods.base import Attribution, Budget, Capabilities, ModelInput
from nerlens.methods.perturbation import candidates, perturbed_values
from nerlens.targets import Term
from nerlens.windows import Window, assign_homes

if TYPE_CHECKING:
    import pandas as pd

FRACTIONS: tuple[str, ...] = ("0.1", "0.2", "0.3", "0.4", "0.5")


def top_counts(n: int) -> list[int]:
    """k = ceil(q·n) for each q, computed exactly (0.3·10 is 3, not 4)."""
    return [-(-Fraction(q) * n // 1) for q in FRACTIONS]


def ranking(attributions: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``positions`` ordered by attribution, highest first; ties go to the lower position."""
    return positions[np.lexsort((positions, -attributions[positions]))]


def check_token_level(explanation: Explanation) -> None:
    """Only a token-level Explanation can be evaluated: removals replace tokens."""
    if "aggregated" in explanation.settings:
        raise InputError("evaluate the token-level Explanation, not an aggregated view")


def evaluate(
    explanation: Explanation,
    *,
    document: Encoding,
    windows: list[Window],
    max_length: int,
    word_limit: int | None = None,
    model_input: Callable[[Window], ModelInput],
    label2id: Mapping[str, int],
    budget: Budget,
) -> pd.DataFrame:
    """One row per target of ``explanation``, in order: the scores defined in the module doc.

    ``document`` and ``windows`` are the explanation's text as the explainer encoded and cut it
    (windows of at most ``max_length`` tokens); each target is scored in its home window
    (:func:`nerlens.windows.assign_homes`), on that window's ``model_input``.
    :meth:`nerlens.Explainer.evaluate` gives them all.
    """
    import pandas as pd

    check_token_level(explanation)
    if document.tokens != explanation.tokens:
        raise InputError(
            "the Explanation's tokens differ from this explainer's tokenisation of its text; "
            "evaluate it with the Explainer (model and tokenizer) that produced it"
        )
    targets = explanation.targets
    if not targets:
        return pd.DataFrame(columns=_columns())
    homes = assign_homes(document, targets, windows, max_length, word_limit)
    rows: dict[int, dict[str, Any]] = {}
    for w in sorted(set(homes)):  # each target in the window that explained it
        window = windows[w]
        chosen = [t for t, home in enumerate(homes) if home == w]
        terms = [window.local_terms(targets[t].terms(label2id)) for t in chosen]
        window_input = model_input(window)
        scores = explanation.attributions[np.ix_(chosen, list(window.document_positions))]
        values, counts = _removal_values(window_input, scores, terms, budget)
        pool = len(candidates(window_input))
        for row, t in enumerate(chosen):
            rows[t] = _row(t, explanation, values, row, counts, pool)
    return pd.DataFrame([rows[t] for t in range(len(targets))], columns=_columns())


def _row(
    t: int, explanation: Explanation, values: np.ndarray, row: int, counts: list[int], pool: int
) -> dict[str, Any]:
    """Target ``t``'s scores from its window's values (``row``: its place among them)."""
    target = explanation.targets[t]
    full = values[0, row]
    comprehensiveness = full - values[1 + 2 * row * len(counts) :][: len(counts), row]
    sufficiency = full - values[1 + (2 * row + 1) * len(counts) :][: len(counts), row]
    return {
        "target_index": t,
        "target": target.describe(explanation.tokens),
        "target_kind": target.kind,
        "target_label": target.label,
        "value": full,
        "candidates": pool,
        **{f"comprehensiveness@{q}": v for q, v in zip(FRACTIONS, comprehensiveness)},
        **{f"sufficiency@{q}": v for q, v in zip(FRACTIONS, sufficiency)},
        "comprehensiveness": float(np.mean(comprehensiveness)),
        "sufficiency": float(np.mean(sufficiency)),
    }


def _columns() -> list[str]:
    return [
        "target_index",
        "target",
        "target_kind",
        "target_label",
        "value",
        "candidates",
        *(f"comprehensiveness@{q}" for q in FRACTIONS),
        *(f"sufficiency@{q}" for q in FRACTIONS),
        "comprehensiveness",
        "sufficiency",
    ]


def _removal_values(
    model_input: ModelInput,
    attributions: np.ndarray,
    terms: Sequence[tuple[Term, ...]],
    budget: Budget,
) -> tuple[np.ndarray, list[int]]:
    """Target values on the input (row 0), then per target its top-k-removed and top-k-kept rows."""
    positions = candidates(model_input)
    if len(positions) == 0:
        raise InputError("the text has no non-special tokens to remove")
    counts = top_counts(len(positions))
    column = {p: c for c, p in enumerate(positions)}
    keep = [np.ones(len(positions), dtype=bool)]
    for row in attributions:
        order = [column[p] for p in ranking(row, positions)]
        for k in counts:
            removed = np.ones(len(positions), dtype=bool)
            removed[order[:k]] = False
            keep.append(removed)
        for k in counts:
            kept = np.zeros(len(positions), dtype=bool)
            kept[order[:k]] = True
            keep.append(kept)
    return perturbed_values(model_input, np.array(keep), terms, budget), counts


class RandomRanking(AttributionMethod):
    """φ_t,i ~ N(0, 1), independent of the model: the floor every method must beat.

    Each target of each input draws from a stream of its own, seeded by ``seed``, the input's
    token ids and the target's terms: the floor is the same whatever else is attributed alongside,
    in whichever order and on however many workers.
    """

    name = "random"
    capabilities = Capabilities(
        needs_gradients=False,
        uses_baseline=False,
        has_convergence_delta=False,
        all_targets_one_pass=True,
    )

    def __init__(self, seed: int = 0) -> None:
        if not is_int_at_least(seed, 0):
            raise InputError(f"the random ranking's seed must be an int >= 0, got {seed!r}")
        self.seed = seed

    def settings(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def attribute(
        self, model_input: ModelInput, terms: Sequence[tuple[Term, ...]], budget: Budget
    ) -> Attribution:
        scores = np.zeros((len(terms), model_input.num_tokens))
        positions = candidates(model_input)
        ids = model_input.inputs["input_ids"][0].tolist()
        for row, target in zip(scores, terms):
            row[positions] = self._stream(ids, target).standard_normal(len(positions))
        nan = np.full(len(terms), np.nan)
        return Attribution(scores, nan, nan.copy(), nan.copy(), np.zeros(len(terms), dtype=int))

    def _stream(self, ids: list[int], target: tuple[Term, ...]) -> np.random.Generator:
        """The random stream of one target of the input with token ``ids``."""
        terms = [(int(p), int(label), float(c)) for p, label, c in target]
        digest = hashlib.sha256(repr((ids, terms)).encode()).digest()
        return np.random.default_rng([self.seed, *np.frombuffer(digest, dtype=np.uint32)])
