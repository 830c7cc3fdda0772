"""Counterfactual-evaluation marts (issue 5) on the session's tiny build (seed 7).

The mart's numbers are recomputed here with the package's estimators from the mart's own
inputs, the logging policy's on-policy row is checked against the observed rate, and the
estimates against the simulator's exact policy values (truth/policy_values.parquet).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from receval import ope
from receval.simulate.experiments import window_probabilities

KEY = ["policy_id", "estimator", "reward", "day", "segment"]


@pytest.fixture(scope="module")
def estimates(tiny_warehouse) -> pd.DataFrame:
    return tiny_warehouse.query("select * from main.fct_policy_value_estimates")


@pytest.fixture(scope="module")
def truth(tiny_world) -> pd.DataFrame:
    return pd.read_parquet(tiny_world / "truth" / "policy_values.parquet")


def overall(estimates: pd.DataFrame, policy: str, reward: str, estimator: str) -> pd.Series:
    row = estimates[(estimates.policy_id == policy) & (estimates.reward == reward)
                    & (estimates.estimator == estimator) & (estimates.day == "all") & (estimates.segment == "all")]
    assert len(row) == 1, (policy, reward, estimator)
    return row.iloc[0]


def test_grain_builtin_policies_and_diagnostics_present(estimates):
    assert not estimates.duplicated(KEY).any()
    assert {"uniform_random", "prod_v1", "popularity"} <= set(estimates.policy_id)
    assert set(estimates.estimator) == {"ips", "clipped_ips", "snips", "dm", "dr", "sndr"}
    assert set(estimates.reward) == {"click", "purchase", "revenue"}
    assert {"all"} < set(estimates.day) and {"all"} < set(estimates.segment)
    main = estimates[estimates.n_slots > 0]
    assert (main.n_requests > 0).all() and (main.n_slots >= main.n_requests).all()
    assert np.isfinite(main.std_error).all() and (main.ci_low <= main.estimate).all()
    weighted = main[main.estimator != "dm"]
    assert np.isfinite(weighted.effective_sample_size).all() and (weighted.effective_sample_size <= weighted.n_slots + 1e-6).all()
    boot = main[(main.day == "all") & (main.segment == "all")]
    assert (boot.n_bootstrap > 0).all() and np.isfinite(boot.bootstrap_ci_low).all()


def test_candidate_set_size_is_recovered(tiny_warehouse, tiny_cfg):
    c = tiny_warehouse.query("select * from main.int_cf__candidate_set_size")
    assert int(c.candidate_set_size.iloc[0]) == tiny_cfg.n_candidates


def test_uniform_random_estimates_equal_the_package_recomputed(tiny_warehouse, estimates):
    slots = tiny_warehouse.query(
        "select * from main.int_cf__policy_slots where policy_id = 'uniform_random' "
        "and has_support and is_click_label_mature")
    r, pl, pt, g = slots.click.to_numpy(), slots.p_log.to_numpy(), slots.p_target.to_numpy(), slots.request_id.to_numpy()
    # every uniform-random weight is (1/C) / mu
    assert np.allclose(pt, 1 / 30)
    for estimator, res in (
        ("ips", ope.IPS().estimate_policy_value(r, pl, pt, group_ids=g)),
        ("clipped_ips", ope.IPS(clip=20).estimate_policy_value(r, pl, pt, group_ids=g)),
        ("snips", ope.SNIPS().estimate_policy_value(r, pl, pt, group_ids=g)),
    ):
        row = overall(estimates, "uniform_random", "click", estimator)
        assert row.estimate == pytest.approx(res.estimate, rel=1e-9)
        assert row.std_error == pytest.approx(res.std_error, rel=1e-9)
        assert row.effective_sample_size == pytest.approx(res.effective_sample_size, rel=1e-9)
        assert row.max_weight == pytest.approx(res.max_weight, rel=1e-9)
        assert row.n_slots == len(slots) and row.n_requests == len(np.unique(g))
    # IPS by hand: mean of w * r over the slots
    assert overall(estimates, "uniform_random", "click", "ips").estimate == pytest.approx(np.mean(pt / pl * r), rel=1e-9)


def test_logging_policy_on_policy_row_is_the_observed_rate(tiny_warehouse, estimates):
    observed = tiny_warehouse.query(
        "select avg(cast(is_clicked as double)) as click, count(*) as n from main.fct_impression_labels "
        "where model_id = 'prod_v1' and propensity is not null and is_click_label_mature").iloc[0]
    for estimator in ("ips", "snips", "dr", "sndr"):
        row = overall(estimates, "prod_v1", "click", estimator)
        assert row.estimate == pytest.approx(observed.click, rel=1e-9)
        assert row.n_slots == observed.n
        if estimator != "dr":
            assert row.mean_weight == pytest.approx(1.0) and row.max_weight == pytest.approx(1.0)


def test_estimates_cover_the_true_policy_values(estimates, truth):
    """SNIPS and DR on click rate: the exact value lies in the 95% interval (enough data)."""
    checked = 0
    for policy in ("uniform_random", "prod_v1", "popularity"):
        true = truth[(truth.policy_id == policy) & (truth.reward == "click") & (truth.day == "all")].true_value.iloc[0]
        for estimator in ("snips", "dr"):
            row = overall(estimates, policy, "click", estimator)
            if row.n_requests < 300:
                continue
            assert row.ci_low <= true <= row.ci_high, (policy, estimator, row.estimate, true)
            checked += 1
    assert checked >= 4


def test_truth_policy_values_are_exact(tiny_world, tiny_cfg, truth):
    cand = pd.read_parquet(tiny_world / "truth" / "candidates.parquet")
    q_w, _ = window_probabilities(tiny_cfg)
    theta = np.arange(1, tiny_cfg.k + 1) ** -tiny_cfg.examine_eta
    uniform = cand.groupby("request_id").attract.mean().mean() * theta.mean() * q_w
    row = truth[(truth.policy_id == "uniform_random") & (truth.reward == "click") & (truth.day == "all")]
    assert row.true_value.iloc[0] == pytest.approx(uniform, rel=1e-12)
    # prod_v1's value with eps = 1 would be the uniform one; greedy is better than uniform
    prod = truth[(truth.policy_id == "prod_v1") & (truth.reward == "click") & (truth.day == "all")].true_value.iloc[0]
    assert prod > uniform
    assert set(truth.reward) == {"click", "purchase", "revenue"}


def test_propensity_diagnostics(tiny_warehouse):
    diag = tiny_warehouse.query("select * from main.fct_propensity_diagnostics")
    shares = diag.groupby("model_id").share_of_model_impressions.sum()
    assert np.allclose(shares, 1.0)
    src = diag.set_index(["model_id", "propensity_source"])
    assert ("prod_v1", "logged") in src.index and ("uniform_random", "logged") in src.index
    assert ("fallback_popular", "estimated") in src.index and ("interleaved", "estimated") in src.index
    # the popularity fallback is deterministic: the fitted propensity model recovers 1
    assert src.loc[("fallback_popular", "estimated"), "median_propensity"] == pytest.approx(1.0)
    assert src.loc[("uniform_random", "logged"), "max_propensity"] == pytest.approx(1 / 30)
