"""Input checks shared by the off-policy estimators (private).

Arrays may be numpy arrays, Python sequences, pandas Series or pyarrow (Chunked)Arrays;
every error message names the argument that is wrong.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from receval.experiments._validation import (  # noqa: F401  (re-exported)
    check_alpha,
    check_int,
    check_random_state,
    to_float_array,
)


def check_finite(x: Any, name: str) -> np.ndarray:
    """1-D float64 array, non-empty, without NaN/null or infinite values."""
    arr = to_float_array(x, name)
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty: at least one logged round is needed")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        kind = "NaN/null" if np.isnan(arr[first]) else "infinite"
        raise ValueError(
            f"`{name}` contains {int(bad.sum())} NaN/null or infinite value(s) (first at "
            f"index {first}: {kind}); drop or impute them before estimating"
        )
    return arr


def check_propensity(x: Any, name: str = "p_log") -> np.ndarray:
    """Logging propensities: each in (0, 1]."""
    arr = check_finite(x, name)
    bad = (arr <= 0.0) | (arr > 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` must be in (0, 1] (the probability that the logging policy took the "
            f"logged action); {int(bad.sum())} value(s) are outside, first at index {first}: "
            f"{arr[first]!r}"
        )
    return arr


def check_probability(x: Any, name: str = "p_target") -> np.ndarray:
    """Target probabilities: each in [0, 1]."""
    arr = check_finite(x, name)
    bad = (arr < 0.0) | (arr > 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` must be in [0, 1]; {int(bad.sum())} value(s) are outside, first at "
            f"index {first}: {arr[first]!r}"
        )
    return arr


def check_lengths(**arrays: np.ndarray | None) -> int:
    """All given arrays have the same length; returns it."""
    items = [(k, a) for k, a in arrays.items() if a is not None]
    n = items[0][1].shape[0]
    for k, a in items[1:]:
        if a.shape[0] != n:
            names = ", ".join(f"`{kk}` ({aa.shape[0]})" for kk, aa in items)
            raise ValueError(
                f"inputs must have one value per logged round (same length); got {names}"
            )
    return n


def check_clip(clip: Any) -> float | None:
    """``None`` (no clipping) or a finite / infinite real > 0."""
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, Real) or math.isnan(clip):
        raise ValueError(f"`clip` must be a real number > 0 or None, got {clip!r}")
    if clip <= 0:
        raise ValueError(f"`clip` must be > 0, got {clip}")
    return None if math.isinf(clip) else float(clip)


def group_codes(group_ids: Any, n: int, name: str = "group_ids") -> tuple[np.ndarray, int]:
    """Dense integer codes 0..G-1 for the group ids (any hashable dtype); returns (codes, G)."""
    mod = type(group_ids).__module__
    if mod.startswith("pyarrow"):
        group_ids = group_ids.to_numpy(zero_copy_only=False)
    elif mod.startswith("pandas"):
        group_ids = group_ids.to_numpy()
    arr = np.asarray(group_ids)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-dimensional, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(
            f"`{name}` must have one id per logged round: got {arr.shape[0]}, expected {n}"
        )
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty: at least one logged round is needed")
    import pandas as pd

    codes, uniques = pd.factorize(arr, use_na_sentinel=True)  # hash-based, O(n)
    if (codes < 0).any():
        raise ValueError(f"`{name}` contains {int((codes < 0).sum())} NaN/null id(s)")
    return codes.astype(np.int64, copy=False), int(len(uniques))
