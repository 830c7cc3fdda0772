"""The delayed-feedback marts as tables: one call per mart, Arrow in, Arrow out.

Both read ``int_delayed__clicks``: one row per clicked impression with ``click_date``,
``user_id``, the segment columns (``device``, ``item_category``, ``user_tenure``),
``is_converted`` (an attributed purchase so far), ``delay_hours`` (click to that purchase;
null when none) and ``elapsed_hours`` (click to the data's end, at least the delay).

- :func:`conversion_delay_table` (``fct_conversion_delay``): per segment the delay curve of
  :class:`~receval.delayed.DelayDistribution`, fitted on every purchase seen (the estimator
  corrects for the purchases of recent clicks still to come), at each horizon and quantile.
- :func:`cvr_by_day_table` (``fct_cvr_by_day``): per click day and segment the naive
  conversion rate, the rate corrected by :class:`~receval.delayed.SurvivalReweighting`
  with the segment's own curve (the overall one where the segment's is too thin or not
  identified, said in ``reason``), and the final rate once every click's window has closed.

Without any purchase (a landing zone without conversions) nothing is estimated and both
tables are empty, with their columns: purchases are unobserved there, not zero.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from receval.delayed.reweighting import SurvivalReweighting
from receval.delayed.survival import DEFAULT_HORIZONS, DelayCurve, DelayDistribution
from receval.metrics.uncertainty import mean_with_clt

__all__ = ["SEGMENT_COLUMNS", "CONVERSION_DELAY_SCHEMA", "CVR_BY_DAY_SCHEMA",
           "conversion_delay_table", "cvr_by_day_table"]

SEGMENT_COLUMNS = ("device", "item_category", "user_tenure")

CONVERSION_DELAY_SCHEMA = pa.schema([
    ("segment_type", pa.string()), ("segment_value", pa.string()), ("statistic", pa.string()),
    ("horizon_hours", pa.float64()), ("quantile_level", pa.float64()),
    ("value", pa.float64()), ("std_error", pa.float64()), ("ci_low", pa.float64()),
    ("ci_high", pa.float64()), ("alpha", pa.float64()), ("window_hours", pa.float64()),
    ("n_purchases", pa.int64()), ("n_clicks", pa.int64()), ("reason", pa.string()),
])

CVR_BY_DAY_SCHEMA = pa.schema([
    ("click_date", pa.date32()), ("segment_type", pa.string()), ("segment_value", pa.string()),
    ("n_clicks", pa.int64()), ("n_users", pa.int64()), ("n_conversions", pa.int64()),
    ("naive_cvr", pa.float64()), ("naive_std_error", pa.float64()),
    ("naive_ci_low", pa.float64()), ("naive_ci_high", pa.float64()),
    ("corrected_cvr", pa.float64()), ("corrected_std_error", pa.float64()),
    ("corrected_ci_low", pa.float64()), ("corrected_ci_high", pa.float64()),
    ("expected_share_to_come", pa.float64()), ("expected_share_to_come_std_error", pa.float64()),
    ("label_maturity", pa.string()), ("final_cvr", pa.float64()),
    ("delay_curve", pa.string()), ("delay_curve_purchases", pa.int64()),
    ("reason", pa.string()), ("alpha", pa.float64()),
])

REASON_NO_PURCHASE = "no purchase in the segment"
REASON_NOT_IDENTIFIED = ("no purchase of a click whose attribution window has closed: the delay "
                         "curve is not identified")
REASON_NOT_ARRIVED = "every click is younger than the shortest delay: no purchase can have arrived yet"


def _f(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _clicks_frame(clicks: pa.Table) -> pd.DataFrame:
    frame = clicks.select(["click_date", "user_id", *SEGMENT_COLUMNS, "is_converted", "delay_hours",
                           "elapsed_hours"]).to_pandas()
    frame[list(SEGMENT_COLUMNS)] = frame[list(SEGMENT_COLUMNS)].fillna("unknown")
    frame["is_converted"] = frame["is_converted"].fillna(False).astype(bool)
    return frame


def _segments(frame: pd.DataFrame, columns: tuple[str, ...]) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """``('all', 'all', frame)``, then (column, value, rows) for each value of each column."""
    yield "all", "all", frame
    for column in columns:
        for value, rows in frame.groupby(column, sort=True):
            yield column, str(value), rows


def _fit_curve(rows: pd.DataFrame, estimator: DelayDistribution) -> tuple[DelayCurve | None, str | None]:
    """The delay curve of ``rows``' purchases, or None and why not."""
    bought = rows[rows["is_converted"]]
    if bought.empty:
        return None, REASON_NO_PURCHASE
    if bought["elapsed_hours"].max() < estimator.window:
        return None, REASON_NOT_IDENTIFIED
    return estimator.estimate_delay(bought["delay_hours"], bought["elapsed_hours"]), None


