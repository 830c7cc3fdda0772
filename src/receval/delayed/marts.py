"""The delayed-feedback marts as tables: one call per mart, Arrow in, Arrow out.

They read ``int_delayed__clicks``: one row per clicked impression with ``click_date``,
``user_id``, the segment columns (``device``, ``item_category``, ``user_tenure``),
``is_converted`` (an attributed purchase so far), ``delay_hours`` (click to that purchase;
null when none) and ``elapsed_hours`` (click to the data's end, at least the delay).

- :func:`conversion_delay_table` (``fct_conversion_delay``): per segment the delay curve of
  :class:`~receval.delayed.DelayDistribution`, fitted on every purchase seen (the estimator
  corrects for the purchases of recent clicks still to come), at each horizon and quantile.
- :func:`cvr_by_day_table` (``fct_cvr_by_day``): per click day and segment the naive
  conversion rate, the rate corrected by :class:`~receval.delayed.SurvivalReweighting`
  with the segment's own curve (the overall one where the segment's is too thin or not
  identified, said in ``reason``), the eventual rate by Chapelle's delayed feedback model
  (:class:`~receval.delayed.DelayedFeedbackModel`, one fit per segment with one intercept
  per click day), and the final rate once every click's window has closed.
- :func:`delayed_feedback_backtest_table` (``fct_delayed_feedback_backtest``): the same
  rates for the clicks before a cut, as they stood at the cut (``int_delayed__clicks_at_cut``),
  against their labels now.

Without any purchase (a landing zone without conversions) nothing is estimated and the
tables are empty, with their columns: purchases are unobserved there, not zero.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from receval.delayed.dfm import DELAY_DISTRIBUTIONS, DelayedFeedbackModel
from receval.delayed.reweighting import SurvivalReweighting
from receval.delayed.survival import DEFAULT_HORIZONS, DelayCurve, DelayDistribution
from receval.metrics.results import MetricResult
from receval.metrics.uncertainty import mean_with_clt

__all__ = ["SEGMENT_COLUMNS", "CONVERSION_DELAY_SCHEMA", "CVR_BY_DAY_SCHEMA", "BACKTEST_SCHEMA",
           "conversion_delay_table", "cvr_by_day_table", "delayed_feedback_backtest_table"]

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
    ("final_cvr_prediction_std_error", pa.float64()), ("final_cvr_prediction_low", pa.float64()),
    ("final_cvr_prediction_high", pa.float64()),
    ("dfm_cvr", pa.float64()), ("dfm_std_error", pa.float64()), ("dfm_ci_low", pa.float64()),
    ("dfm_ci_high", pa.float64()),
    ("label_maturity", pa.string()), ("final_cvr", pa.float64()),
    ("delay_curve", pa.string()), ("delay_curve_purchases", pa.int64()),
    ("reason", pa.string()), ("alpha", pa.float64()),
])

BACKTEST_SCHEMA = pa.schema([
    ("cut_at", pa.timestamp("us")), ("click_date", pa.date32()), ("segment_type", pa.string()),
    ("segment_value", pa.string()), ("method", pa.string()), ("n_days", pa.int64()),
    ("n_clicks", pa.int64()), ("estimate", pa.float64()), ("std_error", pa.float64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("final_cvr", pa.float64()),
    ("final_std_error", pa.float64()), ("error", pa.float64()), ("relative_error", pa.float64()),
    ("is_covered", pa.bool_()), ("mean_abs_relative_error", pa.float64()),
    ("share_covered", pa.float64()), ("reason", pa.string()), ("alpha", pa.float64()),
])
# method -> the column prefix of its rate in cvr_by_day_table
BACKTEST_METHODS = {"naive": "naive", "survival_reweighting": "corrected", "dfm": "dfm"}

REASON_NO_PURCHASE = "no purchase in the segment"
REASON_NOT_IDENTIFIED = ("no purchase of a click whose attribution window has closed: the delay "
                         "curve is not identified")
REASON_NOT_ARRIVED = "every click is younger than the shortest delay: no purchase can have arrived yet"
DFM_REASON_PREFIX = "no dfm rate"
REASON_NOT_FINAL = "some click's attribution window is still open at the data's end: no final rate yet"


def _f(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _clicks_frame(clicks: pa.Table, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = clicks.select(["click_date", "user_id", *SEGMENT_COLUMNS, "is_converted", "delay_hours",
                           "elapsed_hours", *extra]).to_pandas()
    frame[list(SEGMENT_COLUMNS)] = frame[list(SEGMENT_COLUMNS)].fillna("unknown")
    frame["is_converted"] = frame["is_converted"].fillna(False).astype(bool)
    return frame


def label_maturity(is_mature: np.ndarray) -> str | None:
    """``mature`` when every row's attribution window has closed, ``immature`` when none
    has, else ``partial``; None without rows."""
    if is_mature.size == 0:
        return None
    return maturity_of_counts(float(is_mature.size - np.count_nonzero(is_mature)), float(is_mature.size))


def maturity_of_counts(n_immature: float, n: float) -> str:
    """:func:`label_maturity` from counts: ``n_immature`` of ``n`` rows with an open window."""
    return "mature" if n_immature == 0 else "immature" if n_immature == n else "partial"


def share_to_come(seen: float, eventual: float) -> float | None:
    """``expected_share_to_come``: 1 - seen / eventual (the inverse-arrival weighted total);
    None when the eventual total is 0. Clipped at 0: the two sums add in other orders, so a
    mature total's 1 - 1 can round below it."""
    return max(0.0, 1.0 - float(seen) / float(eventual)) if eventual > 0 else None


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
                     min_purchases: int = 50, dfm_distribution: str | None = "weibull") -> pa.Table:
    r"""Per click day and segment: the naive, the corrected, the DFM and, once mature, the
    final conversion rate of the day's clicks.

    Grain: click_date x segment_type x segment_value (``all``, and each value of
    :data:`SEGMENT_COLUMNS`). ``naive_cvr`` is the share of the day's clicks converted so
    far (CLT interval clustered on users); ``corrected_cvr`` the eventual rate
    :math:`\hat\pi = \bar y / \bar F` of :class:`~receval.delayed.SurvivalReweighting`
    with its delta-method interval, and ``expected_share_to_come`` :math:`1 - \bar F`, the
    share of the day's eventual purchases not arrived yet. ``final_cvr_prediction_*``: the
    prediction interval of the rate the day's clicks will show once final (narrower: the
    final rate shares the noise of the purchases already seen; see
    :class:`~receval.delayed.EventualRate`). The curve :math:`\hat F` is the
    segment's own (every click day's purchases of the segment), or the overall one where
    the segment has fewer than ``min_purchases`` purchases or its curve is not identified
    (``delay_curve`` is ``own`` or ``all``, ``reason`` says why). ``label_maturity`` is ``mature`` when
    every click of the day is at least the window old (then corrected = naive exactly,
    and ``final_cvr`` = naive), ``immature`` when none is, else ``partial``.

    ``dfm_cvr`` is the day's eventual rate by Chapelle's delayed feedback model
    (:meth:`~receval.delayed.DelayedFeedbackModel.cohort_rates`), fitted once per segment
    over all its click days: one intercept per day, one ``dfm_distribution`` delay law for
    the segment, standard error from the inverse observed information clustered on users
    (delta method), Wald interval clipped to [0, 1]. A mature day's ``dfm_cvr`` is its
    naive rate (to the optimiser's precision); a segment without purchase gets 0, as its
    naive rate; where the fit fails the columns are null and ``reason`` says why.

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
    dfm_distribution : {"weibull", "exponential"} or None, default "weibull"
        The delay law of the DFM (Weibull: it fits the simulator's delay mixture much better
        than the exponential, see docs/delayed_feedback.md); None leaves the dfm columns null.
    """
    if dfm_distribution is not None and dfm_distribution not in DELAY_DISTRIBUTIONS:
        raise ValueError(f"`dfm_distribution` must be one of {list(DELAY_DISTRIBUTIONS)} or None, "
                         f"got {dfm_distribution!r}")
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
        dfm, dfm_reason = _dfm_rates(rows, dfm_distribution, estimator.window, alpha)
        for day, cohort in rows.groupby("click_date", sort=True):
            row = {"click_date": day, "segment_type": segment_type, "segment_value": value,
                   "delay_curve": which, "reason": reason, "alpha": alpha,
                   **_cohort_rates(cohort, curve, estimator.window, reweighting), **dfm.get(day, {})}
            if dfm_reason:
                row["reason"] = "; ".join(r for r in (row["reason"], dfm_reason) if r)
            out.append(row)
    return pa.Table.from_pylist(out, schema=CVR_BY_DAY_SCHEMA)


