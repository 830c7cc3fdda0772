import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from receval.experiments import DifferenceInMeans, EffectEstimate, difference_in_means


@pytest.fixture
def arms():
    rng = np.random.default_rng(7)
    return rng.lognormal(0.0, 1.0, 3000), rng.lognormal(0.05, 1.2, 2500)


def test_matches_statsmodels_welch(arms):
    c, t = arms
    res = DifferenceInMeans(alpha=0.05).estimate_effect(c, t)
    tstat, p, df = ttest_ind(t, c, usevar="unequal")
    cm = CompareMeans(DescrStatsW(t), DescrStatsW(c))
    lo, hi = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    assert res.effect == pytest.approx(t.mean() - c.mean(), abs=1e-12)
    assert res.std_error == pytest.approx(cm.std_meandiff_separatevar, abs=1e-6)
    assert res.effect / res.std_error == pytest.approx(tstat, abs=1e-6)
    assert res.p_value == pytest.approx(p, abs=1e-6)
    assert res.df == pytest.approx(df, abs=1e-6)
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi), abs=1e-6)
    assert (res.n_control, res.n_treatment) == (3000, 2500)


def test_relative_effect_delta_method(arms):
    c, t = arms
    res = difference_in_means(c, t)
    mc, mt = c.mean(), t.mean()
    var = t.var(ddof=1) / t.size / mc**2 + mt**2 * c.var(ddof=1) / c.size / mc**4
    assert res.relative_effect == pytest.approx(mt / mc - 1, abs=1e-12)
    assert res.relative_std_error == pytest.approx(np.sqrt(var), rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert res.relative_ci_low == pytest.approx(res.relative_effect - z * res.relative_std_error)


def test_relative_interval_covers_truth_by_simulation():
    # 400 replications: coverage of the 95% relative interval within 3 SE (~3.3 points)
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        c, t = rng.exponential(2.0, 800), rng.exponential(2.2, 800)
        r = difference_in_means(c, t)
        hits += r.relative_ci_low <= 0.1 <= r.relative_ci_high
    assert abs(hits / 400 - 0.95) < 0.035


def test_accepts_pandas_and_arrow(arms):
    c, t = arms
    ref = difference_in_means(c, t)
    assert difference_in_means(pd.Series(c), pa.array(t)) == ref
    assert difference_in_means(list(c), pa.chunked_array([t[:100], t[100:]])) == ref
    assert isinstance(ref, EffectEstimate) and "p_value" in ref.to_dict()


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "0.05", True])
def test_alpha_validated(alpha):
    with pytest.raises(ValueError, match="alpha"):
        DifferenceInMeans(alpha=alpha)


def test_input_errors():
    est = DifferenceInMeans()
    with pytest.raises(ValueError, match="`control` is empty"):
        est.estimate_effect([], [1.0, 2.0])
    with pytest.raises(ValueError, match="`treatment` has 1 observation"):
        est.estimate_effect([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"`treatment` contains 1 NaN.*index 1"):
        est.estimate_effect([1.0, 2.0], [1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="`control` contains 1 NaN"):
        est.estimate_effect(pd.Series([1.0, None, 2.0], dtype="Float64"), [1.0, 2.0])
    with pytest.raises(ValueError, match="`control` contains 1 NaN"):
        est.estimate_effect(pa.array([1, None, 3]), [1.0, 2.0])
    with pytest.raises(ValueError, match="1-dimensional"):
        est.estimate_effect(np.ones((2, 2)), [1.0, 2.0])
    with pytest.raises(ValueError, match="infinite"):
        est.estimate_effect([1.0, np.inf], [1.0, 2.0])


def test_constant_arms():
    r = difference_in_means([1.0, 1.0], [2.0, 2.0])
    assert r.std_error == 0 and r.p_value == 0 and r.ci_low == r.ci_high == 1.0
