r"""The delay correction where the other families report conversions.

The offline metrics and the experiment results correct their conversion figures with the
same curve as ``fct_cvr_by_day``'s segment ``all``: the delay distribution of every
purchase seen in ``int_delayed__clicks``.

- :func:`fit_overall_curve`: that curve (or why it is not identified).
- :func:`corrected_conversion_metrics`: the conversion rate and calibration-in-the-large of
  one ``fct_offline_metrics`` cell, naive and corrected by survival re-weighting (the
  estimator of ``fct_cvr_by_day``, on impressions: a row's elapsed time runs from its
  impression, its click follows within minutes).
- :func:`click_arrival_table` (``int_delayed__click_arrival``): per clicked impression, the
  probability :math:`\hat F(e_i)` that its purchase, if it comes, has arrived by the data's
  end. A purchase seen at such a click stands for :math:`1 / \hat F(e_i)` eventual ones
  (the inverse-arrival, Horvitz-Thompson, weight): summed per user it gives an unbiased
  per-user count of eventual purchases (and revenue) whatever the users' exposure times,
  which the experiment analysis (Welch, CUPED, mSPRT) then treats as any per-user metric.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from receval.delayed.marts import REASON_NOT_ARRIVED, _clicks_frame, _fit_curve, label_maturity
from receval.delayed.reweighting import EventualRate, SurvivalReweighting
from receval.delayed.survival import DelayCurve, DelayDistribution
from receval.metrics.results import MetricResult, undefined
from receval.metrics.uncertainty import mean_with_clt, normal_interval

__all__ = ["CLICK_ARRIVAL_SCHEMA", "CORRECTED_CONVERSION_METRICS", "CorrectedConversion",
           "click_arrival_table", "corrected_conversion_metrics", "eventual_rate", "fit_overall_curve",
           "label_maturity"]

CORRECTED_CONVERSION_METRICS = ("conversion_rate_naive", "conversion_rate_corrected",
                                "calibration_in_the_large_naive", "calibration_in_the_large_corrected")

CLICK_ARRIVAL_SCHEMA = pa.schema([
    ("event_id", pa.int64()), ("elapsed_hours", pa.float64()),
    ("arrival_probability", pa.float64()), ("arrival_probability_std_error", pa.float64()),
    ("reason", pa.string()),
])


def fit_overall_curve(clicks: pa.Table, *, window_hours: float,
                      alpha: float = 0.05) -> tuple[DelayCurve | None, str | None]:
    """The delay curve of every purchase in ``clicks`` (``int_delayed__clicks``), or
    ``(None, reason)`` where there is no purchase or the curve is not identified (no
    purchase of a click whose attribution window has closed)."""
    estimator = DelayDistribution(window_hours, horizons=(), quantile_levels=(), alpha=alpha)
    return _fit_curve(_clicks_frame(clicks), estimator)


def click_arrival_table(clicks: pa.Table, *, window_hours: float, alpha: float = 0.05) -> pa.Table:
    r"""``int_delayed__click_arrival``: one row per clicked impression of ``clicks`` with
    ``arrival_probability`` :math:`\hat F(e_i)` of the overall curve at its elapsed hours
    (1 once the attribution window has closed; 0 for a click younger than the shortest
    delay seen) and its standard error from the curve (Greenwood, delta method on the log;
    0 once the window has closed). Null with a ``reason`` for every click where the curve
    is not identified: a correction is then unknown, not 1.
    """
    curve, reason = fit_overall_curve(clicks, window_hours=window_hours, alpha=alpha)
    elapsed = clicks["elapsed_hours"].to_numpy(zero_copy_only=False).astype(np.float64)
    if curve is None:
        arrival = arrival_se = pa.nulls(len(elapsed), pa.float64())
        reasons = pa.array([reason] * len(elapsed), pa.string())
    else:
        at = curve.cdf_at(elapsed)
        arrival, arrival_se = pa.array(at.cdf, pa.float64()), pa.array(at.std_error, pa.float64())
        reasons = pa.nulls(len(elapsed), pa.string())
    return pa.table([clicks["event_id"].cast(pa.int64()), pa.array(elapsed, pa.float64()), arrival, arrival_se,
                     reasons], schema=CLICK_ARRIVAL_SCHEMA)


@dataclass(frozen=True)
class CorrectedConversion:
    """The :data:`CORRECTED_CONVERSION_METRICS` of one cell and the expected share of its
    eventual purchases still to come, :math:`1 - \bar F` (None without a curve)."""

    results: dict[str, MetricResult]
    expected_share_to_come: float | None


def eventual_rate(converted: np.ndarray, elapsed: np.ndarray, delay_curve: DelayCurve | None, *,
                  curve_reason: str | None = None, group_ids: np.ndarray | None = None,
                  alpha: float = 0.05) -> EventualRate | str:
    """One cell's survival re-weighted rate (:class:`~receval.delayed.SurvivalReweighting`),
    or why there is none: ``curve_reason`` without a curve, or every row younger than the
    shortest delay. It depends on the cell's impressions only, not on a model's scores."""
    if delay_curve is None:
        return curve_reason
    if delay_curve.cdf_at(elapsed).cdf.mean() == 0.0:
        return REASON_NOT_ARRIVED
    return SurvivalReweighting(alpha=alpha).estimate_eventual_rate(converted, elapsed, delay_curve,
                                                                   group_ids=group_ids)


def corrected_conversion_metrics(converted: np.ndarray, score: np.ndarray, rate: EventualRate | str, *,
                                 group_ids: np.ndarray | None = None, alpha: float = 0.05,
                                 score_reason: str | None = None) -> CorrectedConversion:
    r"""Naive and corrected conversion rate and calibration-in-the-large of one cell.

    ``conversion_rate_naive`` :math:`\bar y` (the share converted so far, cluster CLT) and
    ``conversion_rate_corrected`` :math:`\hat\pi = \bar y / \bar F`, the cell's
    :func:`eventual_rate` with its delta-method interval;
    ``calibration_in_the_large_naive`` :math:`\bar p - \bar y` and ``_corrected``
    :math:`\bar p - \hat\pi`, whose standard error adds the curve's term
    :math:`\bar y^2 \operatorname{Var}(\bar F) / \bar F^4` to the cluster CLT of
    :math:`p_i - y_i / \bar F` (as the rate's does). ``score_reason`` (the score is not a
    probability) leaves both calibration rows undefined; a ``rate`` that is a reason leaves
    the corrected rows undefined with it.
    """
    y = np.asarray(converted, np.float64)
    n = int(y.size)
    naive = mean_with_clt(y, name="conversion_rate_naive", group_ids=group_ids, alpha=alpha, bounds=(0.0, 1.0))
    res = {"conversion_rate_naive": naive}
    if score_reason is None:
        cal = mean_with_clt(np.asarray(score, np.float64) - y, name="calibration_in_the_large_naive",
                            group_ids=group_ids, alpha=alpha)
    else:
        cal = undefined("calibration_in_the_large_naive", score_reason, n=n, alpha=alpha)
    res["calibration_in_the_large_naive"] = cal
    if isinstance(rate, str):
        res["conversion_rate_corrected"] = undefined("conversion_rate_corrected", rate, n=n, alpha=alpha)
        res["calibration_in_the_large_corrected"] = undefined(
            "calibration_in_the_large_corrected", score_reason or rate, n=n, alpha=alpha)
        return CorrectedConversion(res, None)
    res["conversion_rate_corrected"] = MetricResult(
        name="conversion_rate_corrected", value=rate.estimate, std_error=rate.std_error,
        ci_low=rate.ci_low, ci_high=rate.ci_high, n=n, n_groups=rate.n_groups,
        method="delta_survival_reweighting", alpha=alpha)
    if score_reason is None:
        f_bar = rate.arrival_probability
        lin = mean_with_clt(np.asarray(score, np.float64) - y / f_bar, group_ids=group_ids, alpha=alpha)
        se = math.sqrt(lin.std_error ** 2 + (rate.naive * rate.arrival_probability_std_error / f_bar ** 2) ** 2)
        lo, hi = normal_interval(lin.value, se, alpha)
        res["calibration_in_the_large_corrected"] = MetricResult(
            name="calibration_in_the_large_corrected", value=lin.value, std_error=se, ci_low=lo,
            ci_high=hi, n=n, n_groups=lin.n_groups, method="delta_survival_reweighting", alpha=alpha)
    else:
        res["calibration_in_the_large_corrected"] = undefined(
            "calibration_in_the_large_corrected", score_reason, n=n, alpha=alpha)
    return CorrectedConversion(res, 1.0 - rate.arrival_probability)
