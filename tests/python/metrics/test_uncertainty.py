"""receval.metrics.uncertainty: the group bootstrap, CLT means and paired deltas."""

import math

import numpy as np
import pytest

from receval.metrics import bootstrap_over_groups, mean_with_clt, paired_mean_delta
from receval.metrics.uncertainty import bootstrap_count_batches, bootstrap_group_counts


def test_bootstrap_counts_seeded_and_batches_identical():
    a = list(bootstrap_group_counts(50, 10, random_state=3))
    b = np.concatenate(list(bootstrap_count_batches(50, 10, random_state=3, batch=4)))
    assert np.array_equal(np.stack(a), b)
    assert all(c.sum() == 50 for c in a)


def test_bootstrap_over_groups_mean_matches_clt():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(500), 4)
    v = rng.normal(size=500)[g] + rng.normal(size=g.size)
    reps = bootstrap_over_groups(lambda w: (w @ v) / w.sum(), g, n_bootstrap=400, random_state=1)
    clt = mean_with_clt(v, group_ids=g)
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


def test_alpha_sets_the_interval_and_a_generator_is_a_random_state():
    x = np.random.default_rng(5).normal(size=400)
    r95, r90 = mean_with_clt(x), mean_with_clt(x, alpha=0.10)
    assert r95.alpha == 0.05 and r90.alpha == 0.10
    assert r95.ci_low < r90.ci_low < r90.ci_high < r95.ci_high
    g = np.random.default_rng(7)
    a = np.stack(list(bootstrap_group_counts(30, 5, random_state=g)))
    assert a.shape == (5, 30) and not np.array_equal(a, np.stack(list(bootstrap_group_counts(30, 5, random_state=g))))
