"""Input checks shared by the metric functions (Open Bandit Pipeline style:
fail early with a message naming the argument and what is wrong)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "as_1d",
    "as_binary_labels",
    "as_scores",
    "as_probabilities",
    "as_group_ids",
    "check_same_length",
    "check_confidence",
    "check_positive_int",
]


def as_1d(x: Any, name: str) -> np.ndarray:
    """Convert array-like (numpy, list, pandas, pyarrow Array/ChunkedArray) to 1-d numpy."""
    if x is None:
        raise ValueError(f"`{name}` must be an array, got None")
    mod = type(x).__module__
    if mod.startswith("pyarrow"):
        if hasattr(x, "null_count") and x.null_count:
            raise ValueError(f"`{name}` contains {x.null_count} null value(s)")
        x = x.to_numpy(zero_copy_only=False)
    elif hasattr(x, "to_numpy") and not isinstance(x, np.ndarray):  # pandas
        x = x.to_numpy()
    arr = np.asarray(x)
    if arr.ndim == 0:
        raise ValueError(f"`{name}` must be 1-dimensional, got a scalar")
    if arr.ndim != 1:
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.ravel()
        else:
            raise ValueError(f"`{name}` must be 1-dimensional, got shape {arr.shape}")
    return arr


def _as_float(x: Any, name: str) -> np.ndarray:
    arr = as_1d(x, name)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must be numeric, got dtype {arr.dtype}") from None
    arr = np.asarray(arr, dtype=np.float64)
    return arr


def as_scores(x: Any, name: str) -> np.ndarray:
    """Finite float64 scores (NaN and +/-inf are rejected)."""
    arr = _as_float(x, name)
    if not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(f"`{name}` must be finite: found {n_nan} NaN and {n_inf} infinite value(s)")
    return arr


def as_probabilities(x: Any, name: str) -> np.ndarray:
    """Float64 probabilities in [0, 1]."""
    arr = as_scores(x, name)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        bad = int(((arr < 0.0) | (arr > 1.0)).sum())
        raise ValueError(
            f"`{name}` must be probabilities in [0, 1]: {bad} value(s) outside "
            f"(min={arr.min():.6g}, max={arr.max():.6g})"
        )
    return arr


def as_binary_labels(x: Any, name: str) -> np.ndarray:
    """Boolean labels from {0, 1} (or {False, True})."""
    arr = as_1d(x, name)
    if arr.dtype == bool:
        return arr
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"`{name}` must contain only 0 and 1, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"`{name}` contains {int(np.isnan(arr).sum())} NaN value(s); labels must be 0 or 1")
    is_one = arr == 1
    if not (is_one | (arr == 0)).all():
        bad = np.unique(arr[~(is_one | (arr == 0))])[:5]
        raise ValueError(f"`{name}` must contain only 0 and 1, found {bad.tolist()}")
    return is_one


def as_group_ids(x: Any, name: str) -> tuple[np.ndarray, int]:
    """Dense integer codes 0..G-1 for arbitrary group ids (ints, strings, ...).

    Returns ``(codes, n_groups)``. Integer ids already dense in ``[0, G)`` are
    used as they are (no sort).
    """
    arr = as_1d(x, name)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < 2 * arr.size + 1024:  # compact integer ids: offset + compress via bincount
            shifted = (arr - lo).astype(np.int64, copy=False)
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            remap = np.cumsum(present) - 1
            return remap[shifted], int(present.sum())
    elif np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"`{name}` contains NaN group id(s)")
    elif arr.dtype == object and any(v is None for v in arr[: min(arr.size, 1_000_000)]):
        raise ValueError(f"`{name}` contains None group id(s)")
    _, codes = np.unique(arr, return_inverse=True)
    codes = codes.astype(np.int64, copy=False).ravel()
    return codes, int(codes.max()) + 1


def check_same_length(**arrays: np.ndarray) -> int:
    """All arrays have one length; returns it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"`{k}` has {v}" for k, v in lengths.items())
        raise ValueError(f"length mismatch: {desc}")
    return next(iter(lengths.values())) if lengths else 0


def check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not (0.0 < float(confidence) < 1.0):
        raise ValueError(f"`confidence` must be a float in (0, 1), got {confidence!r}")
    return float(confidence)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)
