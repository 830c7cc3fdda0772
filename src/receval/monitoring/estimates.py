r"""Label-free performance estimates of the serving models: :func:`performance_estimate_table`,
the one package call of the ``fct_performance_estimate`` mart.

Why a calibration step
----------------------
CBPE (:mod:`receval.monitoring.performance`) needs the probability of a click for every
served row. A ranker's served score is rarely that: in the simulator it is the item's
appeal before the position's examination (``prod_v1``: mean score 0.83, click rate
0.125), and the click probability falls steeply with the position. So, per model and
day, a map :math:`P(\text{click} \mid \text{score}, \text{position})` is fitted on the
day's *reference window* (``int_monitoring__reference_windows``; the rows whose click
label is mature) and applied to the day's served rows: one calibration map
(:func:`receval.models.calibration.fit_calibrator`, Platt or isotonic in the score) per
position ``1 .. max_position`` (deeper positions share the last one). A position whose
reference rows hold a single class uses the map fitted on every position's rows. The
ranking score stays the served score, so the expected AUC is the served score's.

Sufficient statistics (the approximation)
-----------------------------------------
Fitting on the ~1M reference rows of each of 44 days would re-read the same rows 28
times. Instead the mature rows are counted once per model x day x position x bin of
:math:`\mathrm{logit}(\text{score})` (width ``logit_bin_width``; clicks, rows and the sum
of the logits), the counts are summed over each window by a cumulative sum over days,
and the map is fitted on the bins: each bin is two weighted rows (clicked, weight =
clicks; not clicked, weight = rows - clicks) at the bin's mean logit. Platt's score
equations then differ from the row-level ones only through the spread of the logits
inside a bin: with the default width 0.02, the fitted probabilities of the default
world's prod_v1 (positions 1, 5, 10, days 1-14) are within 7e-5 of the row-level fit's
(2e-4 with 0.05). Isotonic regression on the bins is the row-level one whenever no step
falls inside a bin. The map's own sampling error (a window holds
hundreds of thousands of rows) is not in the interval.

Per-segment recalibration (intercept and slope)
-----------------------------------------------
The maps are fitted on every segment's rows together, so a segment whose click rate at a
given score and position differs (the default world's item categories: ``prod_v1``'s score
error differs by category) gets biased probabilities. For the rows of a segment (segment
type other than ``all``), the map's logit :math:`z` is recalibrated to
:math:`\sigma(a_s + b_s z)`, :math:`(a_s, b_s)` the logistic regression of the segment's
mature rows' clicks on :math:`z` in the same window: Newton's method on the 2 x 2 score
equations over the same binned counts, kept per model x day x position x segment value x
logit bin (``segment_offset`` :math:`a_s`, ``segment_slope`` :math:`b_s`; (0, 1) where
the segment's window rows hold one class or none; the offset alone, slope 1, where the
fit does not converge to a positive slope, and for isotonic maps, which a logistic slope
does not correct). Segment ``all`` keeps (0, 1): Platt's score equations per position
already hold over all rows. The intercept fixes a segment's level (click rate), the slope
how well the score separates clicks inside it (expected AUC): on the default world,
``prod_v1``'s categories have slopes 0.85 .. 1.12 on the mapped logit, and with the offset
alone their AUC intervals covered 84% of the category-days.

What each row reports
---------------------
Per model x day x segment: :func:`~receval.monitoring.performance.grouped_cbpe` on the
calibrated probabilities of the served rows, recalibrated per segment (expected AUC
of the served score, log-loss of the calibrated probabilities and click rate, each with the
analytic ``1 - alpha`` prediction interval of the figure the labels will realise), and, on the rows whose click
label is mature, the realised figures: AUC (:func:`receval.metrics.classification.grouped_roc_auc`,
equal to scikit-learn's), log-loss of the same calibrated probabilities and click rate.
``*_covered`` (realised inside the interval) once every row of the group has a mature
label. Valid under covariate shift; under concept drift (the click probability of a
score and position moves, as for ``cat_07`` from the default world's drift day) the
estimate stays where the reference put it and the realised figures leave the interval:
no label-free method can see that before the labels arrive.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np

from receval import _validation as v
from receval.metrics.classification import grouped_roc_auc
from receval.metrics.uncertainty import z_value
from receval.models.calibration import METHODS, Calibrator, fit_calibrator, logit
from receval.monitoring.days import as_day_number, dates, day_batches, day_numbers, reference_windows
from receval.monitoring.marts import _as_reader, _stable_order, _string_codes
from receval.monitoring.performance import _check_eps, grouped_cbpe

__all__ = ["ESTIMATE_STATUSES", "performance_estimate_schema", "performance_estimate_table"]

#: ``estimated``: an analysis day with an estimate; ``no_estimate``: an analysis day whose
#: reference gives no calibration map; otherwise the day's period (never alerts)
ESTIMATE_STATUSES = ("estimated", "no_estimate", "warm_up", "reference", "before_reference")
DAY = "impression_date"
COLUMNS = ("model_id", DAY, "position", "score", "is_clicked", "is_click_label_mature")
_NEWTON_STEPS = 50
_LOGIT_MAX = float(logit(np.array([1.0]))[0])  # calibration.logit clips at 1 - 1e-6


def performance_estimate_schema() -> Any:
    """The Arrow schema of :func:`performance_estimate_table` (``fct_performance_estimate``)."""
    import pyarrow as pa

    def f(name, typ, nullable=True):
        return pa.field(name, typ, nullable=nullable)

    d, i, s, b = pa.float64(), pa.int64(), pa.string(), pa.bool_()
    return pa.schema([
        f("model_id", s, False), f(DAY, pa.date32(), False), f("segment_type", s, False),
        f("segment", s, False), f("period", s), f("status", s, False), f("reason", s),
        f("reference_start_date", pa.date32()), f("reference_end_date", pa.date32()),
        f("n_reference_days", i, False), f("n_reference", i, False), f("n_reference_clicks", i, False),
        f("calibration", s, False), f("segment_offset", d), f("segment_slope", d),
        f("n", i, False), f("n_label_mature", i, False),
        f("expected_auc", d), f("expected_auc_std_error", d), f("expected_auc_ci_low", d),
        f("expected_auc_ci_high", d), f("realised_auc", d), f("auc_covered", b),
        f("expected_log_loss", d), f("expected_log_loss_ci_low", d), f("expected_log_loss_ci_high", d),
        f("realised_log_loss", d), f("log_loss_covered", b),
        f("expected_click_rate", d), f("expected_click_rate_ci_low", d),
        f("expected_click_rate_ci_high", d), f("realised_click_rate", d), f("click_rate_covered", b),
        f("alpha", d, False),
    ])


def _check(tab: Any, segments: Sequence[str], calibration: str, max_position: Any,
           logit_bin_width: Any) -> tuple[list[str], int, float]:
    for col in COLUMNS:
        if col not in tab.column_names:
            raise ValueError(f"`served` has no column `{col}` (expected {', '.join(COLUMNS)})")
    segments = list(segments or [])
    if "all" in segments or len(set(segments)) != len(segments):
        raise ValueError(f"`segments` must be distinct columns other than 'all', got {segments}")
    for seg in segments:
        if seg not in tab.column_names:
            raise ValueError(f"segment `{seg}` is not a column of `served`")
    if calibration not in METHODS:
        raise ValueError(f"`calibration` must be one of {METHODS}, got {calibration!r}")
    max_position = v.check_int(max_position, "max_position", minimum=1)
    if isinstance(logit_bin_width, bool) or not isinstance(logit_bin_width, (int, float)) \
            or not 0.0 < logit_bin_width <= 1.0:
        raise ValueError(f"`logit_bin_width` must be a number in (0, 1], got {logit_bin_width!r}")
    return segments, max_position, float(logit_bin_width)


def _dense(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes in ``[0, size)`` renumbered ``0 ..`` in the order of their values, and the
    values present (``np.unique(..., return_inverse=True)`` reversed, without a sort)."""
    present = np.bincount(codes, minlength=size) > 0
    return (np.cumsum(present) - 1)[codes], np.flatnonzero(present)


