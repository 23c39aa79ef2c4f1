"""What "the same numbers" means in the tests (README: "What is exact and what is within
tolerance").

Exact, by construction (``assert_array_equal``, ``==``): the same call on the same machine with
the same threads, a resumed job against an uninterrupted one run the same way, and every round
trip (JSON, the corpus store).

Within :data:`KERNEL_RTOL`: numbers computed with another batch composition (texts packed into
one pass, work spread over worker threads, a corpus job against direct calls, one chunking
against another). Matrix kernels (MKL, oneDNN) choose their summation order by shape, thread
count and CPU, so such numbers agree to a few units in the last place of float32, not bit for
bit: on an AMD EPYC they differed by up to 7e-9 where an Intel Xeon gave identical bits,
and under MKL_CBWR=COMPATIBLE by 1e-6.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

KERNEL_RTOL = 1e-5
"""Largest difference allowed between two batch compositions, relative to the scale of the
numbers: an attribution row's largest |score|, and 1 for everything in probability units
(probabilities, target and baseline values, deltas, entity scores). The models run in float32
(eps 1.2e-7): 7e-9 on a score of 0.027 was seen on an AMD EPYC, and 1.01e-6 on a probability of
0.646 (8.5 ulps) between a packed pass and a pass alone under MKL_CBWR=COMPATIBLE; 1e-5 leaves
room for deeper models without hiding any real difference."""

ROW_SCALED = frozenset({"attributions", "scores"})  # keys whose rows scale by their own maximum


def assert_close_to_scale(
    actual: Any, expected: Any, scale: float | np.ndarray | None = None, what: str = "numbers"
) -> None:
    """``|actual - expected| <= KERNEL_RTOL * scale`` everywhere, NaN where the other is NaN.

    ``scale`` defaults to each row's largest ``|expected|`` (the last axis is a row); pass 1.0 for
    numbers in probability units, whose rows may be small differences of larger numbers.
    """
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    missing = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), missing, err_msg=f"{what}: NaN positions")
    if scale is None:
        rows = np.where(missing, 0.0, np.abs(expected))
        scale = rows.max(axis=-1, keepdims=True) if rows.ndim else rows
    bound = np.broadcast_to(KERNEL_RTOL * np.asarray(scale, dtype=float), expected.shape)
    error = np.where(missing, 0.0, np.abs(actual - expected))  # a zero row must stay zero
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.ndim else ()
    assert (error <= bound).all(), (
        f"{what}: {float(actual[worst])!r} vs {float(expected[worst])!r} at "
        f"{tuple(int(i) for i in worst)} differ by "
        f"{error[worst]:.3g}, more than {KERNEL_RTOL:g} of their scale"
    )


def assert_same_up_to_kernels(actual: Any, expected: Any, key: str = "") -> None:
    """Two nested structures (``Explanation.to_dict()``, table rows) equal in everything but
    their floats, which agree within :data:`KERNEL_RTOL` (see its scales)."""
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping) and actual.keys() == expected.keys(), key
        for name in expected:
            assert_same_up_to_kernels(actual[name], expected[name], name)
    elif isinstance(expected, float) or (isinstance(expected, list) and _floats_inside(expected)):
        values = np.asarray(_nan_for_none(actual), dtype=float)
        reference = np.asarray(_nan_for_none(expected), dtype=float)
        assert_close_to_scale(values, reference, None if key in ROW_SCALED else 1.0, what=key)
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), key
        for left, right in zip(actual, expected):
            assert_same_up_to_kernels(left, right, key)
    else:
        assert actual == expected, f"{key}: {actual!r} != {expected!r}"


def assert_same_explanations(actual: Any, expected: Any) -> None:
    """Explanations (or lists of them) equal up to the kernels' last bits."""
    pairs = (
        zip(actual, expected, strict=True) if isinstance(expected, list) else [(actual, expected)]
    )
    for left, right in pairs:
        assert_same_up_to_kernels(left.to_dict(), right.to_dict())


def _floats_inside(values: list) -> bool:
    """A (nested) list whose leaves are floats or None (NaN), with at least one float."""
    leaves = list(_leaves(values))
    return any(isinstance(v, float) for v in leaves) and all(
        v is None or isinstance(v, float) for v in leaves
    )


def _leaves(values: Any):
    if isinstance(values, (list, tuple)):
        for value in values:
            yield from _leaves(value)
    else:
        yield values


def _nan_for_none(values: Any) -> Any:
    if isinstance(values, (list, tuple)):
        return [_nan_for_none(v) for v in values]
    return np.nan if values is None else values
