"""Uncertainty helpers and the full metric report."""

import math

import numpy as np
import pytest

from receval.metrics import bootstrap_over_groups, mean_with_clt, paired_mean_delta
from receval.metrics.report import classification_metrics
from receval.metrics.uncertainty import bootstrap_count_batches, bootstrap_group_counts


def test_bootstrap_counts_seeded_and_batches_identical():
    a = list(bootstrap_group_counts(50, 10, seed=3))
    b = np.concatenate(list(bootstrap_count_batches(50, 10, seed=3, batch=4)))
    assert np.array_equal(np.stack(a), b)
    assert all(c.sum() == 50 for c in a)


def test_bootstrap_over_groups_mean_matches_clt():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(500), 4)
    v = rng.normal(size=500)[g] + rng.normal(size=g.size)
    reps = bootstrap_over_groups(lambda w: (w @ v) / w.sum(), g, n_boot=400, seed=1)
    clt = mean_with_clt(v, clusters=g)
    assert clt.method == "clt_cluster" and clt.n_groups == 500
    assert reps.std(ddof=1) == pytest.approx(clt.std_error, rel=0.15)
    naive = mean_with_clt(v)
    assert naive.std_error < clt.std_error  # clustering matters here


def test_mean_with_clt_excludes_nan_and_paired_delta():
    r = mean_with_clt([1.0, np.nan, 3.0])
    assert r.value == 2.0 and r.n == 2 and r.n_excluded == 1
    d = paired_mean_delta([1.0, 2.0, 3.0, np.nan], [0.5, 2.5, 2.0, 1.0])
    assert d.value == pytest.approx(np.mean([0.5, -0.5, 1.0])) and d.n == 3
    assert math.isnan(mean_with_clt([]).value)


def test_report_values_match_individual_functions():
    from receval.metrics import average_precision, brier_score, log_loss, roc_auc
    rng = np.random.default_rng(4)
    n = 20_000
    g = np.repeat(np.arange(n // 10), 10)
    p = np.round(rng.beta(1, 8, n), 2)
    y = (rng.random(n) < p).astype(int)
    pb = np.clip(np.round(p + rng.normal(0, 0.03, n), 2), 0, 1)
    rep = classification_metrics(y, p, y_prob_baseline=pb, groups=g, n_boot=60, seed=2)
    assert rep["roc_auc"].value == pytest.approx(roc_auc(y, p).value, abs=1e-12)
    same = roc_auc(y, p, groups=g, n_boot=60, seed=2)
    assert rep["roc_auc"].std_error == pytest.approx(same.std_error, rel=1e-9)
    ap = average_precision(y, p, groups=g, n_boot=60, seed=2)
    assert rep["average_precision"].std_error == pytest.approx(ap.std_error, rel=1e-9)
    assert rep["log_loss"].value == pytest.approx(log_loss(y, p).value)
    assert rep["brier_score"].value == pytest.approx(brier_score(y, p).value)
    assert rep["delta_roc_auc"].value == pytest.approx(roc_auc(y, p).value - roc_auc(y, pb).value)
    for r in rep.values():
        assert r.n == n and r.is_defined, r
    rep0 = classification_metrics(y, p, n_boot=0)
    assert rep0["roc_auc"].method == "delong"


def test_report_single_class_does_not_crash():
    rep = classification_metrics(np.zeros(20, int), np.full(20, 0.2), n_boot=10)
    assert math.isnan(rep["roc_auc"].value) and rep["roc_auc"].reason
    assert math.isnan(rep["average_precision"].value)
    assert rep["brier_score"].value == pytest.approx(0.04)
    rep = classification_metrics([], [])
    assert all(math.isnan(r.value) for r in rep.values())
