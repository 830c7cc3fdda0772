import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from receval.experiments import BenjaminiHochberg, SampleRatioMismatch, benjamini_hochberg, sample_ratio_mismatch


def test_srm_matches_scipy():
    obs, share = [10321, 9876, 5012], [0.4, 0.4, 0.2]
    res = SampleRatioMismatch().test(obs, share, variants=["control", "treatment", "holdout"])
    n = sum(obs)
    stat, p = stats.chisquare(obs, np.array(share) * n)
    assert res.statistic == pytest.approx(stat, abs=1e-6)
    assert res.p_value == pytest.approx(p, abs=1e-6)
    assert res.df == 2 and res.n == n and res.variants[2] == "holdout"


def test_srm_mapping_and_flag():
    ok = sample_ratio_mismatch({"control": 5000, "treatment": 5040}, {"control": 50, "treatment": 50})
    assert not ok.srm_detected and ok.expected_share == (0.5, 0.5)
    bad = sample_ratio_mismatch({"treatment": 5400, "control": 5000}, {"control": 1, "treatment": 1})
    assert bad.srm_detected and bad.p_value < 0.001
    assert bad.variants == ("control", "treatment") and bad.observed == (5000, 5400)


def test_srm_false_positive_rate():
    # 2000 correct randomisations: flags at p < 0.001 should be ~2 (Poisson, <= 8 w.p. >0.999)
    rng = np.random.default_rng(0)
    flags = sum(
        sample_ratio_mismatch(np.bincount(rng.random(10000) < 0.3, minlength=2), [0.7, 0.3]).srm_detected
        for _ in range(2000)
    )
    assert flags <= 8


def test_srm_errors():
    t = SampleRatioMismatch()
    with pytest.raises(ValueError, match="threshold"):
        SampleRatioMismatch(threshold=0)
    with pytest.raises(ValueError, match="variants differ"):
        t.test({"a": 1, "b": 2}, {"a": 1, "c": 1})
    with pytest.raises(ValueError, match="non-negative integer"):
        t.test([10, -1], [1, 1])
    with pytest.raises(ValueError, match="non-negative integer"):
        t.test([10.5, 3], [1, 1])
    with pytest.raises(ValueError, match="positive"):
        t.test([10, 3], [1, 0])
    with pytest.raises(ValueError, match="sums to 0"):
        t.test([0, 0], [1, 1])
    with pytest.raises(ValueError, match="at least 2 variants"):
        t.test([5], [1])
    with pytest.raises(ValueError, match="has 2 variants but"):
        t.test([5, 5], [1, 1, 1])


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_bh_matches_statsmodels(alpha):
    rng = np.random.default_rng(1)
    p = np.r_[rng.uniform(size=40), rng.uniform(0, 0.01, 10), [0.03, 0.03, 1.0, 0.0]]
    rng.shuffle(p)
    res = BenjaminiHochberg(alpha).adjust(p)
    rej, adj, _, _ = multipletests(p, alpha=alpha, method="fdr_bh")
    np.testing.assert_allclose(res.adjusted_p_values, adj, atol=1e-6, rtol=0)
    assert list(res.rejected) == list(rej)
    assert res.n_rejected == int(rej.sum()) and res.n_tests == p.size


def test_bh_labels_and_errors():
    res = benjamini_hochberg([0.01, 0.04, 0.03], labels=["ctr", "cvr", "rev"])
    assert res.labels == ("ctr", "cvr", "rev")
    assert res.adjusted_p_values == pytest.approx((0.03, 0.04, 0.04))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.1, 1.2])
    with pytest.raises(ValueError, match="NaN"):
        benjamini_hochberg([0.1, np.nan])
    with pytest.raises(ValueError, match="`labels` has 1 names"):
        benjamini_hochberg([0.1, 0.2], labels=["a"])
    with pytest.raises(ValueError, match="empty"):
        benjamini_hochberg([])
