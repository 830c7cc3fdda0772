"""Integration: fct_offline_online_gap of the session's tiny world carries the source marts'
own figures (fct_offline_metrics, fct_policy_value_estimates, fct_interleaving_results),
turned to the candidate's side, and its flags are the sign comparisons they claim."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.dbt

GRAIN = ["candidate_model_id", "baseline_model_id", "metric", "online_source"]


@pytest.fixture(scope="module")
def gap(tiny_warehouse):
    return tiny_warehouse.query("select * from main.fct_offline_online_gap")


def test_grain_and_pairs(gap):
    assert not gap.duplicated(GRAIN).any()
    # the tiny world: the shadow challenger is interleaved against prod_v1; the candidates
    # have offline and OPE sides only (exp_ranker's arms both log prod_v1: no model pair)
    pairs = gap.groupby(["candidate_model_id", "baseline_model_id"]).online_source.agg(set).to_dict()
    assert pairs == {("challenger_v1", "prod_v1"): {"interleaving"}, ("mmoe", "prod_v1"): {"none"},
                     ("popularity", "prod_v1"): {"none"}, ("xgboost", "prod_v1"): {"none"}}
    assert set(gap.metric) == {"click", "purchase"}


def test_challenger_row_carries_the_source_marts_values(tiny_warehouse, gap):
    row = gap[(gap.candidate_model_id == "challenger_v1") & (gap.metric == "click")].iloc[0]
    offline = tiny_warehouse.query("""
        select value, std_error, ci_low, ci_high, n from main.fct_offline_metrics
        where model_id = 'challenger_v1' and baseline_model_id = 'prod_v1' and task = 'click'
          and split = 'test' and segment_type = 'all' and period = 'overall' and metric = 'delta_ndcg@10'""").iloc[0]
    assert (row.offline_delta, row.offline_std_error, row.offline_ci_low, row.offline_ci_high, row.offline_n) == (
        offline.value, offline.std_error, offline.ci_low, offline.ci_high, offline.n)
    inter = tiny_warehouse.query("select * from main.fct_interleaving_results where outcome = 'clicks'").iloc[0]
    assert (inter.team_a_model, inter.team_b_model) == ("prod_v1", "challenger_v1")
    # preference favours team A (prod_v1): the challenger's is its negative, the interval mirrored
    assert (row.online_delta, row.online_ci_low, row.online_ci_high) == (-inter.preference, -inter.ci_high, -inter.ci_low)
    assert (row.online_p_value, row.online_n, row.online_estimator) == (inter.p_value, inter.n_requests, "preference")
    # the challenger only shadows: no OPE policy, the side is null with its reason
    assert np.isnan(row.ope_delta) and row.ope_reason.startswith("no OPE target policy challenger_v1")


def test_ope_side_matches_the_policy_cells(tiny_warehouse, gap):
    row = gap[(gap.candidate_model_id == "xgboost") & (gap.metric == "click")].iloc[0]
    cells = tiny_warehouse.query("""
        select policy_id, day, estimate, std_error, ci_low, ci_high, n_slots
        from main.fct_policy_value_estimates
        where estimator = 'dr' and reward = 'click' and segment = 'all'
          and policy_id in ('xgboost_top_k', 'prod_v1')""")
    target = cells[(cells.policy_id == "xgboost_top_k") & (cells.day == "all")].iloc[0]
    days = cells[(cells.policy_id == "xgboost_top_k") & (cells.day != "all") & (cells.n_slots > 0)]
    base = days[["day", "n_slots"]].merge(cells[cells.policy_id == "prod_v1"], on="day", suffixes=("", "_base"))
    assert len(base) == len(days) == row.ope_n_days > 0
    w = base.n_slots / base.n_slots.sum()                     # the target's slots per day
    assert row.ope_target_value == target.estimate and row.ope_n_slots == target.n_slots
    assert row.ope_baseline_value == pytest.approx((w * base.estimate).sum(), rel=1e-12)
    assert row.ope_delta == pytest.approx(target.estimate - (w * base.estimate).sum(), rel=1e-12)
    assert row.ope_std_error == pytest.approx(target.std_error + (w * base.std_error).sum(), rel=1e-12)
    assert row.ope_ci_low == pytest.approx(target.ci_low - (w * base.ci_high).sum(), rel=1e-12)
    assert row.ope_ci_high == pytest.approx(target.ci_high - (w * base.ci_low).sum(), rel=1e-12)


def test_flags_are_the_sign_comparisons(gap):
    def better(delta):                                         # every tiny-world delta is higher-is-better
        return np.sign(delta)

    def same(a, b):
        known = ~(np.isnan(a) | np.isnan(b))
        return np.where(known, (better(a) == better(b)).astype(float), np.nan)

    for flag, (a, b) in {"offline_agrees_online": ("offline_delta", "online_delta"),
                         "ope_agrees_online": ("ope_delta", "online_delta"),
                         "offline_agrees_ope": ("offline_delta", "ope_delta")}.items():
        expected = same(gap[a].to_numpy(float), gap[b].to_numpy(float))
        np.testing.assert_array_equal(gap[flag].astype("float").to_numpy(), expected, err_msg=flag)
    for side in ["offline", "ope", "online"]:
        lo, hi = gap[f"{side}_ci_low"].to_numpy(float), gap[f"{side}_ci_high"].to_numpy(float)
        expected = np.where(np.isnan(lo), np.nan, ((lo > 0) | (hi < 0)).astype(float))
        np.testing.assert_array_equal(gap[f"{side}_significant"].astype("float").to_numpy(), expected, err_msg=side)
    # not vacuous: the challenger has offline and online sides, the candidates offline and OPE
    assert gap.offline_agrees_online.notna().any() and gap.offline_agrees_ope.notna().any()
