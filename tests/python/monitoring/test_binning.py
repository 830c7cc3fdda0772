"""The binning edge cases: reference quantiles with outer and missing bins, a constant
feature, tied quantiles, unseen and missing categories."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from monitoring.numpy_reference import numpy_psi
from receval.monitoring import bin_counts, categorical_counts, feature_drift, reference_bins


def test_reference_bins_are_quantiles_with_outer_and_missing_bins():
    x = np.arange(1.0, 101.0)
    e = reference_bins(x, n_bins=4)
    q = np.quantile(x, [0, 0.25, 0.5, 0.75, 1.0])
    assert e[0] == -np.inf and e[-1] == np.inf
    np.testing.assert_array_equal(e[1:-2], q[:-1])
    assert e[-2] == np.nextafter(100.0, np.inf)
    counts = bin_counts(np.r_[x, -5.0, 500.0, np.inf, np.nan, np.nan], e)
    # [-inf,1) [1,25.75) [25.75,50.5) [50.5,75.25) [75.25,100] (100,inf] missing
    np.testing.assert_array_equal(counts, [1, 25, 25, 25, 25, 2, 2])


def test_constant_feature_sees_any_change():
    e = reference_bins(np.full(1000, 3.0))
    np.testing.assert_array_equal(e, [-np.inf, 3.0, np.nextafter(3.0, np.inf), np.inf])
    same = feature_drift(np.full(1000, 3.0), np.full(500, 3.0))
    assert same.psi == 0.0 and same.status == "ok"
    up = feature_drift(np.full(1000, 3.0), np.full(500, 3.5))
    assert up.status == "alert" and up.statistic == 1.0


def test_ties_merge_bins():
    x = np.r_[np.zeros(700), np.arange(1.0, 301.0)]        # 70% zeros
    e = reference_bins(x, n_bins=10)
    assert np.unique(e).size == e.size                        # strictly increasing
    c = bin_counts(x, e)
    assert c[1] == 700 + 0 and c.sum() == x.size              # zeros in the bin starting at 0


def test_categorical_unseen_and_missing():
    cats, rc, cc = categorical_counts(["a", "b", "a", None], ["a", "c", "c", float("nan")])
    assert cats == ["a", "b", "c", None]
    np.testing.assert_array_equal(rc, [2, 1, 0, 1])
    np.testing.assert_array_equal(cc, [1, 0, 2, 1])
    res = feature_drift(["a", "b", "a", None], ["a", "c", "c", None], kind="categorical")
    assert res.psi == pytest.approx(numpy_psi(rc, cc, 1e-4), abs=1e-12)
    ref = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
