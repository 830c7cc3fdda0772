"""receval.metrics.report: the full classification metric set in one call."""

import math

import numpy as np
import pytest

from receval.metrics.report import classification_metrics


def test_report_values_match_individual_functions():
    from receval.metrics import average_precision, brier_score, log_loss, roc_auc
    rng = np.random.default_rng(4)
    n = 20_000
    g = np.repeat(np.arange(n // 10), 10)
    p = np.round(rng.beta(1, 8, n), 2)
    y = (rng.random(n) < p).astype(int)
    pb = np.clip(np.round(p + rng.normal(0, 0.03, n), 2), 0, 1)
    rep = classification_metrics(y, p, y_prob_baseline=pb, group_ids=g, n_bootstrap=60, random_state=2)
    assert rep["roc_auc"].value == pytest.approx(roc_auc(y, p).value, abs=1e-12)
    same = roc_auc(y, p, group_ids=g, n_bootstrap=60, random_state=2)
    assert rep["roc_auc"].std_error == pytest.approx(same.std_error, rel=1e-9)
    ap = average_precision(y, p, group_ids=g, n_bootstrap=60, random_state=2)
    assert rep["average_precision"].std_error == pytest.approx(ap.std_error, rel=1e-9)
    assert rep["log_loss"].value == pytest.approx(log_loss(y, p).value)
    assert rep["brier_score"].value == pytest.approx(brier_score(y, p).value)
    assert rep["delta_roc_auc"].value == pytest.approx(roc_auc(y, p).value - roc_auc(y, pb).value)
    for r in rep.values():
        assert r.n == n and r.is_defined, r
    rep0 = classification_metrics(y, p, n_bootstrap=0)
    assert rep0["roc_auc"].method == "delong"


def test_report_single_class_does_not_crash():
    rep = classification_metrics(np.zeros(20, int), np.full(20, 0.2), n_bootstrap=10)
    assert math.isnan(rep["roc_auc"].value) and rep["roc_auc"].reason
    assert math.isnan(rep["average_precision"].value)
    assert rep["brier_score"].value == pytest.approx(0.04)
    rep = classification_metrics([], [])
    assert all(math.isnan(r.value) for r in rep.values())
