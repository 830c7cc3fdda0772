"""Classification metrics vs scikit-learn, hand cases with ties, DeLong checks."""

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from receval.metrics import (
    MetricResult,
    average_precision,
    brier_score,
    log_loss,
    roc_auc,
    roc_auc_delta,
)
from receval.metrics.classification import BinaryScoreTable


def _tied_data(seed, n=3000, rate=0.3, decimals=1):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    s = np.round(rng.random(n) * 0.7 + 0.3 * y * rng.random(n), decimals)
    return y, s


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("decimals", [1, 2, 6])
def test_auc_and_ap_match_sklearn_with_ties(seed, decimals):
    y, s = _tied_data(seed, decimals=decimals)
    assert abs(roc_auc(y, s).value - roc_auc_score(y, s)) < 1e-12
    assert abs(average_precision(y, s, n_bootstrap=0).value - average_precision_score(y, s)) < 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_weighted_table_matches_sklearn_sample_weight(seed):
    rng = np.random.default_rng(seed)
    y, s = _tied_data(seed, decimals=1)
    w = rng.poisson(1.0, y.size).astype(float)
    t = BinaryScoreTable(y.astype(bool), s)
    assert abs(t.auc(w) - roc_auc_score(y, s, sample_weight=w)) < 1e-12
    assert abs(t.ap(w) - average_precision_score(y, s, sample_weight=w)) < 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_logloss_and_brier_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y, s = _tied_data(seed)
    p = np.clip(s + rng.normal(0, 0.05, s.size), 0, 1)
    p[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # exercise the eps clipping
    assert abs(log_loss(y, p).value - sk_log_loss(y, p)) < 1e-12
    assert abs(brier_score(y, p).value - brier_score_loss(y, p)) < 1e-12


def test_hand_cases_with_ties():
    y = [0, 1, 0, 1]
    s = [0.5, 0.5, 0.2, 0.9]
    # pairs: (0.5 vs 0.5) = 1/2, (0.5 vs 0.2) = 1, (0.9 vs both) = 2  -> 3.5 / 4
    assert roc_auc(y, s).value == pytest.approx(0.875, abs=1e-15)
    # thresholds 0.9: P=1, R=1/2; 0.5: P=2/3, R=1  -> 1/2 + 1/2 * 2/3
    assert average_precision(y, s, n_bootstrap=0).value == pytest.approx(0.5 + 1 / 3, abs=1e-15)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).value == pytest.approx(0.75)


def test_all_tied_scores_auc_is_half_and_single_class_is_undefined():
    r = roc_auc([0, 1, 0, 1, 1], [0.3] * 5)
    assert r.value == 0.5 and r.reason is None and r.std_error == 0.0
    for y in ([0, 0, 0], [1, 1, 1]):
        r = roc_auc(y, [0.1, 0.2, 0.3])
        assert math.isnan(r.value) and "only class" in r.reason and r.n == 3
        assert not r.is_defined
    r = roc_auc([], [])
    assert math.isnan(r.value) and r.reason == "empty input"
    r = average_precision([0, 0], [0.1, 0.2])
    assert math.isnan(r.value) and "no positive" in r.reason
    assert math.isnan(log_loss([], []).value) and log_loss([], []).reason == "empty input"
    d = roc_auc_delta([1, 1], [0.1, 0.2], [0.3, 0.4])
    assert math.isnan(d.value) and d.reason


