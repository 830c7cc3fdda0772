"""Integration: the delayed-feedback marts (fct_conversion_delay, fct_cvr_by_day,
fct_delayed_feedback_backtest) on the tiny simulated world, against the simulator's delay
mixture, the world's eventual labels and the world's own later labels."""
from __future__ import annotations

import json
from dataclasses import replace

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


# The tiny world's 8 days cannot hold a 7-day window both before and after a cut (the curve
# at the cut needs clicks whose window had closed, the final labels a window after it), so
# the backtest build shortens the window to 3 days and cuts 4 days before the data's end.
BACKTEST_VARS = {**TINY_VARS, "attribution_window_days": 3, "delay_backtest_horizon_days": 4}
BACKTEST_CUT = pd.Timestamp("2026-09-05")


def test_default_backtest_cut_precedes_the_tiny_world(tiny_warehouse):
    # 14 days before the data's end: no click yet, so an empty backtest with its columns
    assert tiny_warehouse.query("select count(*) as n from main.int_delayed__clicks_at_cut").n[0] == 0
    assert len(tiny_warehouse.query("select * from main.fct_delayed_feedback_backtest")) == 0


@pytest.fixture(scope="module")
def backtest_warehouse(tiny_world, tmp_path_factory):
    warehouse = Warehouse(tmp_path_factory.mktemp("backtest"), tiny_world / "raw", BACKTEST_VARS)
    warehouse.dbt("seed")
    warehouse.dbt("run", "--select", "+fct_delayed_feedback_backtest", "fct_cvr_by_day")
    return warehouse


def test_backtest_corrects_the_last_days_before_the_cut_towards_their_final_rates(backtest_warehouse):
    rows = backtest_warehouse.query(
        "select * from main.fct_delayed_feedback_backtest where segment_type = 'all' and click_date is not null")
    assert (rows.cut_at == BACKTEST_CUT).all()
    by_method = {method: days.set_index("click_date") for method, days in rows.groupby("method")}
    naive, survival = by_method["naive"], by_method["survival_reweighting"]
    # the days whose 3-day window was open at the cut, each with its final rate now
    assert naive.index.tolist() == list(pd.date_range("2026-09-02", "2026-09-04"))
    assert naive.final_cvr.notna().all() and naive.final_cvr.equals(survival.final_cvr)
    # the final rates are fct_cvr_by_day's naive rates of those (now mature) days
    by_day = backtest_warehouse.query(ALL_BY_DAY).set_index("click_date").loc[naive.index]
    assert (by_day.label_maturity == "mature").all()
    assert naive.final_cvr.tolist() == by_day.naive_cvr.tolist()
    assert naive.n_clicks.tolist() == by_day.n_clicks.tolist()
    # where the naive rate is more than 10% below the final one (with a 3-day window, the
    # last day: 17%), the corrected rate is nearer it
    low = naive[naive.estimate < 0.9 * naive.final_cvr]
    assert len(low) >= 1 and low.index.max() == BACKTEST_CUT - pd.Timedelta(days=1)
    for day in low.index:
        assert abs(survival.error[day]) < abs(naive.error[day]), day


def test_without_delayed_feedback_every_corrected_figure_is_the_naive_one(tmp_path_factory):
    """A world whose purchases follow their clicks by a second (simulate
    delayed_feedback=False): nothing is still to come, so the correction changes nothing."""
    out = tmp_path_factory.mktemp("no_delay_world")
    simulate(replace(get_preset("tiny"), delayed_feedback=False), SEED, out)
    warehouse = Warehouse(tmp_path_factory.mktemp("no_delay_warehouse"), out / "raw", TINY_VARS)
    warehouse.dbt("seed")
    warehouse.dbt("run", "--select", "+fct_cvr_by_day")
    days = warehouse.query("""
        select count(*) as n, count(corrected_cvr) as estimated, max(expected_share_to_come) as to_come,
               count(*) filter (where corrected_cvr is distinct from naive_cvr
                                or corrected_std_error is distinct from naive_std_error
                                or corrected_ci_low is distinct from naive_ci_low
                                or corrected_ci_high is distinct from naive_ci_high) as differing
        from main.fct_cvr_by_day""").iloc[0]
    assert days.n > 100 and days.estimated == days.n
    assert days.differing == 0 and days.to_come == 0