def conversion_delay_table(clicks: pa.Table, *, window_hours: float, horizons: Any = DEFAULT_HORIZONS,
                           quantile_levels: Any = (0.5, 0.9), alpha: float = 0.05) -> pa.Table:
    r"""The click-to-purchase delay per segment: the share of purchases within each horizon
    and the delay quantiles, with their intervals.

    Grain: segment_type x segment_value x statistic x point. Segments: ``all``,
    ``click_date`` (one cohort per click day, ``YYYY-MM-DD``) and each value of
    :data:`SEGMENT_COLUMNS`. Statistics: ``share_within`` (:math:`\hat F(h) = \hat P(D \le h
    \mid D \le W)` at ``horizon_hours`` h, Greenwood standard error and log-log interval)
    and ``quantile`` (the delay in hours at ``quantile_level`` with the Brookmeyer-Crowley
    interval; no standard error). A segment whose curve cannot be estimated (no purchase, or
    none from a click whose window has closed) gets its rows with null values and a
    ``reason``.

    Parameters
    ----------
    clicks : pyarrow.Table
        ``int_delayed__clicks`` (see the module docstring).
    window_hours : float
        Attribution window :math:`W` (hours).
    horizons, quantile_levels, alpha
        As :class:`~receval.delayed.DelayDistribution`.
    """
    estimator = DelayDistribution(window_hours, horizons=horizons, quantile_levels=quantile_levels,
                                  alpha=alpha)
    frame = _clicks_frame(clicks)
    if not frame["is_converted"].any():
        return CONVERSION_DELAY_SCHEMA.empty_table()
    out = []
    for segment_type, value, rows in _segments(frame, ("click_date", *SEGMENT_COLUMNS)):
        curve, reason = _fit_curve(rows, estimator)
        common = {"segment_type": segment_type, "segment_value": value, "alpha": alpha,
                  "window_hours": estimator.window, "n_purchases": int(rows["is_converted"].sum()),
                  "n_clicks": len(rows), "reason": reason}
        out += [{**common, **point} for point in _curve_points(curve, estimator)]
    return pa.Table.from_pylist(out, schema=CONVERSION_DELAY_SCHEMA)


def _curve_points(curve: DelayCurve | None, estimator: DelayDistribution) -> list[dict]:
    """The share_within and quantile rows of one curve (values null without a curve)."""
    rows = []
    for i, horizon in enumerate(estimator.horizons):
        row = {"statistic": "share_within", "horizon_hours": float(horizon)}
        if curve is not None:
            h = curve.horizons
            row.update(value=_f(h.cdf[i]), std_error=_f(h.std_error[i]), ci_low=_f(h.ci_low[i]),
                       ci_high=_f(h.ci_high[i]))
        rows.append(row)
    for i, level in enumerate(estimator.quantile_levels):
        row = {"statistic": "quantile", "quantile_level": float(level)}
        if curve is not None:
            q = curve.quantiles
            row.update(value=_f(q.delay[i]), ci_low=_f(q.ci_low[i]), ci_high=_f(q.ci_high[i]))
        rows.append(row)
    return rows


