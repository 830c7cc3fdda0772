"""CBPE: the expected AUC against exact enumeration, brute force and simulation with
sklearn, its relation to NannyML's curve-based estimate, the interval's coverage of the
realised AUC, ties, and the input errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.metrics import roc_auc_score

from receval.monitoring import (
    CBPE, expected_confusion_matrix, expected_log_loss, expected_roc_auc,
)


def brute_force_ratio(p, s):
    """E[U] / E[n+ n-] by the O(n^2) double sum over ordered pairs i != j."""
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i == j:
                continue
            w = p[j] * (1 - p[i])                      # j positive, i negative
            den += w
            num += w * (1.0 if s[i] < s[j] else 0.5 if s[i] == s[j] else 0.0)
    return num / den


def test_expected_auc_equals_exact_enumeration():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 10)
    s = np.round(p, 1)                                  # ties in the scores
    e_u = e_pairs = 0.0
    for y in itertools.product((0, 1), repeat=10):
        y = np.array(y, bool)
        w = np.prod(np.where(y, p, 1 - p))
        pos, neg = s[y], s[~y]
        u = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        e_u += w * u
        e_pairs += w * y.sum() * (~y).sum()
    assert expected_roc_auc(p, s) == pytest.approx(e_u / e_pairs, abs=1e-12)
    assert expected_roc_auc(p, s) == pytest.approx(brute_force_ratio(p, s), abs=1e-12)


def test_expected_auc_equals_brute_force_with_separate_scores():
    rng = np.random.default_rng(1)
    p = rng.beta(2, 5, 300)
    s = np.round(p + rng.normal(0, 0.05, 300), 2)
    assert expected_roc_auc(p, s) == pytest.approx(brute_force_ratio(p, s), abs=1e-12)
    assert expected_roc_auc(p) == pytest.approx(brute_force_ratio(p, p), abs=1e-12)


def test_expected_auc_is_the_mean_realised_auc():
    rng = np.random.default_rng(2)
    p = rng.beta(1.5, 4, 1000)
    draws = np.array([roc_auc_score(rng.random(p.size) < p, p) for _ in range(1000)])
    se = draws.std(ddof=1) / math.sqrt(draws.size)
    assert abs(expected_roc_auc(p) - draws.mean()) < 3 * se
    res = CBPE(n_bootstrap=1000, random_state=3).estimate_performance(p)
    assert res.std_error == pytest.approx(draws.std(ddof=1), rel=0.1)   # SD of the AUC, 1000 draws each
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert abs(res.ci_low - lo) < 0.5 * res.std_error and abs(res.ci_high - hi) < 0.5 * res.std_error


def test_relation_to_nannyml_curve_estimate():
    # NannyML: expected TPR / FPR per threshold, integrated = the weighted AUC of every row
    # once as a positive (weight p) and once as a negative (weight 1 - p)
    rng = np.random.default_rng(4)
    p = rng.beta(2, 3, 500)
    s = np.round(p, 2)
    nanny = roc_auc_score(np.r_[np.ones(p.size), np.zeros(p.size)], np.r_[s, s],
                          sample_weight=np.r_[p, 1 - p])
    big_p, big_q, self_pairs = p.sum(), (1 - p).sum(), (p * (1 - p)).sum()
    ours = expected_roc_auc(p, s)
    assert (ours * (big_p * big_q - self_pairs) + 0.5 * self_pairs) / (big_p * big_q) == \
        pytest.approx(nanny, abs=1e-12)
    assert abs(ours - nanny) < 1e-2


def test_interval_covers_realised_auc():
    """~95% of realised AUCs (labels drawn from the calibrated p) fall in the interval
    computed from the scores alone. 200 replications: the binomial SD of the coverage is
    1.5 points, so the bounds are about 3 SD wide."""
    covered = 0
    for rep in range(200):
        rng = np.random.default_rng(1000 + rep)
        p = rng.beta(1.5, 5, 500)
        res = CBPE(n_bootstrap=200, random_state=rep).estimate_performance(p)
        realised = roc_auc_score(rng.random(p.size) < p, p)
        covered += res.ci_low <= realised <= res.ci_high
    assert 0.90 <= covered / 200 <= 0.99


@pytest.mark.slow
def test_interval_coverage_tight():
    """1000 replications at the default 200 draws: coverage within 0.93-0.97."""
    covered = 0
    for rep in range(1000):
        rng = np.random.default_rng(5000 + rep)
        p = rng.beta(1.5, 5, 2000)
        res = CBPE(n_bootstrap=200, random_state=rep).estimate_performance(p)
        covered += res.ci_low <= roc_auc_score(rng.random(p.size) < p, p) <= res.ci_high
    assert 0.93 <= covered / 1000 <= 0.97


def test_log_loss_rate_and_confusion_matrix():
    rng = np.random.default_rng(6)
    p = rng.uniform(0.01, 0.99, 400)
    rows = np.array([entropy([q, 1 - q]) for q in p])           # natural-log binary entropy
    assert expected_log_loss(p) == pytest.approx(rows.mean(), abs=1e-12)
    res = CBPE(n_bootstrap=500, random_state=0).estimate_performance(p)
    assert res.log_loss == pytest.approx(rows.mean(), abs=1e-12)
    assert res.log_loss_ci_low < res.log_loss < res.log_loss_ci_high
    assert res.positive_rate == pytest.approx(p.mean(), abs=1e-15)
    # confusion matrix against exact enumeration on 8 rows
    q = p[:8]
    cm = expected_confusion_matrix(q, threshold=0.5)
    tp = fn = 0.0
    for y in itertools.product((0, 1), repeat=8):
        y = np.array(y, bool)
        w = np.prod(np.where(y, q, 1 - q))
        tp += w * (y & (q >= 0.5)).sum()
        fn += w * (y & (q < 0.5)).sum()
    assert (cm["tp"], cm["fn"]) == (pytest.approx(tp, abs=1e-12), pytest.approx(fn, abs=1e-12))
    assert cm["tp"] + cm["fp"] + cm["tn"] + cm["fn"] == pytest.approx(8, abs=1e-12)
    assert res.expected_tp + res.expected_fp == pytest.approx((p >= 0.5).sum(), abs=1e-9)


def test_ties_and_degenerate_inputs():
    p = np.random.default_rng(7).uniform(0.1, 0.9, 200)
    assert expected_roc_auc(p, np.zeros(200)) == 0.5
    res = CBPE(n_bootstrap=50).estimate_performance(np.full(100, 0.3))
    assert (res.estimate, res.ci_low, res.ci_high) == (0.5, 0.5, 0.5)
    assert expected_roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    res = CBPE(n_bootstrap=20).estimate_performance(np.ones(5))
    assert math.isnan(res.estimate) and "all are 1" in res.reason and res.n_undefined == 20
    assert math.isnan(expected_roc_auc([0.5]))


def test_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="`y_prob`"):
        expected_roc_auc([0.2, 1.3])
    with pytest.raises(ValueError, match="`y_prob`"):
        CBPE().estimate_performance([0.2, np.nan])
    with pytest.raises(ValueError, match="length mismatch"):
        CBPE().estimate_performance([0.2, 0.4], y_score=[1.0])
    with pytest.raises(ValueError, match="`n_bootstrap`"):
        CBPE(n_bootstrap=-1)
    with pytest.raises(ValueError, match="`alpha`"):
        CBPE(alpha=1.5)
    with pytest.raises(ValueError, match="`random_state`"):
        CBPE(random_state="x")


def test_same_seed_same_interval_and_to_dict():
    p = np.random.default_rng(8).beta(2, 5, 300)
    a = CBPE(n_bootstrap=100, random_state=5).estimate_performance(p)
    b = CBPE(n_bootstrap=100, random_state=5).estimate_performance(p)
    assert a == b
    d = a.to_dict()
    assert d["estimate"] == a.estimate and d["n"] == 300 and d["method"] == "bernoulli_simulation"
