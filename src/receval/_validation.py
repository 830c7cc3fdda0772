"""Input checks shared by :mod:`receval.metrics`, :mod:`receval.ope` and
:mod:`receval.experiments` (private).

Every public function and estimator converts its inputs through these helpers, so numpy
arrays, Python sequences, pandas Series and pyarrow (Chunked)Arrays are accepted alike,
and every error is a ``ValueError`` that names the argument and says what is wrong with
it (Open Bandit Pipeline's style: fail early, precisely).

The hyperparameter checks carry the package's one vocabulary (docs/api.md): ``alpha``
(significance level; intervals have coverage ``1 - alpha``), ``n_bootstrap``,
``random_state`` and ``group_ids``.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

__all__ = [
    "as_1d", "to_float_array", "check_finite", "check_probability", "check_propensity",
    "check_binary", "check_lengths", "group_codes", "check_alpha", "check_positive",
    "check_int", "check_random_state", "check_clip",
]


# ------------------------------------------------------------------------ arrays
def _one_dimensional(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` itself when 1-D, flattened when a column or row vector, else an error."""
    if arr.ndim == 1:
        return arr
    if arr.ndim == 2 and 1 in arr.shape:
        return arr.ravel()
    shape = "a scalar" if arr.ndim == 0 else f"shape {arr.shape}"
    raise ValueError(f"`{name}` must be 1-dimensional, got {shape}")


def as_1d(x: Any, name: str) -> np.ndarray:
    """``x`` as a 1-D numpy array of any dtype; pyarrow nulls are an error.

    A column or row vector (shape ``(n, 1)`` or ``(1, n)``) is flattened.
    """
    if x is None:
        raise ValueError(f"`{name}` must be an array, got None")
    mod = type(x).__module__
    if mod.startswith("pyarrow"):
        if getattr(x, "null_count", 0):
            raise ValueError(f"`{name}` contains {x.null_count} null value(s)")
        x = x.to_numpy(zero_copy_only=False)
    elif mod.startswith("pandas"):
        x = x.to_numpy()
    return _one_dimensional(np.asarray(x), name)


