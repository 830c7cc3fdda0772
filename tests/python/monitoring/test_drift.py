"""feature_drift of one feature: missing values as their own bin, empty samples and
bad parameters."""
from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring.numpy_reference import numpy_psi
from receval.monitoring import bin_counts, feature_drift, reference_bins


def test_nan_is_its_own_bin():
    r = np.r_[np.random.default_rng(5).normal(size=1000), np.full(10, np.nan)]
    c = np.r_[np.random.default_rng(6).normal(size=1000), np.full(100, np.nan)]
    res = feature_drift(r, c)
    e = reference_bins(r)
    expected = numpy_psi(bin_counts(r, e), bin_counts(c, e), 1e-4)
    assert res.psi == pytest.approx(expected, abs=1e-12)
    assert res.n_missing_reference == 10 and res.n_missing_current == 100
    assert 0.1 <= expected < 0.25 and res.status == "warn"  # 9% missing vs 1%


def test_empty_current_and_empty_reference():
    res = feature_drift(np.arange(10.0), [])
    assert res.status == "no_data" and math.isnan(res.psi) and res.n_current == 0
    assert math.isnan(res.statistic) and res.reason == "current sample is empty"
    with pytest.raises(ValueError, match="`reference`"):
        feature_drift([], [1.0])
    with pytest.raises(ValueError, match="`kind`"):
        feature_drift([1.0], [1.0], kind="ordinal")
    with pytest.raises(ValueError, match="`alert`"):
        feature_drift([1.0], [1.0], warn=0.3, alert=0.2)