def _numpy(tab: Any, name: str, fill: Any) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.fill_null(tab.column(name), fill).to_numpy()


def _fit_binned(s: np.ndarray, clicks: np.ndarray, rows: np.ndarray, method: str) -> Calibrator:
    """The calibration map of bins with representative scores ``s``: Platt by Newton's
    method on the binned log-likelihood (sklearn's solver costs ~10 ms a fit, 1,300 fits a
    build), else -- isotonic, or a Platt fit that does not converge (separable bins) --
    :func:`fit_calibrator` on each bin as two weighted rows."""
    if method == "platt":
        x = logit(s)
        design = np.column_stack([x, np.ones_like(x)])
        rate = clicks.sum() / rows.sum()
        theta = np.array([0.0, math.log(rate / (1.0 - rate))])
        for _ in range(_NEWTON_STEPS):
            q = 1.0 / (1.0 + np.exp(-(design @ theta)))
            grad = design.T @ (clicks - rows * q)
            hess = (design * (rows * q * (1.0 - q))[:, None]).T @ design
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:  # one bin: the slope is not identified
                break
            theta = theta + step
            if np.abs(step).max() < 1e-10:
                return Calibrator("platt", {"a": float(theta[0]), "b": float(theta[1])})
    return fit_calibrator(np.r_[s, s], np.r_[np.ones(s.size), np.zeros(s.size)], method,
                          np.r_[clicks, rows - clicks])


def _logit_bins(x: np.ndarray, width: float) -> tuple[np.ndarray, int]:
    """The bin of each logit(score) (width ``width`` from ``-_LOGIT_MAX``) and the bins' count."""
    n_bins = int(math.ceil(2 * _LOGIT_MAX / width)) + 1
    return np.minimum(((x + _LOGIT_MAX) / width).astype(np.int64), n_bins - 1), n_bins


