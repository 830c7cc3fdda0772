"""Integration: fct_policy_value_estimates' delay-corrected rewards (purchase_corrected,
revenue_corrected) on the tiny world landed to its 8th day, against the truth's eventual
labels of the same slots."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import CUT

pytestmark = pytest.mark.dbt

REWARDS = {"purchase_corrected": ("purchase", "converted"), "revenue_corrected": ("revenue", "eventual_revenue")}


@pytest.fixture(scope="module")
def slots(cut_world) -> pd.DataFrame:
    """The supported slots of the logging policy (on-policy: every weight 1) and of
    uniform_random, with their eventual labels and importance weights."""
    warehouse, truth = cut_world
    frame = warehouse.query(
        "select policy_id, event_id, impression_date, p_log, p_target, purchase, revenue, is_label_mature, "
        "arrival_probability from main.int_cf__policy_slots "
        "where has_support and policy_id in ('prod_v1', 'uniform_random')")
    frame = frame.merge(truth.rename(columns={"revenue": "eventual_revenue"}), on="event_id",
                        how="left", validate="many_to_one")
    assert frame.converted.notna().all()
    frame["weight"] = frame.p_target / frame.p_log
    frame["day"] = frame.impression_date.astype(str)
    return frame


def _ips(frame: pd.DataFrame, column: str) -> pd.Series:
    """IPS per day and over all days of ``column`` (the mean weighted reward of the slots)."""
    weighted = frame.weight * frame[column].astype(float)
    return pd.concat([weighted.groupby(frame.day).mean(), pd.Series({"all": weighted.mean()})])


@pytest.mark.parametrize("policy", ["prod_v1", "uniform_random"])
@pytest.mark.parametrize("reward", list(REWARDS))
def test_corrected_ips_recovers_the_eventual_value_of_recent_days(cut_world, slots, policy, reward):
    """Per day where the naive value (purchases seen, immature slots included) is more than
    20% below the eventual one (the same IPS with the truth's labels), the corrected IPS
    interval covers the eventual value and the corrected estimate is nearer it; over all
    days the corrected estimate removes most of the naive shortfall."""
    warehouse, _ = cut_world
    seen, eventual = REWARDS[reward]
    mine = slots[slots.policy_id == policy]
    days = pd.DataFrame({"naive": _ips(mine, seen), "eventual": _ips(mine, eventual)})
    rows = warehouse.query(f"""
        select day, estimate, ci_low, ci_high, n_slots, label_maturity, expected_share_to_come
        from main.fct_policy_value_estimates
        where policy_id = '{policy}' and reward = '{reward}' and estimator = 'ips' and segment = 'all'""")
    days = days.join(rows.set_index("day"), how="inner")
    assert (days.n_slots == mine.groupby("day").size().reindex(days.index).fillna(len(mine))).all()
    low = days[(days.naive < 0.8 * days.eventual) & (days.index != "all")]
    assert len(low) >= 1 and str(CUT) in low.index, days
    for day, row in low.iterrows():
        assert row.label_maturity == "immature" and row.expected_share_to_come > 0.1, (day, row.to_dict())
        assert row.ci_low <= row.eventual <= row.ci_high, (day, row.to_dict())
        assert abs(row.estimate - row.eventual) < abs(row.naive - row.eventual), (day, row.to_dict())
    overall = days.loc["all"]
    assert overall.label_maturity == "partial"
    assert abs(overall.estimate - overall.eventual) < 0.5 * abs(overall.naive - overall.eventual), overall.to_dict()
    # the youngest day has the most still to come
    assert days.drop("all").expected_share_to_come.idxmax() == str(CUT)


def test_logging_policy_on_policy_corrected_row_is_the_mean_corrected_reward(cut_world, slots):
    """prod_v1's weights are all 1: its corrected IPS is the mean of y / arrival over its
    slots (y on the mature ones)."""
    warehouse, _ = cut_world
    mine = slots[slots.policy_id == "prod_v1"]
    weight = mine.arrival_probability.where(~mine.is_label_mature & (mine.purchase > 0), 1.0)
    row = warehouse.query("select estimate, n_slots from main.fct_policy_value_estimates where policy_id = 'prod_v1' "
                          "and reward = 'purchase_corrected' and estimator = 'ips' and day = 'all' "
                          "and segment = 'all'").iloc[0]
    assert row.estimate == pytest.approx((mine.purchase / weight).mean(), rel=1e-9)
    assert row.n_slots == len(mine)


def test_candidate_policies_evaluated_on_immature_days_get_corrected_rows(cut_world):
    """The candidate models' policies are evaluated on the test split (its newest days, all
    immature): no plain purchase row, a corrected one with label_maturity immature."""
    warehouse, _ = cut_world
    rows = warehouse.query("select * from main.fct_policy_value_estimates "
                           "where policy_id like '%\\_top\\_k' escape '\\' or policy_id like '%\\_softmax' escape '\\'")
    assert {"xgboost_top_k", "xgboost_softmax", "mmoe_top_k"} <= set(rows.policy_id)
    for policy, mine in rows.groupby("policy_id"):
        assert not {"purchase", "revenue"} & set(mine.reward), policy
        corrected = mine[mine.reward.isin(list(REWARDS))]
        overall = corrected[(corrected.day == "all") & (corrected.segment == "all")]
        assert set(overall.reward) == set(REWARDS), policy
        assert (corrected.label_maturity == "immature").all(), policy
        ips = overall[overall.estimator == "ips"]
        assert ips.estimate.notna().all() and (ips.n_slots > 0).all() and (ips.expected_share_to_come > 0).all()
        assert (ips.n_bootstrap == 0).all() and ips.bootstrap_ci_low.isna().all()   # analytic interval only
    # plain rows: mature, without a share to come
    plain = warehouse.query("select label_maturity, expected_share_to_come from main.fct_policy_value_estimates "
                            "where reward in ('click', 'purchase', 'revenue')")
    assert (plain.label_maturity == "mature").all() and plain.expected_share_to_come.isna().all()
