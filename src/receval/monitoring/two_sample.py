r"""Two-sample statistics of a feature's reference and current samples: the Population
Stability Index (PSI) and the Jensen-Shannon distance on bin counts, the two-sample
Kolmogorov-Smirnov test (numeric features; raw values, or ordered bin counts) and
Pearson's chi-square test (categorical features; category counts). The bins come from
:mod:`receval.monitoring.binning`; the formulas are with the functions.

References
----------
Yurdakul, B. (2018). *Statistical properties of population stability index*. PhD
thesis, Western Michigan University. (PSI, its 0.1 / 0.25 rules of thumb)

Lin, J. (1991). Divergence measures based on the Shannon entropy. *IEEE Trans.
Information Theory* 37(1), 145-151. (Jensen-Shannon divergence)

Smirnov, N. (1948). Table for estimating the goodness of fit of empirical
distributions. *Ann. Math. Statist.* 19(2), 279-281. (two-sample KS)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from receval import _validation as v

__all__ = [
    "TwoSampleTest", "psi", "jensen_shannon_distance", "ks_test", "ks_from_counts",
    "chi_square_test",
]

#: scipy.stats.ks_2samp(method="auto") uses the exact null distribution up to this size
KS_EXACT_MAX_N = 10_000


@dataclass(frozen=True)
class TwoSampleTest:
    """A two-sample test of "same distribution".

    Attributes
    ----------
    test : str
        ``"ks"`` (Kolmogorov-Smirnov) or ``"chi2"`` (Pearson's chi-square, no continuity
        correction).
    statistic : float
        KS: :math:`D = \\sup_x |F_{ref}(x) - F_{cur}(x)|`; chi2: :math:`\\sum (O-E)^2/E`.
        ``nan`` when a sample is empty.
    p_value : float
        ``nan`` when ``statistic`` is.
    method : str
        KS: ``"exact"`` or ``"asymp"``; chi2: ``"asymp"``.
    dof : int or None
        Degrees of freedom of the chi-square test (non-empty categories - 1).
    n_reference, n_current : int
        Values that entered the test (missing values excluded for KS).
    """

    test: str
    statistic: float
    p_value: float
    method: str
    dof: int | None
    n_reference: int
    n_current: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------ checks
def _check_epsilon(epsilon: Any) -> float:
    eps = v.check_positive(epsilon, "epsilon")
    if eps >= 1.0:
        raise ValueError(f"`epsilon` must be in (0, 1), got {epsilon}")
    return eps


def _check_counts(reference_counts: Any, current_counts: Any) -> tuple[np.ndarray, np.ndarray]:
    r = v.check_finite(reference_counts, "reference_counts", nonnegative=True)
    c = v.check_finite(current_counts, "current_counts", nonnegative=True)
    v.check_lengths(reference_counts=r, current_counts=c)
    return r, c


# ------------------------------------------------------------------------ divergences
def _psi_rows(r: np.ndarray, c: np.ndarray, epsilon: float) -> np.ndarray:
    """PSI of each row of ``c`` (G x B) against ``r`` (B or G x B); nan on empty rows."""
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), c.shape)
    c = np.asarray(c, dtype=np.float64)
    keep = (r > 0) | (c > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rs = r / r.sum(axis=-1, keepdims=True)
        cs = c / c.sum(axis=-1, keepdims=True)
        rf = np.where(keep, np.maximum(rs, epsilon), 0.0)
        cf = np.where(keep, np.maximum(cs, epsilon), 0.0)
        rf = rf / rf.sum(axis=-1, keepdims=True)
        cf = cf / cf.sum(axis=-1, keepdims=True)
        terms = np.where(keep, (cf - rf) * np.log(cf / rf), 0.0)
    out = terms.sum(axis=-1)
    empty = (r.sum(axis=-1) == 0) | (c.sum(axis=-1) == 0)
    return np.where(empty, np.nan, out)


def psi(reference_counts: Any, current_counts: Any, epsilon: float = 1e-4) -> float:
    r"""Population Stability Index of two binned samples.

    .. math::

        \mathrm{PSI} = \sum_i (c_i - r_i) \ln\frac{c_i}{r_i}

    over the bins' shares :math:`r_i, c_i` (reference, current), which is the
    symmetrised Kullback-Leibler divergence :math:`KL(c\|r) + KL(r\|c)`.

    Epsilon rule (empty bins): bins empty in *both* samples are dropped; then each
    sample's shares are floored at ``epsilon`` and renormalised to sum to 1,
    :math:`r_i = \max(R_i / \sum_j R_j, \varepsilon) / \sum_k \max(R_k / \sum_j R_j,
    \varepsilon)` (the same for :math:`c`). A bin holding current values but no
    reference value therefore adds about :math:`c_i \ln(c_i / \varepsilon)` (0.07 for
    1% of the current sample at the default 1e-4), instead of infinity. (Evidently
    replaces a zero share by 1e-4, or by the smallest non-zero share / 1e6 when that
    is below 1e-4, without renormalising; NannyML does not compute PSI.)

    Parameters
    ----------
    reference_counts, current_counts : array-like
        Non-negative counts (or weights) per bin, same length and bin order.
    epsilon : float
        Floor of a bin's share, in (0, 1).

    Returns
    -------
    float
        ``>= 0``; ``nan`` when either sample is empty (all counts 0). Rule of thumb
        (Yurdakul 2018): < 0.1 no significant shift, 0.1-0.25 moderate, > 0.25 major.
    """
    eps = _check_epsilon(epsilon)
    r, c = _check_counts(reference_counts, current_counts)
    return float(_psi_rows(r, c[None, :], eps)[0])


def _js_rows(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """JS distance (base 2) of each row of ``c`` (G x B) against ``r``; nan on empty."""
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), c.shape)
    c = np.asarray(c, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = r / r.sum(axis=-1, keepdims=True)
        q = c / c.sum(axis=-1, keepdims=True)
        m = 0.5 * (p + q)
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=-1)
    js = np.sqrt(np.maximum((kl_p + kl_q) / (2.0 * math.log(2.0)), 0.0))
    empty = (r.sum(axis=-1) == 0) | (c.sum(axis=-1) == 0)
    return np.where(empty, np.nan, np.minimum(js, 1.0))


def jensen_shannon_distance(reference_counts: Any, current_counts: Any) -> float:
    r"""Jensen-Shannon distance (base 2) of two binned samples, in [0, 1].

    .. math::

        JS(p, q) = \sqrt{\tfrac12 KL(p \| m) + \tfrac12 KL(q \| m)}, \qquad
        m = \tfrac12 (p + q), \qquad KL(p\|m) = \sum_i p_i \log_2 \frac{p_i}{m_i}

    on the shares of the counts, unsmoothed (the divergence is finite with empty
    bins; :math:`0 \log 0 = 0`). 0: same distribution; 1: disjoint supports. Lin (1991).
    ``nan`` when either sample is empty.
    """
    r, c = _check_counts(reference_counts, current_counts)
    return float(_js_rows(r, c[None, :])[0])


# ------------------------------------------------------------------------ tests
def _run_ends(r: np.ndarray) -> np.ndarray:
    """For sorted ``r``: one past the last index of the run of values equal to ``r[i]``."""
    if r.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
    ends = np.append(starts[1:], r.size)
    return np.repeat(ends, ends - starts)


def _ks_statistic_sorted(r: np.ndarray, c: np.ndarray, r_end: np.ndarray | None = None) -> float:
    """Exact two-sample KS statistic of sorted, NaN-free, non-empty ``r`` and ``c``.

    Between two consecutive distinct current values the current ECDF is flat and the
    reference ECDF is monotone, so the supremum is attained at a current value, either
    at it (right limits) or just below it (left limits): O(m log n) for m current
    values, without sorting the reference again (one ``searchsorted``; the count of
    reference values tied with each current value comes from ``r_end``,
    :func:`_run_ends` of ``r``). Same values (the same integer ratios) as scipy's
    evaluation at the pooled sample."""
    n, m = r.size, c.size
    if r_end is None:
        r_end = _run_ends(r)
    starts = np.flatnonzero(np.concatenate([[True], c[1:] != c[:-1]]))
    u = c[starts]
    ends = np.append(starts[1:], m)
    below = np.searchsorted(r, u, side="left")              # reference values < u
    at = np.minimum(below, n - 1)
    upto = np.where(r[at] == u, r_end[at], below)           # reference values <= u
    d_right = np.abs(upto / n - ends / m).max()
    d_left = np.abs(below / n - starts / m).max()
    return float(max(d_right, d_left))


def _ks_asymp_pvalue(d: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Smirnov's two-sided asymptotic p-value, as scipy's ks_2samp(method="asymp")."""
    n = np.asarray(n, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    en = np.maximum(n, m) * np.minimum(n, m) / (n + m)
    return np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0)


