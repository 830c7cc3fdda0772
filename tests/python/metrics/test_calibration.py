"""Calibration: ECE (equal width / equal mass), reliability bins, in-the-large."""

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from receval.metrics import (
    calibration_in_the_large,
    expected_calibration_error,
    reliability_bins,
    wilson_interval,
)


def _brute_ece(y, p, edges):
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    e = 0.0
    for k in range(edges.size - 1):
        m = b == k
        if m.any():
            e += m.sum() / p.size * abs(p[m].mean() - y[m].mean())
    return e


def test_ece_uniform_matches_brute_force_and_sklearn_curve():
    rng = np.random.default_rng(0)
    p = rng.random(5000) ** 2
    y = (rng.random(5000) < p).astype(int)
    r = expected_calibration_error(y, p, n_bins=10, n_bootstrap=0)
    assert r.value == pytest.approx(_brute_ece(y, p, np.linspace(0, 1, 11)), abs=1e-12)
    tab = reliability_bins(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    keep = tab.count > 0
    assert np.allclose(tab.observed_rate[keep], prob_true, atol=1e-12)
    assert np.allclose(tab.mean_predicted[keep], prob_pred, atol=1e-12)
    assert tab.count.sum() == 5000


def test_ece_quantile_bins_equal_mass_and_ties_share_a_bin():
    rng = np.random.default_rng(1)
    p = rng.random(10_000)
    y = (rng.random(10_000) < p).astype(int)
    tab = reliability_bins(y, p, n_bins=10, strategy="quantile")
    assert tab.count.min() >= 990 and tab.count.max() <= 1010
    r = expected_calibration_error(y, p, strategy="quantile", n_bootstrap=0)
    assert r.name == "ece_quantile" and r.extra["n_bins_used"] == 10
    # heavy ties collapse bins but never split a tie
    pt = np.round(p, 1)
    tab = reliability_bins(y, pt, n_bins=20, strategy="quantile")
    for v in np.unique(pt):
        bins = np.flatnonzero((tab.bin_low <= v) & (v <= tab.bin_high) & (tab.count > 0))
        assert bins.size >= 1
    assert expected_calibration_error(y, pt, n_bins=20, strategy="quantile").extra["n_bins_used"] <= 11


def test_perfectly_calibrated_constant_is_zero_and_bootstrap_interval():
    y = np.r_[np.ones(30), np.zeros(70)].astype(int)
    p = np.full(100, 0.3)
    r = expected_calibration_error(y, p, n_bootstrap=100, random_state=3)
    assert r.value == pytest.approx(0.0, abs=1e-15)
    assert r.ci_low >= 0 and r.ci_high > 0 and r.n == 100 and r.n_groups == 100


def test_calibration_in_the_large():
    rng = np.random.default_rng(2)
    p = rng.random(2000) * 0.2
    y = (rng.random(2000) < p * 0.8).astype(int)
    r = calibration_in_the_large(y, p)
    assert r.value == pytest.approx(p.mean() - y.mean())
    assert r.std_error == pytest.approx((p - y).std(ddof=1) / math.sqrt(2000))
    assert r.extra["observed_over_expected"] == pytest.approx(y.mean() / p.mean())


def test_wilson_interval_known_value():
    lo, hi = wilson_interval(np.array([5.0]), np.array([10.0]), alpha=0.05)
    assert lo[0] == pytest.approx(0.2366, abs=1e-4) and hi[0] == pytest.approx(0.7634, abs=1e-4)
    tab = reliability_bins([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2], n_bins=2, interval="normal")
    assert tab.interval == "normal" and list(tab.count) == [2, 2]
    assert tab.to_frame().shape == (2, 7)


def test_edge_cases_and_bad_input():
    r = expected_calibration_error([], [])
    assert math.isnan(r.value) and r.reason == "empty input"
    with pytest.raises(ValueError, match="`strategy` must be one of"):
        expected_calibration_error([0, 1], [0.1, 0.2], strategy="kmeans")
    with pytest.raises(ValueError, match="`n_bins` must be an integer >= 1"):
        expected_calibration_error([0, 1], [0.1, 0.2], n_bins=0)
    with pytest.raises(ValueError, match=r"`y_prob` must be in \[0, 1\]"):
        reliability_bins([0, 1], [0.1, 1.5])
    with pytest.raises(ValueError, match="length mismatch"):
        calibration_in_the_large([0, 1, 1], [0.1, 0.5])
