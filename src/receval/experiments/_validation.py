"""Input checking shared by the experiment estimators (private).

Every public estimator converts its inputs through these helpers so that numpy arrays,
Python sequences, pandas Series and pyarrow (Chunked)Arrays are accepted alike, and so
that the error messages name the argument that is wrong.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np


def to_float_array(x: Any, name: str) -> np.ndarray:
    """Convert ``x`` to a 1-D float64 array; nulls (pandas NA, pyarrow null) become NaN."""
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
    if arr.ndim == 0:
        raise ValueError(f"`{name}` must be 1-dimensional, got a scalar")
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-dimensional, got shape {arr.shape}")
    return arr


def check_values(
    x: Any,
    name: str,
    *,
    min_size: int = 1,
    allow_nan: bool = False,
    nonnegative: bool = False,
) -> np.ndarray:
    """A 1-D float array of at least ``min_size`` finite values."""
    arr = to_float_array(x, name)
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty: each arm needs at least {min_size} observations")
    if arr.size < min_size:
        raise ValueError(f"`{name}` has {arr.size} observation(s); at least {min_size} are needed")
    nan = np.isnan(arr)
    if nan.any() and not allow_nan:
        raise ValueError(
            f"`{name}` contains {int(nan.sum())} NaN/null value(s) (first at index "
            f"{int(np.flatnonzero(nan)[0])}); drop or impute them before estimating"
        )
    if np.isinf(arr).any():
        raise ValueError(f"`{name}` contains infinite values")
    if nonnegative and (arr[~nan] < 0).any():
        bad = np.flatnonzero(arr < 0)
        raise ValueError(
            f"`{name}` contains {bad.size} negative value(s) (first at index {int(bad[0])}, "
            f"value {arr[bad[0]]}); it must be >= 0"
        )
    return arr


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same length (one value per user), "
            f"got {a.shape[0]} and {b.shape[0]}"
        )


def check_alpha(alpha: Any, name: str = "alpha") -> float:
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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def check_random_state(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"`random_state` must be None, an int seed or a numpy Generator, got {random_state!r}"
    )
