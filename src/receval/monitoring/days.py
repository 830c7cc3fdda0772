"""Days as integers and each day's reference window: the bookkeeping shared by the
monitoring marts that compare a day with a window of earlier days
(:mod:`~receval.monitoring.rolling`, :mod:`~receval.monitoring.features`,
:mod:`~receval.monitoring.estimates`).

A date is its number of days since 1970-01-01 (:func:`day_numbers`,
:func:`as_day_number`, back to Arrow dates with :func:`dates`); a mart numbers its days
from the first day of its rows (``d0``), and :func:`reference_windows` reads
``int_monitoring__reference_windows`` (one row per day: ``reference_start_date``,
``reference_end_date``, inclusive, and ``period``) as day indexes relative to ``d0``.
No mart function lives here: the package ``__init__`` may import it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from receval.monitoring.marts import _as_table

__all__ = ["EPOCH", "WINDOW_COLUMNS", "Windows", "as_day_number", "dates", "day_batches", "day_numbers",
           "index_days", "reference_windows"]

#: the columns of a windows table besides its day column
WINDOW_COLUMNS = ("reference_start_date", "reference_end_date", "period")
#: day number 0
EPOCH = dt.date(1970, 1, 1)


def day_numbers(col: Any, what: str) -> np.ndarray:
    """A date column as int days since 1970-01-01; nulls are an error."""
    import pyarrow as pa

    try:
        days = col.cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{what} must hold dates, got arrow type {col.type}") from exc
    if days.null_count:
        raise ValueError(f"{what} holds {days.null_count} null value(s)")
    return days.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)


def as_day_number(value: Any, name: str) -> int:
    """A date, datetime or ISO string as its day number; errors name `name`."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"`{name}` must be a date, got {value!r}") from exc
    if not isinstance(value, dt.date):
        raise ValueError(f"`{name}` must be a date, got {value!r}")
    return (value - EPOCH).days


def dates(day_numbers: np.ndarray, null: np.ndarray | None = None) -> Any:
    """Day numbers as an Arrow date32 array (null where ``null`` is true)."""
    import pyarrow as pa

    if null is None:
        return pa.array(np.asarray(day_numbers).astype(np.int32), pa.int32()).cast(pa.date32())
    return pa.array(np.where(null, 0, day_numbers).astype(np.int32), pa.int32(), mask=null).cast(pa.date32())


@dataclass
class Windows:
    """Each day's reference window, as day indexes relative to the first day of rows."""
    start: np.ndarray   # (n_days,) first day index of the window (may lie outside the data)
    end: np.ndarray     # (n_days,) last day index
    period: list        # (n_days,) the window's period (None where no row has the day)


def reference_windows(windows: Any, day: str, d0: int, n_days: int, present: np.ndarray) -> Windows:
    """The windows table (``day``, :data:`WINDOW_COLUMNS`) as day indexes from ``d0``
    over ``n_days`` days; every day where ``present`` is true must have a row."""
    tab = _as_table(windows, "windows")
    for col in (day, *WINDOW_COLUMNS):
        if col not in tab.column_names:
            raise ValueError(f"`windows` has no column `{col}` (expected {day}, "
                             f"{', '.join(WINDOW_COLUMNS)})")
    wday = day_numbers(tab.column(day), f"`windows` column `{day}`") - d0
    if np.unique(wday).size != wday.size:
        raise ValueError(f"`windows` must have one row per `{day}`")
    start = np.zeros(n_days, dtype=np.int64)
    end = np.full(n_days, -1, dtype=np.int64)
    period: list = [None] * n_days
    inside = (wday >= 0) & (wday < n_days)
    idx = wday[inside]
    start[idx] = day_numbers(tab.column("reference_start_date"), "`windows` reference_start_date")[inside] - d0
    end[idx] = day_numbers(tab.column("reference_end_date"), "`windows` reference_end_date")[inside] - d0
    periods = tab.column("period").to_pylist()
    for i, p in zip(idx.tolist(), np.asarray(periods, dtype=object)[inside].tolist()):
        period[i] = p
    missing = np.setdiff1d(np.flatnonzero(present), idx)
    if missing.size:
        first = EPOCH + dt.timedelta(days=int(missing[0] + d0))
        raise ValueError(f"`windows` has no row for {missing.size} day(s) of `rows`, the first {first}")
    return Windows(start, end, period)


def day_batches(counts: dict, max_rows: int | None, what: str) -> list[list[dt.date]]:
    """The days of ``counts`` (day -> rows, e.g. ``ColumnReader.counts``) in order, grouped
    into runs of consecutive days of at most ``max_rows`` rows each (a larger day alone):
    the reads of a mart that holds a few days at a time. One run of every day when
    ``max_rows`` is None. A null day is an error naming ``what``."""
    if None in counts:
        raise ValueError(f"{what} holds {counts[None]} null value(s)")
    batches: list[list[dt.date]] = []
    rows = 0
    for day in sorted(counts):
        if not batches or (max_rows is not None and rows + counts[day] > max_rows):
            batches.append([])
            rows = 0
        batches[-1].append(day)
        rows += counts[day]
    return batches


def index_days(col: Any, what: str, windows: Any, day: str) -> tuple[int, np.ndarray, int, Windows]:
    """The rows' dates ``col`` (non-empty; ``what`` names it in errors) as day indexes
    from their first day ``d0``, the ``n_days`` they span, and the reference window of
    each (:func:`reference_windows`): ``(d0, day_idx, n_days, windows)``."""
    day_num = day_numbers(col, what)
    d0 = int(day_num.min())
    day_idx = day_num - d0
    n_days = int(day_idx.max()) + 1
    win = reference_windows(windows, day, d0, n_days, np.bincount(day_idx, minlength=n_days) > 0)
    return d0, day_idx, n_days, win