def _delong_bruteforce(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10, v01


def test_delong_se_matches_hand_computation():
    y, s = _tied_data(7, n=400, decimals=1)
    auc, v10, v01 = _delong_bruteforce(y, s)
    var = v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size
    r = roc_auc(y, s)
    assert r.value == pytest.approx(auc, abs=1e-14)
    assert r.std_error == pytest.approx(math.sqrt(var), rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert r.ci_low == pytest.approx(auc - z * r.std_error)
    assert r.method == "delong" and r.n == 400
    assert r.extra["n_pos"] + r.extra["n_neg"] == 400


def test_paired_delong_matches_hand_computation():
    rng = np.random.default_rng(3)
    y, s = _tied_data(3, n=500, decimals=1)
    s2 = np.round(s + rng.normal(0, 0.2, s.size), 1)
    a1, v10a, v01a = _delong_bruteforce(y, s)
    a2, v10b, v01b = _delong_bruteforce(y, s2)
    S10 = np.cov(np.vstack([v10a, v10b]))
    S01 = np.cov(np.vstack([v01a, v01b]))
    c = np.array([1.0, -1.0])
    var = c @ (S10 / v10a.size + S01 / v01a.size) @ c
    r = roc_auc_delta(y, s, s2)
    assert r.value == pytest.approx(a1 - a2, abs=1e-14)
    assert r.std_error == pytest.approx(math.sqrt(var), rel=1e-10)
    assert r.extra["model"] == pytest.approx(a1) and r.extra["baseline"] == pytest.approx(a2)
    assert 0 <= r.extra["p_value"] <= 1
    # identical models: delta exactly 0 with zero variance
    r0 = roc_auc_delta(y, s, s)
    assert r0.value == 0 and r0.std_error == 0


def test_delong_agrees_with_row_bootstrap():
    rng = np.random.default_rng(11)
    n = 4000
    y = (rng.random(n) < 0.2).astype(int)
    s = np.round(rng.normal(size=n) + 0.8 * y, 1)
    dl = roc_auc(y, s)
    bs = roc_auc(y, s, group_ids=np.arange(n), n_bootstrap=400, random_state=1)
    assert bs.method == "bootstrap_normal" and bs.n_groups == n
    assert bs.value == pytest.approx(dl.value, abs=1e-12)
    assert bs.std_error == pytest.approx(dl.std_error, rel=0.15)
    # The normal bootstrap interval is value -/+ z * SE_boot.
    assert bs.ci_high - bs.value == pytest.approx(1.959964 * bs.std_error, rel=1e-6)
    assert bs.value - bs.ci_low == pytest.approx(1.959964 * bs.std_error, rel=1e-6)


def test_group_bootstrap_is_seeded_and_paired():
    y, s = _tied_data(5, n=2000)
    g = np.arange(2000) // 10
    r1 = roc_auc(y, s, group_ids=g, n_bootstrap=50, random_state=4)
    r2 = roc_auc(y, s, group_ids=g, n_bootstrap=50, random_state=4)
    assert r1 == r2
    d = roc_auc_delta(y, s, s, group_ids=g, n_bootstrap=50, random_state=4)
    assert d.value == 0 and d.std_error == 0
    ap = average_precision(y, s, group_ids=g, n_bootstrap=50)
    assert ap.n_groups == 200 and ap.ci_low <= ap.value <= ap.ci_high


def test_accepts_pyarrow_pandas_and_lists():
    import pandas as pd
    y, s = _tied_data(1, n=300)
    ref = roc_auc(y, s).value
    assert roc_auc(pa.array(y), pa.array(s)).value == ref
    assert roc_auc(pa.chunked_array([y[:100], y[100:]]), pd.Series(s)).value == ref
    assert roc_auc(y.tolist(), s.tolist()).value == ref
    assert roc_auc(y.astype(bool), s.astype(np.float32)).value == pytest.approx(ref)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: roc_auc([0, 1, 1], [0.1, 0.2]), "length mismatch: `y_true` has 3, `y_score` has 2"),
        (lambda: roc_auc([0, 1], [0.1, np.nan]), "`y_score` contains 1 NaN/null value"),
        (lambda: roc_auc([0, 1], [0.1, np.inf]), "`y_score` contains 1 infinite value"),
        (lambda: roc_auc([0, 2], [0.1, 0.2]), r"`y_true` must contain only 0 and 1, found \[2\]"),
        (lambda: roc_auc(["a", "b"], [0.1, 0.2]), "`y_true` must contain only 0 and 1"),
        (lambda: roc_auc([0, np.nan], [0.1, 0.2]), "`y_true` contains 1 NaN"),
        (lambda: roc_auc(pa.array([0, None]), [0.1, 0.2]), "`y_true` contains 1 null"),
        (lambda: log_loss([0, 1], [0.1, 1.2]), r"`y_prob` must be in \[0, 1\]"),
        (lambda: brier_score([0, 1], [-0.1, 0.2]), "`y_prob` must be in"),
        (lambda: log_loss([0, 1], [0.1, 0.2], eps=0.7), "`eps` must be a float in"),
        (lambda: roc_auc([0, 1], [0.1, 0.2], alpha=95), "`alpha` must be in"),
        (lambda: roc_auc([[0, 1], [1, 0]], [0.1, 0.2]), "`y_true` must be 1-dimensional"),
        (lambda: roc_auc_delta([0, 1], [0.1, 0.2], [0.3]), "`y_score_baseline` has 1"),
        (lambda: roc_auc([0, 1], [0.1, 0.2], group_ids=[1]), "`group_ids` has 1"),
    ],
)
def test_bad_input_raises_precise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_log_loss_clipping_documented_value():
    r = log_loss([1], [0.0])
    assert r.value == pytest.approx(-math.log(np.finfo(float).eps))
    r = log_loss([1, 0], [0.0, 0.0], eps=1e-3)
    assert r.value == pytest.approx(-0.5 * (math.log(1e-3) + math.log(1 - 1e-3)))


def test_result_is_frozen_and_serialisable():
    r = roc_auc([0, 1, 0, 1], [0.1, 0.8, 0.3, 0.2])
    assert isinstance(r, MetricResult)
    with pytest.raises(Exception):
        r.value = 1.0  # type: ignore[misc]
    d = r.to_dict()
    assert set(d) >= {"value", "std_error", "ci_low", "ci_high", "n", "reason"}
    assert float(r) == r.value


@pytest.mark.slow
def test_delong_interval_coverage_binormal():
    """200 replications of a binormal model with known AUC = Phi(d / sqrt 2)."""
    rng = np.random.default_rng(2024)
    d = 1.0
    true_auc = stats.norm.cdf(d / math.sqrt(2))
    hits = 0
    for _ in range(200):
        y = np.r_[np.ones(150, int), np.zeros(300, int)]
        s = np.r_[rng.normal(d, 1, 150), rng.normal(0, 1, 300)]
        r = roc_auc(y, s)
        hits += r.ci_low <= true_auc <= r.ci_high
    assert 0.90 <= hits / 200 <= 0.99


@pytest.mark.slow
def test_paired_delong_coverage_of_zero_difference():
    rng = np.random.default_rng(99)
    hits = 0
    for _ in range(200):
        y = np.r_[np.ones(150, int), np.zeros(300, int)]
        latent = np.r_[rng.normal(1, 1, 150), rng.normal(0, 1, 300)]
        a = latent + rng.normal(0, 0.5, 450)
        b = latent + rng.normal(0, 0.5, 450)  # same true AUC
        r = roc_auc_delta(y, a, b)
        hits += r.ci_low <= 0 <= r.ci_high
    assert 0.90 <= hits / 200 <= 0.99
