"""Drift of one feature between a reference sample and current data
(:func:`feature_drift`, :class:`FeatureDrift`): PSI and the Jensen-Shannon distance over
the feature's bins (:mod:`receval.monitoring.binning`), a KS (numeric) or chi-square
(categorical) test (:mod:`receval.monitoring.two_sample`), and a status from PSI's
thresholds. Also the checks and the status rule that :func:`drift_table`
(:mod:`receval.monitoring.marts`) shares.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from receval import _validation as v
from receval.monitoring.binning import _counts_sorted, _edges_from_finite, categorical_counts
from receval.monitoring.two_sample import _check_epsilon, _chi2_rows, _js_rows, _ks, _psi_rows

__all__ = ["KINDS", "STATUSES", "FeatureDrift", "feature_drift"]

KINDS = ("numeric", "categorical")
#: ``no_data``: nothing to compare (empty current group, or no reference rows for it)
STATUSES = ("ok", "warn", "alert", "no_data")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature between a reference sample and current data.

    Attributes
    ----------
    kind : str
        ``"numeric"`` or ``"categorical"``.
    psi : float
        Population Stability Index over the bins (see :func:`psi`); ``nan`` when
        ``status`` is ``"no_data"``.
    js_distance : float
        Jensen-Shannon distance (base 2, in [0, 1]) over the same bins, unsmoothed.
    test : str
        ``"ks"`` for numeric, ``"chi2"`` for categorical features.
    statistic, p_value : float
        The test's statistic and p-value (``nan`` when undefined).
    n_reference, n_current : int
        Rows of each sample, missing values included.
    n_missing_reference, n_missing_current : int
        Missing (NaN / null) values of each sample.
    n_bins : int
        Bins (categories) compared, the missing-value bin included, bins empty in both
        samples excluded.
    status : str
        ``"alert"`` if ``psi >= alert``, else ``"warn"`` if ``psi >= warn``, else
        ``"ok"``; ``"no_data"`` when either sample is empty.
    epsilon, warn, alert : float
        The PSI floor and thresholds used.
    reason : str or None
        Why the numbers are ``nan`` (``None`` otherwise).
    """

    kind: str
    psi: float
    js_distance: float
    test: str
    statistic: float
    p_value: float
    n_reference: int
    n_current: int
    n_missing_reference: int
    n_missing_current: int
    n_bins: int
    status: str
    epsilon: float
    warn: float
    alert: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------ checks
def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}, got {kind!r}")
    return kind


def _check_thresholds(warn: Any, alert: Any) -> tuple[float, float]:
    w = v.check_positive(warn, "warn")
    a = v.check_positive(alert, "alert")
    if a < w:
        raise ValueError(f"`alert` ({a}) must be >= `warn` ({w})")
    return w, a


def _status(psi_value: float, warn: float, alert: float) -> str:
    if not math.isfinite(psi_value):
        return "no_data"
    return "alert" if psi_value >= alert else "warn" if psi_value >= warn else "ok"


# ------------------------------------------------------------------------ one feature
def feature_drift(reference: Any, current: Any, kind: str = "numeric", *, n_bins: int = 10,
                  epsilon: float = 1e-4, warn: float = 0.1, alert: float = 0.25) -> FeatureDrift:
    """Drift of one feature: PSI, Jensen-Shannon distance and a two-sample test.

    Numeric features: bins from the reference's quantiles (:func:`reference_bins`,
    missing values as their own bin), the KS test on the non-missing raw values.
    Categorical features: the categories as bins (:func:`categorical_counts`), the
    chi-square test on the category counts (missing values a category). PSI with the
    epsilon rule of :func:`psi`; the status from PSI's thresholds.

    Parameters
    ----------
    reference, current : array-like
        The two samples (numeric: numbers, NaN / null missing; categorical: any
        hashable values, None / NaN / null missing).
    kind : {"numeric", "categorical"}
    n_bins : int
        Quantile bins (numeric features).
    epsilon : float
        PSI's floor of a bin share.
    warn, alert : float
        PSI thresholds of the status (``warn <= alert``).

    Returns
    -------
    FeatureDrift
        ``status == "no_data"`` and ``nan`` numbers when ``current`` is empty.

    Raises
    ------
    ValueError
        On an empty ``reference`` or a bad parameter, naming it.
    """
    kind = _check_kind(kind)
    n_bins = v.check_int(n_bins, "n_bins", minimum=1)
    eps = _check_epsilon(epsilon)
    warn, alert = _check_thresholds(warn, alert)
    if kind == "numeric":
        r = v.to_float_array(reference, "reference")
        c = v.to_float_array(current, "current")
        if r.size == 0:
            raise ValueError("`reference` is empty: drift needs a reference sample")
        rs, cs = np.sort(r), np.sort(c)
        rm = int(np.searchsorted(rs, np.nan, side="left"))
        cm = int(np.searchsorted(cs, np.nan, side="left"))
        rs, cs = rs[:rm], cs[:cm]
        edges = _edges_from_finite(rs[np.isfinite(rs)], n_bins)
        rc = _counts_sorted(rs, edges, r.size - rm)
        cc = _counts_sorted(cs, edges, c.size - cm)
        d, p, _ = _ks(rs, cs, "auto")
        test = "ks"
        miss_r, miss_c = r.size - rm, c.size - cm
    else:
        _, rc, cc = categorical_counts(reference, current)
        if rc.sum() == 0:
            raise ValueError("`reference` is empty: drift needs a reference sample")
        stat, pv, _ = _chi2_rows(rc, cc[None, :])
        d, p, test = float(stat[0]), float(pv[0]), "chi2"
        miss_r, miss_c = int(rc[-1]), int(cc[-1])
    psi_value = float(_psi_rows(rc, cc[None, :], eps)[0])
    js = float(_js_rows(rc, cc[None, :])[0])
    n_cur = int(cc.sum())
    return FeatureDrift(
        kind=kind, psi=psi_value, js_distance=js, test=test, statistic=d, p_value=p,
        n_reference=int(rc.sum()), n_current=n_cur, n_missing_reference=int(miss_r),
        n_missing_current=int(miss_c), n_bins=int(((rc > 0) | (cc > 0)).sum()),
        status=_status(psi_value, warn, alert), epsilon=eps, warn=warn, alert=alert,
        reason=None if n_cur else "current sample is empty",
    )
