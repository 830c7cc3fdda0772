"""Benjamini-Hochberg against statsmodels."""
import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from receval.experiments import BenjaminiHochberg, benjamini_hochberg


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