def _dfm_rates(rows: pd.DataFrame, distribution: str | None, window: float, alpha: float,
               ) -> tuple[dict[Any, dict[str, float]], str | None]:
    """{click_date: the dfm_* columns} of one segment's DFM fit (one intercept per day, one
    delay law), clustered on users; and why they are null, if they are."""
    if distribution is None:
        return {}, None
    day_codes, days = pd.factorize(rows["click_date"], sort=True)
    converted = rows["is_converted"].to_numpy(bool)
    if not converted.any():  # no purchase: the MLE of every day's rate is 0, as the naive rate
        zero = {"dfm_cvr": 0.0, "dfm_std_error": 0.0, "dfm_ci_low": 0.0, "dfm_ci_high": 0.0}
        return {day: zero for day in days}, None
    try:
        rates = DelayedFeedbackModel(distribution, window=window, alpha=alpha).cohort_rates(
            day_codes, converted, rows["delay_hours"].to_numpy(np.float64, na_value=np.nan),
            rows["elapsed_hours"].to_numpy(np.float64), group_ids=rows["user_id"].to_numpy())
    except ValueError as exc:
        return {}, f"{DFM_REASON_PREFIX}: {exc}"
    if not rates.fit.converged:
        return {}, f"{DFM_REASON_PREFIX}: the {distribution} delayed feedback model did not converge"
    return {days[code]: {"dfm_cvr": float(rates.estimate[i]), "dfm_std_error": _f(rates.std_error[i]),
                         "dfm_ci_low": _f(rates.ci_low[i]), "dfm_ci_high": _f(rates.ci_high[i])}
            for i, code in enumerate(rates.cohorts)}, None


