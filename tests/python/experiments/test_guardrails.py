"""Guardrail non-inferiority tests: means against statsmodels, quantiles against the bootstrap
and the asymptotic SE, coverage, and intervals that honour alpha."""
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from receval.experiments import MeanNonInferiority, QuantileNonInferiority


def test_mean_non_inferiority_matches_statsmodels_one_sided():
    rng = np.random.default_rng(0)
    c, t = rng.binomial(1, 0.02, 20000).astype(float), rng.binomial(1, 0.021, 20000).astype(float)
    res = MeanNonInferiority(margin=0.003).test(c, t, metric="error_rate")
    # H1: t - c < margin  <=>  statsmodels ttest_ind(value=margin, alternative="smaller")
    cm = CompareMeans(DescrStatsW(t), DescrStatsW(c))
    _, p, _ = cm.ttest_ind(alternative="smaller", usevar="unequal", value=0.003)
    assert res.p_value == pytest.approx(p, abs=1e-6)
    assert res.non_inferior == (p < 0.05)
    assert res.ci_high < 0.003 if res.non_inferior else res.ci_high >= 0.003


def test_mean_non_inferiority_directions():
    rng = np.random.default_rng(1)
    c = rng.normal(10, 1, 5000)
    bad = MeanNonInferiority(margin=0.05).test(c, c + 0.2)
    assert not bad.non_inferior and bad.p_value > 0.5
    good = MeanNonInferiority(margin=0.05, lower_is_better=False).test(c, c + 0.2)
    assert good.non_inferior
    rel = MeanNonInferiority(margin=0.01, relative_margin=True).test(c, rng.normal(10, 1, 5000))
    assert rel.non_inferior and rel.method == "delta_method"


def test_quantile_order_statistic_vs_bootstrap():
    rng = np.random.default_rng(2)
    c, t = rng.lognormal(4, 0.5, 30000), rng.lognormal(4, 0.5, 30000) * 1.01
    os_ = QuantileNonInferiority(margin=15.0, quantile=0.99).test(c, t)
    bs = QuantileNonInferiority(margin=15.0, quantile=0.99, method="bootstrap",
                                n_bootstrap=400, random_state=0).test(c, t)
    assert os_.effect == pytest.approx(np.quantile(t, 0.99) - np.quantile(c, 0.99))
    assert bs.effect == os_.effect
    # 400 replicates: bootstrap SE has ~3.5% MC error; the two SE estimators agree to 20%
    assert os_.std_error == pytest.approx(bs.std_error, rel=0.2)
    # analytic check of the order-statistic SE for a known density: lognormal P99
    q = np.exp(4 + 0.5 * stats.norm.ppf(0.99))
    dens = stats.lognorm(0.5, scale=np.exp(4)).pdf(q)
    asym = np.sqrt(2 * 0.99 * 0.01 / 30000) / dens
    assert os_.std_error == pytest.approx(asym, rel=0.2)
    assert os_.non_inferior and bs.non_inferior


def test_quantile_coverage_order_statistic():
    # 300 A/A replications, one-sided 95% upper bound of P99 difference covers 0 ~95%
    rng = np.random.default_rng(3)
    g = QuantileNonInferiority(margin=1.0, quantile=0.99)
    cover = np.mean([g.test(rng.exponential(1, 5000), rng.exponential(1, 5000)).ci_high >= 0
                     for _ in range(300)])
    assert abs(cover - 0.95) < 0.04


def test_guardrail_validation():
    with pytest.raises(ValueError, match="margin"):
        MeanNonInferiority(margin=-1)
    with pytest.raises(ValueError, match="quantile"):
        QuantileNonInferiority(margin=1, quantile=1.0)
    with pytest.raises(ValueError, match="method"):
        QuantileNonInferiority(margin=1, method="exact")
    with pytest.raises(ValueError, match="n_bootstrap"):
        QuantileNonInferiority(margin=1, n_bootstrap=10)
    with pytest.raises(ValueError, match="at least 100"):
        QuantileNonInferiority(margin=1).test(np.ones(50), np.ones(500))


Z975 = 1.959963984540054  # the constant the order-statistic SE used before alpha was honoured


def test_quantile_intervals_honour_alpha():
    rng = np.random.default_rng(4)
    c, t = rng.lognormal(4, 0.5, 4000), rng.lognormal(4, 0.5, 4000) * 1.02
    # the reported interval is effect -/+ z_{1-alpha} SE: a two-sided 1 - 2 alpha interval
    r90 = QuantileNonInferiority(margin=15.0, alpha=0.05).test(c, t)
    r95 = QuantileNonInferiority(margin=15.0, alpha=0.025).test(c, t)
    assert r90.effect == r95.effect
    assert r95.ci_low < r90.ci_low < r90.effect < r90.ci_high < r95.ci_high
    assert r90.ci_high - r90.ci_low < r95.ci_high - r95.ci_low
    m90 = MeanNonInferiority(margin=1.0, alpha=0.05).test(c, t)
    m95 = MeanNonInferiority(margin=1.0, alpha=0.025).test(c, t)
    assert m90.ci_high - m90.ci_low < m95.ci_high - m95.ci_low


def test_quantile_se_at_alpha_005_is_the_old_one():
    rng = np.random.default_rng(5)
    c, t = np.sort(rng.exponential(30, 3001)), np.sort(rng.exponential(31, 2999))

    def old_se(x, q=0.99):
        n = x.size
        half = Z975 * math.sqrt(n * q * (1 - q))
        lo = int(min(max(math.floor(n * q - half), 1), n)) - 1
        hi = int(min(max(math.ceil(n * q + half), 1), n)) - 1
        return float((x[hi] - x[lo]) / (2 * Z975))

    res = QuantileNonInferiority(margin=5.0, quantile=0.99).test(c, t)
    assert res.std_error == math.hypot(old_se(c), old_se(t))
    q = stats.norm.ppf(0.95)
    assert (res.ci_low, res.ci_high) == (res.effect - q * res.std_error, res.effect + q * res.std_error)