def cvr_by_day_table(clicks: pa.Table, *, window_hours: float, alpha: float = 0.05,
                     min_purchases: int = 50) -> pa.Table:
    r"""Per click day and segment: the naive, the corrected and, once mature, the final
    conversion rate of the day's clicks.

    Grain: click_date x segment_type x segment_value (``all``, and each value of
    :data:`SEGMENT_COLUMNS`). ``naive_cvr`` is the share of the day's clicks converted so
    far (CLT interval clustered on users); ``corrected_cvr`` the eventual rate
    :math:`\hat\pi = \bar y / \bar F` of :class:`~receval.delayed.SurvivalReweighting`
    with its delta-method interval, and ``expected_share_to_come`` :math:`1 - \bar F`, the
    share of the day's eventual purchases not arrived yet. The curve :math:`\hat F` is the
    segment's own (every click day's purchases of the segment), or the overall one where
    the segment has fewer than ``min_purchases`` purchases or its curve is not identified
    (``delay_curve`` is ``own`` or ``all``, ``reason`` says why). ``label_maturity`` is ``mature`` when
    every click of the day is at least the window old (then corrected = naive exactly,
    and ``final_cvr`` = naive), ``immature`` when none is, else ``partial``.

    Parameters
    ----------
    clicks : pyarrow.Table
        ``int_delayed__clicks`` (see the module docstring).
    window_hours : float
        Attribution window :math:`W` (hours).
    alpha : float, default 0.05
        Intervals have coverage ``1 - alpha``.
    min_purchases : int, default 50
        Fewest purchases for a segment's own delay curve.
    """
    estimator = DelayDistribution(window_hours, horizons=(), quantile_levels=(), alpha=alpha)
    reweighting = SurvivalReweighting(alpha=alpha)
    frame = _clicks_frame(clicks)
    if not frame["is_converted"].any():
        return CVR_BY_DAY_SCHEMA.empty_table()
    overall, overall_reason = _fit_curve(frame, estimator)
    out = []
    for segment_type, value, rows in _segments(frame, SEGMENT_COLUMNS):
        curve, which, reason = _segment_curve(segment_type, rows, estimator, min_purchases, overall,
                                              overall_reason)
        for day, cohort in rows.groupby("click_date", sort=True):
            out.append({"click_date": day, "segment_type": segment_type, "segment_value": value,
                        "delay_curve": which, "reason": reason, "alpha": alpha,
                        **_cohort_rates(cohort, curve, estimator.window, reweighting)})
    return pa.Table.from_pylist(out, schema=CVR_BY_DAY_SCHEMA)


def _cohort_rates(cohort: pd.DataFrame, curve: DelayCurve | None, window: float,
                  reweighting: SurvivalReweighting) -> dict[str, Any]:
    """The naive, corrected and final rates of one day's clicks of a segment."""
    y = cohort["is_converted"].to_numpy(np.float64)
    elapsed = cohort["elapsed_hours"].to_numpy(np.float64)
    users = cohort["user_id"].to_numpy()
    naive = mean_with_clt(y, group_ids=users, alpha=reweighting.alpha, bounds=(0.0, 1.0))
    maturity = ("mature" if elapsed.min() >= window else "immature" if elapsed.max() < window
                else "partial")
    row = {"n_clicks": y.size, "n_users": naive.n_groups, "n_conversions": int(y.sum()),
           "naive_cvr": naive.value, "naive_std_error": _f(naive.std_error),
           "naive_ci_low": _f(naive.ci_low), "naive_ci_high": _f(naive.ci_high),
           "label_maturity": maturity, "final_cvr": naive.value if maturity == "mature" else None,
           "delay_curve_purchases": None if curve is None else curve.n}
    if curve is None:
        return row
    if curve.cdf_at(elapsed).cdf.mean() == 0.0:
        return {**row, "reason": REASON_NOT_ARRIVED}
    rate = reweighting.estimate_eventual_rate(y, elapsed, curve, group_ids=users)
    return {**row, "corrected_cvr": rate.estimate, "corrected_std_error": _f(rate.std_error),
            "corrected_ci_low": _f(rate.ci_low), "corrected_ci_high": _f(rate.ci_high),
            "expected_share_to_come": 1.0 - rate.arrival_probability,
            "expected_share_to_come_std_error": rate.arrival_probability_std_error}


def _segment_curve(segment_type: str, rows: pd.DataFrame, estimator: DelayDistribution,
                   min_purchases: int, overall: DelayCurve | None, overall_reason: str | None,
                   ) -> tuple[DelayCurve | None, str | None, str | None]:
    """(curve, which: 'own' / 'all' / None, reason): the segment's own curve, else the overall one."""
    n_purchases = int(rows["is_converted"].sum())
    if segment_type == "all":
        own, reason = overall, overall_reason
    elif 0 < n_purchases < min_purchases:
        own, reason = None, f"{n_purchases} purchase(s) in the segment, fewer than {min_purchases}"
    else:
        own, reason = _fit_curve(rows, estimator)
    if own is not None:
        return own, "own", None
    if overall is None:
        return None, None, f"no delay curve: {overall_reason}"
    return overall, "all", f"delay curve of segment all: {reason}"