def _cohort_rates(cohort: pd.DataFrame, curve: DelayCurve | None, window: float,
                  reweighting: SurvivalReweighting) -> dict[str, Any]:
    """The naive, corrected and final rates of one day's clicks of a segment."""
    y = cohort["is_converted"].to_numpy(np.float64)
    elapsed = cohort["elapsed_hours"].to_numpy(np.float64)
    users = cohort["user_id"].to_numpy()
    naive = mean_with_clt(y, group_ids=users, alpha=reweighting.alpha, bounds=(0.0, 1.0))
    maturity = label_maturity(elapsed >= window)
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
            "expected_share_to_come_std_error": rate.arrival_probability_std_error,
            "final_cvr_prediction_std_error": _f(rate.prediction_std_error),
            "final_cvr_prediction_low": _f(rate.prediction_low), "final_cvr_prediction_high": _f(rate.prediction_high)}


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


def delayed_feedback_backtest_table(clicks_at_cut: pa.Table, *, window_hours: float, alpha: float = 0.05,
                                    min_purchases: int = 50, dfm_distribution: str | None = "weibull",
                                    ) -> pa.Table:
    r"""A backtest without a simulator: the rates of the clicks before a cut :math:`D`, as
    they stood at :math:`D`, against the final rates their labels give now.

    The clicks as they stood at the cut go through :func:`cvr_by_day_table` (the delay
    curve fitted only on the purchases seen by :math:`D`). Kept are the click days whose
    window was still open at the cut (``label_maturity`` immature or partial there: the
    last :math:`W` of days before :math:`D`), per segment (``all`` and each value of
    :data:`SEGMENT_COLUMNS`) and per method: ``naive`` (the rate seen at :math:`D`),
    ``survival_reweighting`` (the corrected rate) and ``dfm`` (the delayed feedback model's
    rate, fitted on what was seen by :math:`D`; left out when ``dfm_distribution`` is None),
    each with its standard error and interval. ``final_cvr`` is the day's rate now, with its CLT standard error clustered on
    users, once every click's label is final (else null, with the reason); ``error`` =
    estimate - final, ``relative_error`` = error / final, ``is_covered``: the interval
    holds the final rate. One summary row per segment and method (``click_date`` null)
    gives, over the days with a final rate, ``n_days``, ``n_clicks``, the mean absolute
    relative error and the share of days covered.

    Grain: click_date x segment_type x segment_value x method. Empty, with its columns,
    when no purchase was seen by the cut.

    Parameters
    ----------
    clicks_at_cut : pyarrow.Table
        ``int_delayed__clicks_at_cut``: the columns of ``int_delayed__clicks`` as at the cut
        (see the module docstring), plus ``cut_at``, ``is_converted_now`` (the label now)
        and ``is_label_final`` (that label is final).
    window_hours, alpha, min_purchases, dfm_distribution
        As :func:`cvr_by_day_table`.
    """
    at_cut = cvr_by_day_table(clicks_at_cut, window_hours=window_hours, alpha=alpha,
                              min_purchases=min_purchases, dfm_distribution=dfm_distribution)
    methods = {m: prefix for m, prefix in BACKTEST_METHODS.items() if m != "dfm" or dfm_distribution is not None}
    if at_cut.num_rows == 0:
        return BACKTEST_SCHEMA.empty_table()
    frame = _clicks_frame(clicks_at_cut, extra=("cut_at", "is_converted_now", "is_label_final"))
    final = {(day, segment_type, value): _final_rate(cohort, alpha)
             for segment_type, value, rows in _segments(frame, SEGMENT_COLUMNS)
             for day, cohort in rows.groupby("click_date", sort=True)}
    common = {"cut_at": frame["cut_at"].iloc[0], "alpha": alpha}
    days = []
    for row in at_cut.to_pylist():
        if row["label_maturity"] == "mature":  # closed at the cut: corrected = naive = final
            continue
        cohort = {column: row[column] for column in ("click_date", "segment_type", "segment_value", "n_clicks")}
        day_final = final[row["click_date"], row["segment_type"], row["segment_value"]]
        for method, prefix in methods.items():
            rate = {"estimate": row[f"{prefix}_cvr"],
                    **{column: row[f"{prefix}_{column}"] for column in ("std_error", "ci_low", "ci_high")}}
            reason = _method_reason(row["reason"], method)
            days.append({**common, **cohort, "method": method, **rate, **_versus_final(rate, day_final, reason)})
    return pa.Table.from_pylist(days + _backtest_summaries(days, common), schema=BACKTEST_SCHEMA)


