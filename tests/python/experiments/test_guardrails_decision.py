import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from receval.experiments import (
    DecisionRule, MeanNonInferiority, QuantileNonInferiority, SampleRatioMismatch, difference_in_means,
)


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


def _primary(effect, seed=0):
    rng = np.random.default_rng(seed)
    return difference_in_means(rng.normal(0, 1, 4000), rng.normal(effect, 1, 4000), metric="rpu")


def test_decisions():
    rule = DecisionRule()
    srm_ok = SampleRatioMismatch().test([5000, 5010], [1, 1])
    srm_bad = SampleRatioMismatch().test([5000, 5600], [1, 1])
    rng = np.random.default_rng(9)
    c = rng.binomial(1, 0.02, 10000)
    g_ok = MeanNonInferiority(margin=0.01).test(c, rng.binomial(1, 0.02, 10000), metric="error_rate")
    g_bad = MeanNonInferiority(margin=0.001).test(c, rng.binomial(1, 0.04, 10000), metric="error_rate")
    assert rule.decide(_primary(0.2), srm_ok, [g_ok]).decision == "ship"
    assert rule.decide(_primary(-0.2), srm_ok, [g_ok]).decision == "dont_ship"
    assert rule.decide(_primary(0.0), srm_ok, [g_ok]).decision == "inconclusive"
    d = rule.decide(_primary(0.2), srm_bad, [g_ok], experiment_id="exp1")
    assert d.decision == "invalid" and "sample ratio mismatch" in d.reason and d.experiment_id == "exp1"
    d = rule.decide(_primary(0.2), srm_ok, [g_ok, g_bad])
    assert d.decision == "invalid" and d.failed_guardrails == ("error_rate",) and "guardrail" in d.reason
    assert DecisionRule(minimum_effect=0.5).decide(_primary(0.2)).decision == "dont_ship"
    assert DecisionRule(higher_is_better=False).decide(_primary(-0.2)).decision == "ship"
    assert rule.decide(_primary(0.2), p_value=0.2).decision == "inconclusive"
    with pytest.raises(ValueError, match="EffectEstimate"):
        rule.decide(srm_ok)
    with pytest.raises(ValueError, match="minimum_effect"):
        DecisionRule(minimum_effect=-1)
