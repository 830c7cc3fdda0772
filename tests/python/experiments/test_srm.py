"""SampleRatioMismatch against scipy, its false-positive rate and errors; the observed shares."""
import numpy as np
import pytest
from scipy import stats

from receval.experiments import SampleRatioMismatch, observed_share_intervals, sample_ratio_mismatch


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


def test_observed_share_intervals():
    share, se, lo, hi = observed_share_intervals([480, 520], alpha=0.05)
    assert share.tolist() == [0.48, 0.52]
    assert se[0] == pytest.approx(np.sqrt(0.48 * 0.52 / 1000), abs=1e-15)
    assert lo[0] == 0.48 - 1.959963984540054 * se[0] and hi[1] == 0.52 + 1.959963984540054 * se[1]
    _, _, lo90, hi90 = observed_share_intervals([480, 520], alpha=0.10)
    assert (lo < lo90).all() and (hi90 < hi).all()
    with pytest.raises(ValueError, match="`observed` sums to 0"):
        observed_share_intervals([0, 0])
    with pytest.raises(ValueError, match="`observed` contains 1 negative"):
        observed_share_intervals([3, -1])
