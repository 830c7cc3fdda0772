r"""Shadow comparison: a challenger model scored on production's traffic, compared with
production on the same requests and items.

The challenger never serves, so there is no outcome of its own to compare: the statistics
describe how differently the two models rank and predict on identical inputs, and what
the challenger's serving latency would be. Rows are (request, item) pairs both models
scored; requests are the independent units.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from receval import _validation as v
from receval.experiments._common import order_statistic_interval, z_critical
from receval.experiments.results import ShadowStatistic

__all__ = ["ShadowComparison", "fisher_z_interval"]


def fisher_z_interval(r: float, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    r"""Standard error and two-sided ``1 - alpha`` interval of a Pearson correlation.

    .. math::

        \widehat{SE}(r) = \frac{1 - r^2}{\sqrt{n - 3}}, \qquad
        \tanh\!\Big(\operatorname{artanh} r \mp \frac{z_{1-\alpha/2}}{\sqrt{n - 3}}\Big)

    (:math:`n - 3` floored at 1). A correlation of exactly :math:`\pm 1` has a degenerate
    interval at itself; an undefined one (``nan``) gives ``nan`` throughout.

    Returns
    -------
    (std_error, ci_low, ci_high)

    References
    ----------
    Fisher, R. A. (1921). On the "probable error" of a coefficient of correlation deduced
    from a small sample. Metron 1, 3-32.
    """
    alpha = v.check_alpha(alpha)
    root = math.sqrt(max(n - 3, 1))
    se = (1 - r * r) / root
    if not math.isfinite(r) or abs(r) >= 1.0:
        return se, (r if math.isfinite(r) else math.nan), (r if math.isfinite(r) else math.nan)
    z, zse = math.atanh(r), 1 / root
    return se, math.tanh(z - z_critical(alpha) * zse), math.tanh(z + z_critical(alpha) * zse)


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan


class ShadowComparison:
    r"""Compare a challenger's shadow scores with production's on the same requests.

    Statistics (``difference`` is challenger minus production, or the statistic itself for
    the paired ones; every interval is two-sided with coverage :math:`1 - \alpha`):

    - ``score_correlation``: Pearson correlation :math:`r` of the two scores over items,
      with the Fisher-z interval (:func:`fisher_z_interval`; ``n`` = items).
    - ``top_k_rank_correlation``: per request, Spearman's :math:`\rho` of the two models'
      scores over production's top ``top_k`` items (requests with at least 3 of them),
      averaged over requests: :math:`\bar\rho \mp z_{1-\alpha/2}\, s_\rho/\sqrt{m}`.
    - ``overlap_at_k``: per request, :math:`|T^K_{prod} \cap T^K_{chal}| / \min(K, n_q)`
      (the top-K sets among the request's :math:`n_q` scored items), averaged over
      requests, interval as above.
    - ``mean_predicted_ctr``: the per-request mean score of each model, averaged over
      requests; the difference has the SE of the per-request paired difference.
    - ``calibration_gap``: mean score minus observed click rate, per model, averaged over
      requests; the difference :math:`(c - y) - (p - y) = c - p` has the SE above.
    - ``latency_p50_ms`` / ``latency_p99_ms``: the quantile of production's request latency
      and of the challenger's shadow latency on the same requests; each model's quantile
      SE from its distribution-free order-statistic interval
      (:func:`receval.experiments._common.order_statistic_interval`),
      :math:`\widehat{SE} = \sqrt{SE_p^2 + SE_c^2}` and a normal interval of the difference.

    Parameters
    ----------
    top_k : int, default 5
        K of ``overlap_at_k`` and ``top_k_rank_correlation`` (>= 1).
    alpha : float, default 0.05
        Significance level of the intervals.

    References
    ----------
    Fisher (1921), see :func:`fisher_z_interval`. Kendall, M., Gibbons, J. D. (1990). Rank
    Correlation Methods, 5th ed. (Spearman's rho). Webber, W., Moffat, A., Zobel, J.
    (2010). A similarity measure for indefinite rankings. ACM TOIS 28(4) (top-K overlap).
    """

    def __init__(self, top_k: int = 5, alpha: float = 0.05) -> None:
        self.top_k = v.check_int(top_k, "top_k", minimum=1)
        self.alpha = v.check_alpha(alpha)

    def __repr__(self) -> str:
        return f"ShadowComparison(top_k={self.top_k}, alpha={self.alpha})"

    def compare(
        self,
        request_id: Any,
        production_score: Any,
        challenger_score: Any,
        is_clicked: Any,
        production_latency_ms: Any,
        challenger_latency_ms: Any,
    ) -> tuple[ShadowStatistic, ...]:
        """Every statistic for one challenger against production.

        Parameters
        ----------
        request_id : array-like, shape (n,)
            The request of each (request, item) row both models scored.
        production_score, challenger_score : array-like of float, shape (n,)
            The two models' scores of the row's item.
        is_clicked : array-like of {0, 1}, shape (n,)
            Whether the item was clicked (it was served by production).
        production_latency_ms, challenger_latency_ms : array-like of float, shape (n,)
            The request's serving latency and the challenger's shadow latency (constant
            within a request; the first row of each request is used).

        Returns
        -------
        tuple of ShadowStatistic
            In the order listed in the class docstring; ``top_k_rank_correlation`` is left
            out when fewer than 2 requests have 3 or more of production's top-K items.
        """
        import pandas as pd

        # NaN (null) marks a value the logs do not carry (a served score is optional):
        # the statistics that need it are then NaN, the others are unaffected
        ps, cs, clicked, lat_p, lat_c = (
            v.check_finite(x, name, allow_nan=True) for x, name in (
                (production_score, "production_score"), (challenger_score, "challenger_score"),
                (is_clicked, "is_clicked"), (production_latency_ms, "production_latency_ms"),
                (challenger_latency_ms, "challenger_latency_ms")))
        req = v.as_1d(request_id, "request_id")
        v.check_lengths(request_id=req, production_score=ps, challenger_score=cs, is_clicked=clicked,
                        production_latency_ms=lat_p, challenger_latency_ms=lat_c)
        g = pd.DataFrame({"request_id": req, "production_score": ps, "challenger_score": cs,
                          "is_clicked": clicked, "production_latency_ms": lat_p,
                          "challenger_latency_ms": lat_c})
        g = g.sort_values(["request_id", "production_score"], ascending=[True, False])
        ps, cs = g["production_score"].to_numpy(float), g["challenger_score"].to_numpy(float)
        clicked = g["is_clicked"].to_numpy(float)
        req = g["request_id"].to_numpy()
        z = z_critical(self.alpha)
        out: list[ShadowStatistic] = []

        def add(stat, pv, cv, diff, se, n, unit, lo=None, hi=None):
            out.append(ShadowStatistic(
                statistic=stat, production_value=pv, challenger_value=cv, difference=diff,
                std_error=se, ci_low=diff - z * se if lo is None else lo,
                ci_high=diff + z * se if hi is None else hi, n=int(n), unit=unit, alpha=self.alpha))

        r = _corr(ps, cs)
        se, lo, hi = fisher_z_interval(r, ps.size, self.alpha)
        add("score_correlation", None, None, r, se, ps.size, "item", lo, hi)

        k = self.top_k
        g = g.assign(prod_rank=g.groupby("request_id")["production_score"].rank(ascending=False, method="first"),
                     chal_rank=g.groupby("request_id")["challenger_score"].rank(ascending=False, method="first"))
        top = g[g["prod_rank"] <= k]
        sizes = top.groupby("request_id")["production_score"].transform("size")
        top = top[sizes >= 3]
        if len(top):
            sp = top.groupby("request_id")[["production_score", "challenger_score"]].corr(method="spearman")
            rho = sp.xs("production_score", level=1)["challenger_score"].to_numpy(float)
            rho = rho[~np.isnan(rho)]
            if rho.size > 1:
                m, se = _mean_se(rho)
                add("top_k_rank_correlation", None, None, m, se, rho.size, "request")
        both = g.assign(in_p=g["prod_rank"] <= k, in_c=g["chal_rank"] <= k)
        n_items = both.groupby("request_id")["in_p"].size()
        inter = (both["in_p"] & both["in_c"]).groupby(both["request_id"]).sum()
        overlap = (inter / n_items.clip(upper=k)).to_numpy(float)
        m, se = _mean_se(overlap)
        add("overlap_at_k", None, None, m, se, overlap.size, "request")

        per = pd.DataFrame({"request_id": req, "p": ps, "c": cs, "y": clicked}).groupby("request_id").mean()
        pm, _ = _mean_se(per["p"].to_numpy())
        cm, _ = _mean_se(per["c"].to_numpy())
        dm, dse = _mean_se((per["c"] - per["p"]).to_numpy())
        add("mean_predicted_ctr", pm, cm, dm, dse, per.shape[0], "request")
        gp, _ = _mean_se((per["p"] - per["y"]).to_numpy())
        gc, _ = _mean_se((per["c"] - per["y"]).to_numpy())
        # Paired: (c - y) - (p - y) = c - p, so the difference has the SE of c - p.
        add("calibration_gap", gp, gc, gc - gp, dse, per.shape[0], "request")

        lat = g.groupby("request_id")[["production_latency_ms", "challenger_latency_ms"]].first()
        for q, name in ((0.5, "latency_p50_ms"), (0.99, "latency_p99_ms")):
            xp = np.sort(lat["production_latency_ms"].to_numpy(float))
            xc = np.sort(lat["challenger_latency_ms"].to_numpy(float))
            pv, cv = float(np.quantile(xp, q)), float(np.quantile(xc, q))
            plo, phi = order_statistic_interval(xp, q, self.alpha)
            clo, chi = order_statistic_interval(xc, q, self.alpha)
            se = math.hypot((phi - plo) / (2 * z), (chi - clo) / (2 * z))
            add(name, pv, cv, cv - pv, se, lat.shape[0], "request")
        return tuple(out)