def _method_reason(reason: str | None, method: str) -> str | None:
    """The parts of a cvr_by_day row's reason that concern ``method`` (the DFM's start with
    'no dfm rate'; the naive rate needs none)."""
    if reason is None or method == "naive":
        return None
    parts = [r for r in reason.split("; ") if r.startswith(DFM_REASON_PREFIX) == (method == "dfm")]
    return "; ".join(parts) or None


def _final_rate(cohort: pd.DataFrame, alpha: float) -> MetricResult | None:
    """The day's rate now with its clustered CLT standard error; None while a label can change."""
    if not cohort["is_label_final"].all():
        return None
    return mean_with_clt(cohort["is_converted_now"].to_numpy(np.float64),
                         group_ids=cohort["user_id"].to_numpy(), alpha=alpha, bounds=(0.0, 1.0))


def _versus_final(rate: dict[str, Any], final: MetricResult | None, reason: str | None) -> dict[str, Any]:
    """final_cvr, its standard error, and the rate's error against it (nulls without either)."""
    if final is None:
        return {"reason": "; ".join(r for r in (reason, REASON_NOT_FINAL) if r)}
    row = {"final_cvr": final.value, "final_std_error": _f(final.std_error), "reason": reason}
    if rate["estimate"] is None:
        return row
    error = rate["estimate"] - final.value
    covered = None if rate["ci_low"] is None else rate["ci_low"] <= final.value <= rate["ci_high"]
    return {**row, "error": error, "relative_error": error / final.value if final.value > 0 else None,
            "is_covered": covered}


def _backtest_summaries(days: list[dict], common: dict[str, Any]) -> list[dict]:
    """One row per segment and method over its days with an error: mean |relative error|, share covered."""
    frame = pd.DataFrame(days, columns=["segment_type", "segment_value", "method", "n_clicks", "error",
                                        "relative_error", "is_covered"]).astype({"relative_error": float})
    out = []
    for (segment_type, value, method), rows in frame.groupby(["segment_type", "segment_value", "method"],
                                                             sort=True):
        compared = rows[rows["error"].notna()]
        out.append({**common, "segment_type": segment_type, "segment_value": value, "method": method,
                    "n_days": len(compared), "n_clicks": int(compared["n_clicks"].sum()),
                    "mean_abs_relative_error": _f(compared["relative_error"].abs().mean()),
                    "share_covered": _f(compared["is_covered"].dropna().astype(float).mean())})
    return out