def _window_sums(cell: np.ndarray, n_cells: int, n_days: int, weights: np.ndarray | None) -> np.ndarray:
    """Sums per cell (``cell = key * n_days + day``) cumulated over days, with a leading 0:
    the sum over days ``lo .. hi`` of key ``k`` is ``out[k, hi + 1] - out[k, lo]``."""
    out = np.zeros((n_cells, n_days + 1))
    np.cumsum(np.bincount(cell, weights=weights, minlength=n_cells * n_days).reshape(-1, n_days),
              axis=1, out=out[:, 1:])
    return out


def _solve_offsets(z: np.ndarray, rows: np.ndarray, seg: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """Per segment ``k`` (``len(clicks)`` of them), the offset ``d_k`` with
    ``sum_{seg == k} rows * sigmoid(z + d_k) = clicks[k]`` (bins of calibrated logits ``z``
    weighted by ``rows``): Newton's method safeguarded by bisection (the left side grows
    with ``d``). 0 for a segment without rows or whose clicks are 0 or all its rows."""
    k = clicks.size
    total = np.bincount(seg, weights=rows, minlength=k)
    fit = (clicks > 0) & (clicks < total)
    d, lo, hi = np.zeros(k), np.full(k, -2 * _LOGIT_MAX), np.full(k, 2 * _LOGIT_MAX)
    for _ in range(_NEWTON_STEPS * 2):
        q = 1.0 / (1.0 + np.exp(-(z + d[seg])))
        f = np.bincount(seg, weights=rows * q, minlength=k) - clicks
        lo, hi = np.where(f < 0, d, lo), np.where(f > 0, d, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = d - f / np.bincount(seg, weights=rows * q * (1.0 - q), minlength=k)
        new = np.where(np.isfinite(new) & (new > lo) & (new < hi), new, 0.5 * (lo + hi))
        new = np.where(fit, new, 0.0)
        done = np.abs(new - d).max() < 1e-12
        d = new
        if done:
            break
    return d



def _solve_recalibration(z: np.ndarray, rows: np.ndarray, clicks: np.ndarray, seg: np.ndarray,
                         k: int, slope: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per segment ``k``, the intercept ``a_k`` and slope ``b_k`` of ``sigmoid(a_k + b_k z)``
    maximising the binned log-likelihood (bins of calibrated logits ``z`` with ``rows`` rows
    and ``clicks`` clicks each): Newton's method on the 2 x 2 score equations, from the
    offset of :func:`_solve_offsets` and slope 1. A segment where it does not converge to
    a positive slope (one class, one bin, separable bins), and every segment unless
    ``slope``, keeps that offset and slope 1."""
    total_clicks = np.bincount(seg, weights=clicks, minlength=k)
    a0 = _solve_offsets(z, rows, seg, total_clicks)
    if not slope:
        return a0, np.ones(k)
    a, b = a0.copy(), np.ones(k)
    active = (total_clicks > 0) & (total_clicks < np.bincount(seg, weights=rows, minlength=k))
    converged = np.zeros(k, dtype=bool)
    for _ in range(_NEWTON_STEPS):
        q = 1.0 / (1.0 + np.exp(-(a[seg] + b[seg] * z)))
        r, w = clicks - rows * q, rows * q * (1.0 - q)
        ga, gb = (np.bincount(seg, weights=v, minlength=k) for v in (r, z * r))
        haa, hab, hbb = (np.bincount(seg, weights=v, minlength=k) for v in (w, w * z, w * z * z))
        with np.errstate(divide="ignore", invalid="ignore"):
            det = haa * hbb - hab * hab
            da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        step = active & ~converged & np.isfinite(da) & np.isfinite(db) & (det > 0)
        a, b = np.where(step, a + da, a), np.where(step, b + db, b)
        converged |= step & (np.maximum(np.abs(da), np.abs(db)) < 1e-10)
        active &= step | converged
        if not (active & ~converged).any():
            break
    keep = converged & (b > 0)
    return np.where(keep, a, a0), np.where(keep, b, 1.0)

class _Maps:
    """The calibration maps of every model x day: fitted on the window's binned counts,
    cached per model and window (a fixed reference fits once per model and position)."""

    def __init__(self, bins: "_Bins", n_days: int, n_buckets: int, n_bins: int, method: str):
        self.n_days, self.method = n_days, method
        idx, self.combos = _dense(bins.key, (int(bins.key.max()) + 1) if bins.key.size else 0)
        cell = idx * n_days + bins.day
        self.rows, self.clicks, self.sum_x = (_window_sums(cell, self.combos.size, n_days, w)
                                              for w in (bins.rows, bins.clicks, bins.sum_x))
        self.mk = self.combos // n_bins
        self.n_buckets = n_buckets
        self.cache: dict[tuple, dict] = {}

    def fit(self, m: int, lo: int, hi: int, buckets: np.ndarray) -> tuple[dict[int, Calibrator | None], float, float]:
        """Maps of model ``m`` for ``buckets`` from days ``lo .. hi`` (a bucket whose
        window lacks a class gets the pooled map), and the window's mature rows and clicks."""
        key = (m, lo, hi)
        maps = self.cache.setdefault(key, {})

        def one(k: int) -> Calibrator | None:
            if k not in maps:
                a, z = np.searchsorted(self.mk, [m * self.n_buckets + k, m * self.n_buckets + k + 1])
                n = self.rows[a:z, hi + 1] - self.rows[a:z, lo]
                c = self.clicks[a:z, hi + 1] - self.clicks[a:z, lo]
                keep = n > 0
                if not 0 < c.sum() < n.sum():
                    maps[k] = None
                else:
                    n, c = n[keep], c[keep]
                    s = 1.0 / (1.0 + np.exp(-(self.sum_x[a:z, hi + 1] - self.sum_x[a:z, lo])[keep] / n))
                    maps[k] = _fit_binned(s, c, n, self.method)
            return maps[k]

        out = {int(k): one(int(k)) for k in buckets}
        out = {k: (cal if cal is not None else one(0)) for k, cal in out.items()}
        a, z = np.searchsorted(self.mk, [m * self.n_buckets, m * self.n_buckets + 1])
        n_ref = float((self.rows[a:z, hi + 1] - self.rows[a:z, lo]).sum())
        c_ref = float((self.clicks[a:z, hi + 1] - self.clicks[a:z, lo]).sum())
        return out, n_ref, c_ref


class _Recalibrations:
    """The per-segment recalibrations of one segment type: the mature rows counted once per
    model x day x position bucket x segment value x logit bin (rows, clicks and the sum of
    the logits), summed over each window as in :class:`_Maps`; per model and window, every
    segment value's intercept and slope on ``logit(map(score))`` fitted on its reference
    bins (:func:`_solve_recalibration`)."""

    def __init__(self, bins: "_Bins", n_seg: int, n_days: int, n_buckets: int, n_bins: int):
        self.n_bins, self.n_seg, self.n_buckets = n_bins, n_seg, n_buckets
        # model-major, then bucket: one model's bins are contiguous, and one bucket's inside it
        idx, self.combos = _dense(bins.key, (int(bins.key.max()) + 1) if bins.key.size else 0)
        cell = idx * n_days + bins.day
        self.rows, self.clicks, self.sum_x = (_window_sums(cell, self.combos.size, n_days, w)
                                              for w in (bins.rows, bins.clicks, bins.sum_x))
        self.cache: dict[tuple, np.ndarray] = {}

    def solve(self, maps: _Maps, m: int, lo: int, hi: int) -> np.ndarray:
        """(intercept, slope) per segment value (rows) of model ``m`` on the window
        ``lo .. hi``, with the maps of ``maps``; (0, 1) where the window gives no map."""
        key = (m, lo, hi)
        if key in self.cache:
            return self.cache[key]
        per_model = self.n_buckets * self.n_seg * self.n_bins
        a, z = np.searchsorted(self.combos, [m * per_model, (m + 1) * per_model])
        n = self.rows[a:z, hi + 1] - self.rows[a:z, lo]
        keep = n > 0
        combos, n = self.combos[a:z][keep], n[keep]
        c = (self.clicks[a:z, hi + 1] - self.clicks[a:z, lo])[keep]
        xbar = (self.sum_x[a:z, hi + 1] - self.sum_x[a:z, lo])[keep] / n
        k = combos // (self.n_seg * self.n_bins) % self.n_buckets
        bounds = np.searchsorted(k, np.arange(self.n_buckets + 1))
        present = np.flatnonzero(np.diff(bounds))
        fitted = maps.fit(m, lo, hi, present)[0] if present.size else {}
        out = np.tile([0.0, 1.0], (self.n_seg, 1))
        if fitted and all(cal is not None for cal in fitted.values()):
            zc = np.empty(n.size)
            for kk in present:
                sl = slice(bounds[kk], bounds[kk + 1])
                zc[sl] = logit(fitted[int(kk)].apply(1.0 / (1.0 + np.exp(-xbar[sl]))))
            out = np.column_stack(_solve_recalibration(zc, n, c, combos // self.n_bins % self.n_seg, self.n_seg,
                                                       slope=maps.method == "platt"))
        self.cache[key] = out
        return out


def _recalibrate(prob: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """``sigmoid(a + b logit(prob))`` per row (``ab``: rows of (a, b)); ``prob`` itself
    where (a, b) = (0, 1)."""
    out = prob.copy()
    on = ((ab[:, 0] != 0) | (ab[:, 1] != 1)) & ~np.isnan(prob)
    out[on] = 1.0 / (1.0 + np.exp(-(ab[on, 0] + ab[on, 1] * logit(prob[on]))))
    return out


class _Bins(NamedTuple):
    """Mature rows counted per key (the bins of :class:`_Maps` or :class:`_Recalibrations`)
    and day: their rows, clicks and sum of logits; ``seg``: the segment value codes, while
    the key of a segment type's bins still lacks them."""
    key: np.ndarray
    day: np.ndarray
    rows: np.ndarray
    clicks: np.ndarray
    sum_x: np.ndarray
    seg: np.ndarray | None = None

    @classmethod
    def of_rows(cls, key: np.ndarray, day: np.ndarray, x: np.ndarray, y: np.ndarray, span: int) -> "_Bins":
        """Rows with ``day`` in ``[0, span)`` summed per distinct (key, day)."""
        code, inv = np.unique(key * span + day, return_inverse=True)
        return cls(code // span, code % span, np.bincount(inv).astype(np.float64), np.bincount(inv, weights=y),
                   np.bincount(inv, weights=x))

    @classmethod
    def concat(cls, parts: list["_Bins"], keep) -> "_Bins":
        """The parts' bins whose key ``keep`` accepts."""
        joined = [np.concatenate(c) if c[0] is not None else None for c in zip(*parts)]
        mask = keep(joined[0])
        return cls(*(c[mask] if c is not None else None for c in joined))


class _Batch(NamedTuple):
    """One run of days' served rows with a score, as numpy."""
    model: np.ndarray     # model codes (:meth:`_Batches.names`)
    day: np.ndarray       # day numbers since 1970-01-01
    bucket: np.ndarray    # position, clipped to 1 .. max_position
    score: np.ndarray
    mature: np.ndarray    # the click label is mature (and not null)
    clicked: np.ndarray   # 1.0 / 0.0
    segments: dict        # segment type -> value codes (:meth:`_Batches.names`)


class _Batches:
    """The served rows, read a run of days at a time (:func:`day_batches`), with model and
    segment value codes that hold across the runs (numbered as they first appear)."""

    def __init__(self, served: Any, segments: list[str], max_position: int, read_rows: int | None):
        self.served, self.segments, self.max_position = served, segments, max_position
        self.days = day_batches(served.counts(DAY), read_rows, f"`served` column `{DAY}`")
        self.first = as_day_number(self.days[0][0], DAY) if self.days else 0
        self.span = (as_day_number(self.days[-1][-1], DAY) - self.first + 1) if self.days else 0
        self.codes: dict[str, dict[str, int]] = {c: {} for c in ["model_id", *segments]}
        self._held: tuple | None = None

    def names(self, column: str) -> Any:
        import pyarrow as pa

        return pa.array(list(self.codes[column]), pa.string())

    def _codes(self, tab: Any, column: str) -> np.ndarray:
        local, values = _string_codes(tab.column(column))
        known = self.codes[column]
        return np.array([known.setdefault(x, len(known)) for x in values.to_pylist()], dtype=np.int64)[local]

    def _read(self, days: list) -> Any:
        import pyarrow.compute as pc

        if self._held is None or self._held[0] != days:
            self._held = None   # let the last run go before reading the next
            tab = self.served.read([*COLUMNS, *self.segments], [(DAY, days)])
            self._held = (days, tab.filter(pc.is_valid(tab.column("score"))))
        return self._held[1]

    def rows(self, reverse: bool = False, drop: set = frozenset()):
        """Each run's rows (those of the models in ``drop`` left out), as a :class:`_Batch`."""
        import pyarrow.compute as pc

        for days in (reversed(self.days) if reverse else self.days):
            tab = self._read(days)
            model = self._codes(tab, "model_id")
            keep = ~np.isin(model, list(drop))
            if not keep.any():
                continue
            yield _Batch(
                model[keep], day_numbers(tab.column(DAY), f"`served` column `{DAY}`")[keep],
                np.clip(_numpy(tab, "position", self.max_position), 1, self.max_position).astype(np.int64)[keep],
                tab.column("score").to_numpy().astype(np.float64)[keep],
                (_numpy(tab, "is_click_label_mature", False) & pc.is_valid(tab.column("is_clicked")).to_numpy())[keep],
                _numpy(tab, "is_clicked", False).astype(np.float64)[keep],
                {st: self._codes(tab, st)[keep] for st in self.segments})


class _Counted(NamedTuple):
    """What the first read of the served rows counts (:func:`_count_mature`)."""
    d0: int                   # the first day with rows of a probability model
    n_days: int               # the days from d0 to the last such day
    n_bins: int               # logit bins
    maps: _Bins               # keys (model x bucket (0: every position) x bin), days from d0
    segments: dict            # segment type -> _Bins, keys (model x bucket x value x bin)
    present: np.ndarray       # (n_days,) the day holds rows of a probability model
    mature_days: np.ndarray   # (n_models * n_days,) the model x day holds mature rows
    improbable: set           # codes of the models with a score outside [0, 1]


def _count_mature(batches: _Batches, width: float) -> _Counted | None:
    """The first read: every run's mature rows counted into the maps' and recalibrations'
    logit bins per day (a model with a score outside [0, 1] on any day is dropped after);
    None without a row of a probability model."""
    n_buckets = batches.max_position + 1
    maps: list[_Bins] = []
    segs: dict[str, list[_Bins]] = {st: [] for st in batches.segments}
    days: dict[int, set] = {}
    improbable: set = set()
    n_bins = _logit_bins(np.zeros(0), width)[1]
    for b in batches.rows():
        outside = np.unique(b.model[(b.score < 0) | (b.score > 1)])
        improbable.update(outside.tolist())
        for m in np.unique(b.model).tolist():
            days.setdefault(m, set()).update(np.unique(b.day[b.model == m]).tolist())
        keep = b.mature & ~np.isin(b.model, outside)
        x, y, model, day = logit(b.score[keep]), b.clicked[keep], b.model[keep], b.day[keep] - batches.first
        bins = _logit_bins(x, width)[0]
        key = (model * n_buckets + b.bucket[keep]) * n_bins + bins
        # bucket 0 pools every position: each mature row counts in its bucket and in 0
        maps.append(_Bins.of_rows(np.concatenate([key, model * n_buckets * n_bins + bins]), np.tile(day, 2),
                                  np.tile(x, 2), np.tile(y, 2), batches.span))
        for st, parts in segs.items():
            n_seg = len(batches.codes[st])
            part = _Bins.of_rows(key * n_seg + b.segments[st][keep], day, x, y, batches.span)
            parts.append(part._replace(key=part.key // n_seg, seg=part.key % n_seg))
    good = [m for m in days if m not in improbable]
    if not good:
        return None
    first, last = min(min(days[m]) for m in good), max(max(days[m]) for m in good)
    n_days, shift = last - first + 1, first - batches.first
    n_models = len(batches.codes["model_id"])
    bad = np.array(sorted(improbable), dtype=np.int64)

    def probable(key):  # an improbable model's days may lie outside d0 .. d0 + n_days
        return ~np.isin(key // (n_buckets * n_bins), bad)

    maps_bins = _Bins.concat(maps, probable)
    maps_bins = maps_bins._replace(day=maps_bins.day - shift)
    seg_bins = {}
    for st, parts in segs.items():
        sb = _Bins.concat(parts, probable)
        n_seg = len(batches.codes[st])
        seg_bins[st] = sb._replace(key=((sb.key // n_bins) * n_seg + sb.seg) * n_bins + sb.key % n_bins,
                                   day=sb.day - shift, seg=None)
    present = np.zeros(n_days, dtype=bool)
    for m in good:
        present[np.array(sorted(days[m])) - first] = True
    pooled = maps_bins.key // n_bins % n_buckets == 0
    mature_days = np.bincount((maps_bins.key[pooled] // (n_buckets * n_bins)) * n_days + maps_bins.day[pooled],
                              minlength=n_models * n_days) > 0
    return _Counted(first, n_days, n_bins, maps_bins, seg_bins, present, mature_days, improbable)


def performance_estimate_table(served: Any, windows: Any, *, segments: Sequence[str] = (),
                               calibration: str = "platt", max_position: int = 10,
                               logit_bin_width: float = 0.02, alpha: float = 0.05,
                               eps: float | None = None, read_rows: int | None = None) -> Any:
    """CBPE of every serving model on every day and segment, next to the realised figures.

    Parameters
    ----------
    served : pyarrow.Table, pandas.DataFrame or receval.warehouse.ColumnReader
        One row per served impression (``int_monitoring__served_impressions``):
        ``model_id``, ``impression_date``, ``position``, ``score`` (served; null rows are
        dropped), ``is_clicked``, ``is_click_label_mature`` and the ``segments`` columns.
    windows : pyarrow.Table or pandas.DataFrame
        ``int_monitoring__reference_windows``: one row per day with
        ``reference_start_date``, ``reference_end_date`` (inclusive) and ``period``.
    segments : sequence of str
        Segment columns (var ``monitoring_prediction_segments``): every model x day is
        reported over all its rows (``segment_type`` / ``segment`` ``"all"``) and per
        value of each column (null as ``"unknown"``), each with the model x day's maps
        and, per segment value, its recalibration (module docstring).
    calibration : {"platt", "isotonic"}
        The map fitted per position (var ``monitoring_cbpe_calibration``).
    max_position : int
        Positions above it share its map (var ``monitoring_cbpe_max_position``).
    logit_bin_width : float
        Width of the logit(score) bins the maps are fitted on (var
        ``monitoring_cbpe_logit_bin_width``; module docstring).
    alpha : float
        The intervals' significance level (var ``monitoring_alpha``).
    eps : float, optional
        Clipping of the probabilities in the log-losses (default machine epsilon, as
        :func:`receval.metrics.classification.log_loss`).
    read_rows : int, optional
        Var ``monitoring_read_rows``: the most served rows held at once. The rows are read
        twice, a run of consecutive days at a time (a larger day alone): first to count the
        mature rows into the maps' bins, then to estimate each day. None: every day at once.

    Returns
    -------
    pyarrow.Table
        Schema :func:`performance_estimate_schema`: one row per model x day x segment type
        x segment with served rows, sorted in that order (segment type ``all`` first).
        Only models whose every served score lies in [0, 1] (probability-like scores a
        Platt or isotonic map can take; ``fallback_popular``'s popularity counts do not).
        ``n_reference`` / ``n_reference_clicks``: the model's mature rows and clicks in the
        window, ``n_reference_days`` the window's days holding some; ``segment_offset``
        / ``segment_slope`` the recalibration of the segment's rows ((0, 1) for ``all``). Estimates are null
        where the window gives no map (``reason``); the ``realised_*`` figures are on the
        ``n_label_mature`` rows (null without any) and ``*_covered`` is null until every
        row's label is mature. ``status``: ``estimated`` / ``no_estimate`` on analysis
        days, else the period. Empty, with the schema, without any row with a score.

    Raises
    ------
    ValueError
        On a missing column or a bad parameter, naming it; a day without a window.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = performance_estimate_schema()
    served = _as_reader(served, "served")
    segments, max_position, width = _check(served, segments, calibration, max_position, logit_bin_width)
    alpha, eps = v.check_alpha(alpha), _check_eps(eps)
    if read_rows is not None:
        read_rows = v.check_int(read_rows, "read_rows", minimum=1)
    batches = _Batches(served, segments, max_position, read_rows)
    counted = _count_mature(batches, width)
    if counted is None:
        return schema.empty_table()
    d0, n_days = counted.d0, counted.n_days
    model_names = batches.names("model_id")
    n_models, n_buckets = len(model_names), max_position + 1
    win = reference_windows(windows, DAY, d0, n_days, counted.present)
    maps = _Maps(counted.maps, n_days, n_buckets, counted.n_bins, calibration)
    recalibrations = {st: _Recalibrations(counted.segments[st], len(batches.names(st)), n_days, n_buckets,
                                          counted.n_bins) for st in segments}
    lo_day = np.clip(win.start, 0, n_days)
    hi_day = np.clip(win.end, -1, n_days - 1)
    n_md = n_models * n_days
    has = np.zeros((n_models, n_days + 1), dtype=np.int64)  # days with mature rows, cumulated
    np.cumsum(counted.mature_days.reshape(n_models, n_days), axis=1, out=has[:, 1:])
    ref_rows, ref_clicks = np.zeros(n_md, dtype=np.int64), np.zeros(n_md, dtype=np.int64)
    ref_days = np.zeros(n_md, dtype=np.int64)
    ab = {st: np.tile([0.0, 1.0], (n_md, len(batches.names(st)), 1)) for st in segments}

    parts = []
    for b in batches.rows(reverse=True, drop=counted.improbable):  # the last batch read is still held
        md = b.model * n_days + (b.day - d0)
        # maps per model x day x position bucket, applied to the served rows
        cell, cells = _dense(md * n_buckets + b.bucket, n_md * n_buckets)
        order = _stable_order(cell, cells.size)
        bounds = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=cells.size))])
        prob = np.full(b.score.size, np.nan)
        cell_md = cells // n_buckets
        for u in np.unique(cell_md):
            m, t = divmod(int(u), n_days)
            lo, hi = int(lo_day[t]), int(hi_day[t])
            if lo > hi:
                continue
            first, last = np.searchsorted(cell_md, [u, u + 1])
            fitted, ref_rows[u], ref_clicks[u] = maps.fit(m, lo, hi, cells[first:last] % n_buckets)
            ref_days[u] = has[m, hi + 1] - has[m, lo]
            for j in range(first, last):
                cal = fitted[int(cells[j] % n_buckets)]
                if cal is not None:
                    rows = order[bounds[j]:bounds[j + 1]]
                    prob[rows] = cal.apply(b.score[rows])

        # per segment type: each value's recalibration (intercept, slope) on the window's rows
        score_order = np.argsort(b.score)
        parts.append(_segment_rows(0, "all", pa.array(["all"], pa.string()), np.zeros(b.score.size, dtype=np.int64),
                                   np.tile([0.0, 1.0], (n_md, 1, 1)), md, b.score, score_order, prob, b.mature,
                                   b.clicked, alpha, eps))
        for st_rank, seg_type in enumerate(segments, start=1):
            for u in np.unique(cell_md):
                m, t = divmod(int(u), n_days)
                lo, hi = int(lo_day[t]), int(hi_day[t])
                if lo <= hi:
                    ab[seg_type][u] = recalibrations[seg_type].solve(maps, m, lo, hi)
            seg = b.segments[seg_type]
            parts.append(_segment_rows(st_rank, seg_type, batches.names(seg_type), seg, ab[seg_type], md, b.score,
                                       score_order, _recalibrate(prob, ab[seg_type][md, seg]), b.mature, b.clicked,
                                       alpha, eps))
    out = pa.concat_tables(parts)
    key = out.column("_md").to_numpy()
    m_of, t_of = key // n_days, key % n_days
    # the pooled map exists, so every position has one, iff the window holds both classes
    has_map = (ref_clicks[key] > 0) & (ref_clicks[key] < ref_rows[key])
    reason = np.where(lo_day[t_of] > hi_day[t_of], "the reference window holds no day of the data",
                      np.where(ref_rows[key] == 0, "no mature click label in the reference window",
                               "the reference window's mature click labels are all one class"))
    period = [win.period[t] for t in t_of.tolist()]
    status = [("estimated" if h else "no_estimate") if p == "analysis" else p for h, p in zip(has_map, period)]
    n = out.num_rows
    cols = {
        "model_id": model_names.take(pa.array(m_of)),
        DAY: dates(d0 + t_of),
        "period": pa.array(period, pa.string()),
        "status": pa.array(status, pa.string()),
        "reason": pa.array(np.where(has_map, None, reason).tolist(), pa.string()),
        "reference_start_date": dates(win.start[t_of] + d0),
        "reference_end_date": dates(win.end[t_of] + d0),
        "n_reference_days": ref_days[key], "n_reference": ref_rows[key], "n_reference_clicks": ref_clicks[key],
        "calibration": pa.array([calibration] * n, pa.string()),
        "alpha": np.full(n, alpha),
    }
    for name in ("segment_offset", "segment_slope"):
        out = out.set_column(out.schema.get_field_index(name), name,
                             pa.array(np.where(has_map, out.column(name).to_numpy(), np.nan)))
    for name, col in cols.items():
        out = out.append_column(name, col if isinstance(col, (pa.Array, pa.ChunkedArray)) else pa.array(col))
    out = out.take(pc.sort_indices(out, sort_keys=[("model_id", "ascending"), (DAY, "ascending"),
                                                   ("_segment_type", "ascending"), ("segment", "ascending")]))
    out = out.select(schema.names)
    # NaN (no map, one class) is null in the warehouse, so range tests and BI skip it
    return pa.table({f.name: pa.array(out.column(f.name).to_numpy(), pa.float64(), from_pandas=True)
                     if pa.types.is_floating(f.type) else out.column(f.name) for f in schema}).cast(schema)


def _segment_rows(st_rank: int, segment_type: str, names: Any, seg: np.ndarray, ab: np.ndarray,
                  md: np.ndarray, score: np.ndarray, score_order: np.ndarray, prob: np.ndarray,
                  mature: np.ndarray, clicked: np.ndarray, alpha: float, eps: float) -> Any:
    """The estimate and realised columns of every model x day x segment of one segment type
    (segment value codes ``seg`` naming ``names``; ``prob`` already recalibrated by ``ab``,
    model x day by value by (intercept, slope))."""
    import pyarrow as pa

    g, groups = _dense(md * len(names) + seg, (int(md.max()) + 1) * len(names))
    n_groups = groups.size

    def subset(keep):  # the rows kept, their group codes and their score order
        order = score_order[keep[score_order]]
        return np.flatnonzero(keep), np.cumsum(keep)[order] - 1

    has_p = ~np.isnan(prob)
    rows, order = subset(has_p)
    est = grouped_cbpe(prob[rows], score[rows], g[rows], n_groups, eps=eps, score_order=order)
    rows, order = subset(mature)
    real = grouped_roc_auc(clicked[rows], score[rows], g[rows], n_groups, score_order=order)
    n = np.bincount(g, minlength=n_groups)
    n_mature = np.bincount(g[rows], minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.bincount(g[rows], weights=clicked[rows], minlength=n_groups) / n_mature
        both = mature & has_p
        pcl = np.clip(prob[both], eps, 1.0 - eps)
        y = clicked[both]
        ll = -np.bincount(g[both], weights=y * np.log(pcl) + (1.0 - y) * np.log1p(-pcl),
                          minlength=n_groups) / np.bincount(g[both], minlength=n_groups)
    z = z_value(alpha)
    all_mature = n_mature == n

    def interval(value, se, bounds=(-np.inf, np.inf)):
        return np.maximum(value - z * se, bounds[0]), np.minimum(value + z * se, bounds[1])

    def covered(value, lo, hi):
        inside = (value >= lo) & (value <= hi)
        known = all_mature & np.isfinite(value) & np.isfinite(lo) & np.isfinite(hi)
        return pa.array(inside, pa.bool_(), mask=~known)

    auc_lo, auc_hi = interval(est.auc, est.auc_std_error, (0.0, 1.0))
    ll_lo, ll_hi = interval(est.log_loss, est.log_loss_std_error)
    r_lo, r_hi = interval(est.positive_rate, est.positive_rate_std_error, (0.0, 1.0))
    seg_names = names.take(pa.array(groups % len(names)))
    return pa.table({
        "_md": groups // len(names),
        "_segment_type": np.full(n_groups, st_rank),
        "segment_type": pa.array([segment_type] * n_groups, pa.string()),
        "segment": seg_names.cast(pa.string()),
        "segment_offset": ab[groups // len(names), groups % len(names), 0],
        "segment_slope": ab[groups // len(names), groups % len(names), 1],
        "n": n.astype(np.int64), "n_label_mature": n_mature.astype(np.int64),
        "expected_auc": est.auc, "expected_auc_std_error": est.auc_std_error,
        "expected_auc_ci_low": auc_lo, "expected_auc_ci_high": auc_hi,
        "realised_auc": real.auc, "auc_covered": covered(real.auc, auc_lo, auc_hi),
        "expected_log_loss": est.log_loss, "expected_log_loss_ci_low": ll_lo,
        "expected_log_loss_ci_high": ll_hi, "realised_log_loss": ll,
        "log_loss_covered": covered(ll, ll_lo, ll_hi),
        "expected_click_rate": est.positive_rate, "expected_click_rate_ci_low": r_lo,
        "expected_click_rate_ci_high": r_hi, "realised_click_rate": rate,
        "click_rate_covered": covered(rate, r_lo, r_hi),
    })