def _ks(r: np.ndarray, c: np.ndarray, method: str) -> tuple[float, float, str]:
    """(statistic, p_value, method) of sorted, NaN-free samples; nan when one is empty."""
    n, m = r.size, c.size
    if n == 0 or m == 0:
        return math.nan, math.nan, "none"
    if method == "auto":
        method = "exact" if max(n, m) <= KS_EXACT_MAX_N else "asymp"
    if method == "exact":
        res = stats.ks_2samp(r, c, method="exact")
        return float(res.statistic), float(res.pvalue), "exact"
    d = _ks_statistic_sorted(r, c)
    return d, float(_ks_asymp_pvalue(np.array(d), n, m)), "asymp"


def ks_test(reference: Any, current: Any, method: str = "auto") -> TwoSampleTest:
    r"""Two-sample Kolmogorov-Smirnov test on raw values.

    .. math::

        D = \sup_x |F_{ref}(x) - F_{cur}(x)|

    with the empirical CDFs of the non-missing values (NaN / null excluded; ties
    handled exactly). p-value: ``method="auto"`` follows scipy's ``ks_2samp``: the
    exact null distribution when both samples have at most 10,000 values (then the
    statistic and p-value are ``scipy.stats.ks_2samp(method="exact")``'s), otherwise
    Smirnov's asymptotic distribution ``kstwo.sf(D, round(n m / (n + m)))`` with the
    statistic computed here in O(m log n) (the same value). ``"exact"`` / ``"asymp"``
    force one. With tens of thousands of values per day the test rejects on shifts
    too small to matter: the drift status is PSI's, the p-value is context.
    Smirnov (1948).

    Raises
    ------
    ValueError
        When a sample has no non-missing value (naming it), or on a bad ``method``.
    """
    if method not in ("auto", "exact", "asymp"):
        raise ValueError(f"`method` must be 'auto', 'exact' or 'asymp', got {method!r}")
    samples = []
    for name, x in (("reference", reference), ("current", current)):
        arr = v.to_float_array(x, name)
        arr = np.sort(arr[~np.isnan(arr)])
        if arr.size == 0:
            raise ValueError(f"`{name}` has no non-missing value: the KS test needs at least one")
        samples.append(arr)
    r, c = samples
    d, p, used = _ks(r, c, method)
    return TwoSampleTest("ks", d, p, used, None, int(r.size), int(c.size))


