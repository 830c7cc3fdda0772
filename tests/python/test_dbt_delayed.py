"""Integration: the delayed-feedback marts (fct_conversion_delay, fct_cvr_by_day) on the tiny
simulated world, against the simulator's delay mixture and the world's eventual labels."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import SEED
from dbt_runner import TINY_VARS, Warehouse
from receval.simulate import get_preset, simulate

pytestmark = pytest.mark.dbt

CUT = "2026-09-08"  # the tiny world's last day; the longer world below goes on for 8 more

ALL_BY_DAY = "select * from main.fct_cvr_by_day where segment_type = 'all' order by click_date"


def test_share_within_a_day_covers_the_simulators_delay_mixture(tiny_warehouse, tiny_world):
    config = json.loads((tiny_world / "truth" / "world.json").read_text())["config"]
    fast, mid, _ = config["purchase_delay_shares"]
    # the fast component is capped below a day, the middle one is uniform on 1-7 d and the
    # slow one lies beyond the 7-day window, so F(1 d) = P(D <= 1 d | D <= W) = fast / (fast + mid)
    assert config["attribution_window_days"] == 7
    truth = fast / (fast + mid)
    row = tiny_warehouse.query(
        "select * from main.fct_conversion_delay "
        "where segment_type = 'all' and statistic = 'share_within' and horizon_hours = 24").iloc[0]
    assert row.ci_low <= truth <= row.ci_high, (row.value, row.ci_low, row.ci_high, truth)
    assert row.n_purchases > 100 and row.reason is None
    week = tiny_warehouse.query("select value from main.fct_conversion_delay "
                                "where segment_type = 'all' and horizon_hours = 168")
    assert week.value.tolist() == [1.0]  # F(W) = 1 by definition


def test_mature_days_are_final_and_uncorrected(tiny_warehouse):
    days = tiny_warehouse.query("select * from main.fct_cvr_by_day")
    mature = days[days.label_maturity == "mature"]
    assert len(mature[mature.segment_type == "all"]) >= 1
    for column in ("corrected_cvr", "final_cvr"):
        pd.testing.assert_series_equal(mature[column], mature.naive_cvr, check_names=False)
    # NaN where a segment-day has one user: equal, NaN for NaN
    pd.testing.assert_series_equal(mature.corrected_std_error, mature.naive_std_error, check_names=False)
    assert (mature.expected_share_to_come == 0).all()
    later = days[days.label_maturity != "mature"]
    assert later.final_cvr.isna().all() and (later.corrected_cvr >= later.naive_cvr).all()
    # every clicked impression is counted once per segment type
    clicked = tiny_warehouse.query("select count(*) as n from main.fct_impression_labels where is_clicked").n[0]
    assert (days.groupby("segment_type").n_clicks.sum() == clicked).all()


@pytest.fixture(scope="module")
def cut_world(tmp_path_factory):
    """A tiny world of 16 days landed until its 8th: the warehouse sees the first 8 days,
    and the truth labels every click with the purchases of the 8 days after (its eventual
    label, once the attribution window has closed)."""
    out = tmp_path_factory.mktemp("cut_world")
    simulate(get_preset("tiny", main_days=14), SEED, out, until=CUT)
    warehouse = Warehouse(out / "warehouse", out / "raw", TINY_VARS)
    warehouse.dbt("seed")
    warehouse.dbt("run", "--select", "+fct_cvr_by_day")
    return warehouse, pd.read_parquet(out / "truth" / "impressions.parquet", columns=["event_id", "converted"])


def test_corrected_rate_recovers_the_eventual_rate_of_recent_days(cut_world):
    warehouse, truth = cut_world
    clicks = warehouse.query("select event_id, click_date from main.int_delayed__clicks")
    labelled = clicks.merge(truth, on="event_id", validate="one_to_one")
    assert len(labelled) == len(clicks)
    eventual = labelled.groupby("click_date").converted.mean()
    days = warehouse.query(ALL_BY_DAY).set_index("click_date")
    days["eventual"] = eventual
    low = days[days.naive_cvr < 0.8 * days.eventual]  # the naive rate is more than 20% low
    assert len(low) >= 1 and low.index.max() == pd.Timestamp(CUT)
    for day, row in low.iterrows():
        assert row.corrected_ci_low <= row.eventual <= row.corrected_ci_high, (day, row.to_dict())
        assert abs(row.corrected_cvr - row.eventual) < abs(row.naive_cvr - row.eventual), day