def to_float_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a 1-D float64 array; nulls (pandas NA, pyarrow null) become NaN."""
    if x is None:
        raise ValueError(f"`{name}` must be an array of numbers, got None")
    mod = type(x).__module__
    if mod.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(x, (pa.Array, pa.ChunkedArray)):
            try:
                x = x.cast(pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"`{name}` must be numeric, got arrow type {x.type}") from exc
            x = x.to_numpy(zero_copy_only=False)
    elif mod.startswith("pandas"):
        try:
            x = x.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"`{name}` must be numeric") from exc
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be an array of numbers") from exc
    return _one_dimensional(arr, name)


def check_finite(x: Any, name: str, *, min_size: int = 1, allow_nan: bool = False,
                 nonnegative: bool = False) -> np.ndarray:
    """A 1-D float64 array of at least ``min_size`` values, none infinite (nor NaN/null
    unless ``allow_nan``: then NaN marks a missing value), all >= 0 if ``nonnegative``."""
    arr = to_float_array(x, name)
    if arr.size < min_size:
        if arr.size == 0:
            raise ValueError(f"`{name}` is empty: at least {min_size} observation(s) are needed")
        raise ValueError(f"`{name}` has {arr.size} observation(s); at least {min_size} are needed")
    nan, inf = np.isnan(arr), np.isinf(arr)
    bad = inf if allow_nan else (nan | inf)
    if bad.any():
        counts = ((0 if allow_nan else int(nan.sum()), "NaN/null"), (int(inf.sum()), "infinite"))
        kinds = [f"{c} {label}" for c, label in counts if c]
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` contains {' and '.join(kinds)} value(s) (first at index {first}: "
            f"{arr[first]!r}); drop or impute them before estimating"
        )
    if nonnegative and (arr[~nan] < 0).any():
        neg = np.flatnonzero(arr < 0)
        raise ValueError(
            f"`{name}` contains {neg.size} negative value(s) (first at index {int(neg[0])}, "
            f"value {arr[neg[0]]}); it must be >= 0"
        )
    return arr


def check_probability(x: Any, name: str, *, min_size: int = 1, positive: bool = False,
                      meaning: str = "") -> np.ndarray:
    """Finite probabilities, each in [0, 1] (in (0, 1] with ``positive``)."""
    arr = check_finite(x, name, min_size=min_size)
    bad = ((arr <= 0.0) if positive else (arr < 0.0)) | (arr > 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        interval = "(0, 1]" if positive else "[0, 1]"
        raise ValueError(
            f"`{name}` must be in {interval}{f' ({meaning})' if meaning else ''}; "
            f"{int(bad.sum())} value(s) are outside (min={arr.min():.6g}, max={arr.max():.6g}), "
            f"first at index {first}: {arr[first]!r}"
        )
    return arr


def check_propensity(x: Any, name: str = "p_log") -> np.ndarray:
    """Logging propensities: non-empty, each in (0, 1]."""
    return check_probability(
        x, name, positive=True,
        meaning="the probability that the logging policy took the logged action",
    )


def check_binary(x: Any, name: str) -> np.ndarray:
    """Boolean labels from {0, 1} (or {False, True}); empty is allowed."""
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


def check_lengths(**arrays: Any) -> int:
    """All the given arrays (``None`` skipped) have one length; returns it (0 if none)."""
    lengths = {k: len(a) for k, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"`{k}` has {n}" for k, n in lengths.items())
        raise ValueError(f"length mismatch: {desc}; they must have the same length (one value per row)")
    return next(iter(lengths.values())) if lengths else 0


def group_codes(group_ids: Any, name: str = "group_ids", *, n: int | None = None,
                sort: bool = False) -> tuple[np.ndarray, int]:
    """Dense integer codes ``0..G-1`` for the group ids (any hashable dtype); ``(codes, G)``.

    ``sort=False`` numbers the groups in order of first appearance (hash-based, O(n));
    ``sort=True`` in sorted order of the ids (compact integer ids without a sort). The
    order fixes which group a bootstrap draw picks, so each caller keeps its own. ``n``:
    the length the ids must have (one per row).
    """
    arr = as_1d(group_ids, name)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"length mismatch: `{name}` has {arr.shape[0]}, expected {n} (one id per row)")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    if not sort:
        import pandas as pd

        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
        if (codes < 0).any():
            raise ValueError(f"`{name}` contains {int((codes < 0).sum())} NaN/null id(s)")
        return codes.astype(np.int64, copy=False), int(len(uniques))
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < 2 * arr.size + 1024:  # compact integer ids: offset + compress via bincount
            shifted = (arr - lo).astype(np.int64, copy=False)
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            remap = np.cumsum(present) - 1
            return remap[shifted], int(present.sum())
    elif np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"`{name}` contains {int(np.isnan(arr).sum())} NaN/null id(s)")
    elif arr.dtype == object:
        nulls = sum(v is None for v in arr[: min(arr.size, 1_000_000)])
        if nulls:
            raise ValueError(f"`{name}` contains {nulls} NaN/null id(s)")
    _, codes = np.unique(arr, return_inverse=True)
    codes = codes.astype(np.int64, copy=False).ravel()
    return codes, int(codes.max()) + 1


# --------------------------------------------------------------- hyperparameters
def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """A significance level (or any probability parameter) strictly inside (0, 1)."""
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not math.isfinite(alpha):
        raise ValueError(f"`{name}` must be a real number in (0, 1), got {alpha!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1), got {alpha}")
    return float(alpha)


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite real number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return float(value)


def check_int(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_clip(clip: Any) -> float | None:
    """A clipping threshold on importance weights: ``None`` / ``inf`` (no clipping) or a
    real number > 0."""
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, Real) or math.isnan(clip):
        raise ValueError(f"`clip` must be a real number > 0 or None, got {clip!r}")
    if clip <= 0:
        raise ValueError(f"`clip` must be > 0, got {clip}")
    return None if math.isinf(clip) else float(clip)


def check_random_state(random_state: Any) -> np.random.Generator:
    """A numpy Generator from ``None`` (fresh entropy), an int seed or a Generator (used
    as is, so consumed: only an int seed gives the same draws on every call)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"`random_state` must be None, an int seed or a numpy Generator, got {random_state!r}"
    )


def is_seed(random_state: Any) -> bool:
    """An int seed (not a bool): the same draws on every call, so draws can be reused."""
    return isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)


def first_violation(bad: np.ndarray, name: str, x: np.ndarray, what: str) -> None:
    """Raise when any row of ``x`` (argument ``name``) is ``bad``: what is wrong, how many
    rows, the first one's index and value."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`{name}` {what}; {int(bad.sum())} row(s), first at index {i} (value {x[i]:g})")