def ks_from_counts(reference_counts: Any, current_counts: Any) -> TwoSampleTest:
    """KS test on counts over *ordered* bins (e.g. :func:`bin_counts` without its last,
    missing-value bin), for input aggregated in the warehouse.

    The statistic is the largest ECDF gap at the bin edges: a lower bound of the raw
    values' statistic, equal to it when every bin holds a single distinct value. The
    p-value is Smirnov's asymptotic one with ``n, m`` the two totals."""
    r, c = _check_counts(reference_counts, current_counts)
    n, m = float(r.sum()), float(c.sum())
    if n == 0 or m == 0:
        return TwoSampleTest("ks", math.nan, math.nan, "none", None, int(n), int(m))
    d = float(np.abs(np.cumsum(r) / n - np.cumsum(c) / m).max())
    return TwoSampleTest("ks", d, float(_ks_asymp_pvalue(np.array(d), n, m)), "asymp", None,
                         int(n), int(m))


def _chi2_rows(r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson chi-square of the 2 x k table (r, c_g) for each row g of ``c``."""
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), c.shape)
    c = np.asarray(c, dtype=np.float64)
    col = r + c
    keep = col > 0
    nr, nc = r.sum(axis=-1, keepdims=True), c.sum(axis=-1, keepdims=True)
    total = nr + nc
    with np.errstate(divide="ignore", invalid="ignore"):
        er, ec = col * nr / total, col * nc / total
        terms = np.where(keep, (r - er) ** 2 / er + (c - ec) ** 2 / ec, 0.0)
    stat = terms.sum(axis=-1)
    dof = keep.sum(axis=-1) - 1
    p = np.where(dof > 0, stats.chi2.sf(stat, np.maximum(dof, 1)), 1.0)
    empty = (nr[..., 0] == 0) | (nc[..., 0] == 0)
    stat = np.where(empty, np.nan, np.where(dof > 0, stat, 0.0))
    return stat, np.where(empty, np.nan, p), dof


def chi_square_test(reference_counts: Any, current_counts: Any) -> TwoSampleTest:
    r"""Pearson's chi-square test of homogeneity on the 2 x k table of category counts.

    .. math::

        X^2 = \sum_{s \in \{ref, cur\}} \sum_j \frac{(O_{sj} - E_{sj})^2}{E_{sj}},
        \qquad E_{sj} = \frac{n_s\, O_{\cdot j}}{n}, \qquad
        X^2 \sim \chi^2_{k' - 1}

    over the :math:`k'` categories that are non-empty in at least one sample, without
    Yates' continuity correction (``scipy.stats.chi2_contingency(..., correction=False)``).
    With a single non-empty category the statistic is 0 and the p-value 1. ``nan``
    when either sample is empty.
    """
    r, c = _check_counts(reference_counts, current_counts)
    stat, p, dof = _chi2_rows(r, c[None, :])
    return TwoSampleTest("chi2", float(stat[0]), float(p[0]), "asymp", int(dof[0]),
                         int(r.sum()), int(c.sum()))
