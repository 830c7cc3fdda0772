"""PSI, the Jensen-Shannon distance, the chi-square and KS tests against hand
computations, an independent numpy PSI and scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from monitoring.numpy_reference import numpy_psi
from receval.monitoring import (
    bin_counts, chi_square_test, jensen_shannon_distance, ks_from_counts, ks_test, psi,
)


# ------------------------------------------------------------------------ PSI
def test_psi_hand_computed():
    # shares 0.5/0.5 vs 0.25/0.75: (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi([50, 50], [25, 75]) == pytest.approx(expected, abs=1e-15)
    assert psi([3, 7, 0], [3, 7, 0]) == 0.0
    # an empty reference bin: shares floored at 1e-4 and renormalised
    r = np.array([1e-4, 0.5, 0.5]) / 1.0001
    c = np.array([0.1, 0.45, 0.45])
    assert psi([0, 10, 10], [2, 9, 9]) == pytest.approx(np.sum((c - r) * np.log(c / r)), abs=1e-15)


def test_psi_matches_independent_numpy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        r = rng.integers(0, 50, 12) * (rng.random(12) < 0.8)
        c = rng.integers(0, 50, 12) * (rng.random(12) < 0.8)
        for eps in (1e-4, 1e-2):
            assert psi(r, c, eps) == pytest.approx(numpy_psi(r, c, eps), abs=1e-12)
    assert math.isnan(psi([1, 2], [0, 0]))


def test_psi_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="current_counts"):
        psi([1, 2], [1, -2])
    with pytest.raises(ValueError, match="length mismatch"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="epsilon"):
        psi([1, 2], [1, 2], epsilon=0)


# ------------------------------------------------------------------------ JS, chi2, KS
def test_js_distance_matches_scipy():
    rng = np.random.default_rng(2)
    for _ in range(20):
        r = rng.integers(0, 30, 8) * (rng.random(8) < 0.7) + np.eye(8)[0]
        c = rng.integers(0, 30, 8) * (rng.random(8) < 0.7) + np.eye(8)[1]
        assert jensen_shannon_distance(r, c) == pytest.approx(jensenshannon(r, c, base=2), abs=1e-12)
    assert jensen_shannon_distance([1, 0], [0, 1]) == pytest.approx(1.0, abs=1e-15)
    assert jensen_shannon_distance([2, 2], [5, 5]) == 0.0


def test_chi_square_matches_scipy():
    rng = np.random.default_rng(3)
    for k in (2, 3, 7):
        r, c = rng.integers(5, 100, k), rng.integers(5, 100, k)
        res = chi_square_test(r, c)
        ref = stats.chi2_contingency(np.vstack([r, c]), correction=False)
        assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
        assert res.dof == ref.dof == k - 1
    # a category empty in both is dropped, as chi2_contingency needs
    res = chi_square_test([10, 0, 5], [7, 0, 9])
    ref = stats.chi2_contingency(np.array([[10, 5], [7, 9]]), correction=False)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12) and res.dof == 1
    one = chi_square_test([4, 0], [9, 0])
    assert (one.statistic, one.p_value, one.dof) == (0.0, 1.0, 0)


@pytest.mark.parametrize("n, m", [(300, 450), (20_000, 30_000), (12_000, 500)])
def test_ks_matches_scipy(n, m):
    rng = np.random.default_rng(n)
    r = np.round(rng.normal(size=n), 2)            # rounded: ties inside and across samples
    c = np.round(rng.normal(0.03, 1.1, size=m), 2)
    res = ks_test(r, c)
    ref = stats.ks_2samp(r, c)
    assert res.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    assert res.method == ("exact" if max(n, m) <= 10_000 else "asymp")
    forced = ks_test(r, c, method="asymp")
    assert forced.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert forced.p_value == pytest.approx(stats.ks_2samp(r, c, method="asymp").pvalue, abs=1e-12)


def test_ks_ignores_nan_and_names_empty_sample():
    r = np.array([0.1, 0.5, np.nan, 0.9, 0.3])
    c = np.array([np.nan, 0.2, 0.4])
    ref = stats.ks_2samp(r[~np.isnan(r)], c[~np.isnan(c)])
    assert ks_test(r, c).statistic == pytest.approx(ref.statistic, abs=1e-15)
    with pytest.raises(ValueError, match="`current`"):
        ks_test(r, [np.nan])


def test_ks_from_counts_equals_raw_ks_on_integer_bins():
    rng = np.random.default_rng(4)
    r, c = rng.poisson(3, 40_000), rng.poisson(3.1, 50_000)
    edges = np.concatenate([[-np.inf], np.arange(0, 30) + 0.5, [np.inf]])  # one value per bin
    res = ks_from_counts(bin_counts(r, edges)[:-1], bin_counts(c, edges)[:-1])
    ref = stats.ks_2samp(r, c)
    assert res.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
