import numpy as np
import pytest
from scipy import stats

from receval.experiments import RatioMetric, ratio_and_variance


def _arm(rng, n, ctr):
    imps = rng.poisson(20, n) + rng.integers(0, 2, n) * rng.poisson(80, n)  # heavy users
    p = np.clip(rng.beta(2, 2 / ctr - 2, n), 0, 1)  # per-user CTR heterogeneity
    return rng.binomial(imps, p).astype(float), imps.astype(float)


def test_variance_matches_hand_computation():
    rng = np.random.default_rng(3)
    x, y = _arm(rng, 2000, 0.1)
    r, var, n = ratio_and_variance(x, y)
    mx, my = x.mean(), y.mean()
    sxx, syy = x.var(ddof=1), y.var(ddof=1)
    sxy = np.cov(x, y, ddof=1)[0, 1]
    hand = (sxx / my**2 - 2 * mx * sxy / my**3 + mx**2 * syy / my**4) / n
    assert r == pytest.approx(x.sum() / y.sum(), rel=1e-12)
    assert var == pytest.approx(hand, rel=1e-9)


def test_variance_matches_bootstrap():
    # 4000 user-level bootstrap replicates: the bootstrap variance has a relative Monte Carlo
    # SE of about sqrt(2/4000) = 2.2%; with n = 3000 users the delta method's own
    # (second-order) error is well below 1%, so 8% (~3.5 MC SE) is a safe tolerance.
    rng = np.random.default_rng(5)
    x, y = _arm(rng, 3000, 0.08)
    _, var, n = ratio_and_variance(x, y)
    idx = rng.integers(0, n, (4000, n))
    boots = x[idx].sum(axis=1) / y[idx].sum(axis=1)
    assert var == pytest.approx(boots.var(ddof=1), rel=0.08)


def test_naive_binomial_variance_is_too_small():
    # clustering within users: treating impressions as iid understates the variance
    rng = np.random.default_rng(5)
    x, y = _arm(rng, 3000, 0.08)
    r, var, _ = ratio_and_variance(x, y)
    assert var > 1.5 * r * (1 - r) / y.sum()


def test_effect_and_interval():
    rng = np.random.default_rng(11)
    xc, yc = _arm(rng, 4000, 0.10)
    xt, yt = _arm(rng, 4000, 0.11)
    res = RatioMetric(alpha=0.1).estimate_effect(xc, yc, xt, yt, metric="ctr")
    _, vc, _ = ratio_and_variance(xc, yc)
    _, vt, _ = ratio_and_variance(xt, yt)
    assert res.effect == pytest.approx(xt.sum() / yt.sum() - xc.sum() / yc.sum())
    assert res.std_error == pytest.approx(np.sqrt(vc + vt), rel=1e-12)
    # a t interval with the Welch-Satterthwaite df of the linearised values (~8000 here)
    df = (vc + vt) ** 2 / (vc**2 / 3999 + vt**2 / 3999)
    assert res.df == pytest.approx(df, rel=1e-12)
    assert res.ci_high - res.effect == pytest.approx(stats.t.ppf(0.95, df) * res.std_error, rel=1e-12)
    assert res.metric == "ctr" and res.method == "delta_method_ratio"


def test_errors():
    est = RatioMetric()
    with pytest.raises(ValueError, match="`control_denominator` contains 1 negative"):
        est.estimate_effect([1, 2], [3, -1], [1, 2], [3, 4])
    with pytest.raises(ValueError, match="same length"):
        est.estimate_effect([1, 2, 3], [3, 4], [1, 2], [3, 4])
    with pytest.raises(ValueError, match="`treatment_denominator` sums to 0"):
        est.estimate_effect([1, 2], [3, 4], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="`treatment_numerator` is empty"):
        est.estimate_effect([1, 2], [3, 4], [], [])
