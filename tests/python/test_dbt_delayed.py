"""Integration: the delayed-feedback marts (fct_conversion_delay, fct_cvr_by_day,
fct_delayed_feedback_backtest) on the tiny simulated world, against the simulator's delay
mixture, the world's eventual labels and the world's own later labels."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import CUT, SEED
from dbt_runner import TINY_VARS, Warehouse
from receval.simulate import get_preset, simulate

pytestmark = pytest.mark.dbt

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
    # the prediction interval of each immature day's final rate holds that day's eventual
    # rate (7 of 7 here), at about half the width of the interval for the expected rate
    immature = days[days.label_maturity != "mature"]
    assert len(immature) == 7
    assert ((immature.final_cvr_prediction_low <= immature.eventual)
            & (immature.eventual <= immature.final_cvr_prediction_high)).all(), immature
    width = (immature.final_cvr_prediction_high - immature.final_cvr_prediction_low) \
        / (immature.corrected_ci_high - immature.corrected_ci_low)
    assert (width < 0.8).all(), width


def test_offline_conversion_rate_of_recent_days_is_corrected(cut_world):
    """fct_offline_metrics' daily conversion cells of the served model: where the naive rate
    is more than 20% below the eventual one, the corrected interval covers it."""
    warehouse, truth = cut_world
    served = warehouse.query("select model_id, event_id, impression_date from main.int_offline__scored_impressions "
                             "where score_source = 'served' and task = 'conversion'")
    eventual = served.merge(truth, on="event_id", validate="one_to_one").groupby("impression_date").converted.mean()
    cells = warehouse.query(f"""
        select impression_date, metric, value, ci_low, ci_high, label_maturity, expected_share_to_come
        from main.fct_offline_metrics
        where model_id = '{served.model_id[0]}' and task = 'conversion' and segment_type = 'all'
          and period = 'day' and metric in ('conversion_rate_naive', 'conversion_rate_corrected')""")
    naive = cells[cells.metric == "conversion_rate_naive"].set_index("impression_date")
    corrected = cells[cells.metric == "conversion_rate_corrected"].set_index("impression_date")
    assert set(corrected.label_maturity) <= {"partial", "immature"} and corrected.value.notna().all()
    low = naive.index[naive.value < 0.8 * eventual[naive.index]]
    assert len(low) >= 1 and low.max() == pd.Timestamp(CUT)
    for day in low:
        row, truth_rate = corrected.loc[day], eventual[day]
        assert row.ci_low <= truth_rate <= row.ci_high, (day, row.to_dict(), truth_rate)
        assert abs(row.value - truth_rate) < abs(naive.value[day] - truth_rate), day
    # the younger the day, the more of its purchases are still to come
    assert (corrected.expected_share_to_come > 0).all()
    assert corrected.expected_share_to_come.idxmax() == pd.Timestamp(CUT)


def test_experiment_revenue_counts_the_purchases_still_to_come(cut_world):
    """Per experiment arm, the mean of revenue_corrected against the users' eventual
    revenue (their window's impressions with the truth's attributed revenue), and the
    corrected CUPED effect of revenue_per_user against the eventual difference."""
    warehouse, truth = cut_world
    users = warehouse.query("select experiment_id, variant, user_id, first_exposure_at, window_end_at, "
                            "revenue, revenue_corrected from main.fct_experiment_user_metrics")
    labels = warehouse.query("select event_id, user_id, impression_ts from main.int_labels__impressions")
    window = users.merge(labels, on="user_id")
    window = window[(window.impression_ts >= window.first_exposure_at) & (window.impression_ts < window.window_end_at)]
    window = window.merge(truth[["event_id", "revenue"]].rename(columns={"revenue": "eventual"}), on="event_id")
    eventual = window.groupby(["experiment_id", "user_id"]).eventual.sum()
    users["eventual"] = eventual.reindex(pd.MultiIndex.from_frame(users[["experiment_id", "user_id"]])).fillna(0).to_numpy()
    arms = users.groupby(["experiment_id", "variant"])
    means = arms[["revenue", "revenue_corrected", "eventual"]].mean()
    se = arms.revenue_corrected.std() / np.sqrt(arms.size())
    assert (means.revenue < 0.95 * means.eventual).all(), means  # purchases still to come
    assert (abs(means.revenue_corrected - means.eventual) <= 1.96 * se).all(), (means, se)
    # pooled over every user of both experiments, the correction removes the shortfall (per
    # arm, the few purchases still to come make it noisier than the interval above allows for)
    pooled = users[["revenue", "revenue_corrected", "eventual"]].mean()
    assert abs(pooled.revenue_corrected - pooled.eventual) < 0.25 * abs(pooled.revenue - pooled.eventual), pooled
    results = warehouse.query("select * from main.fct_experiment_results where metric = 'revenue_per_user'")
    for row in results.itertuples():
        truth_effect = means.eventual[row.experiment_id, row.variant] - means.eventual[row.experiment_id, row.control_variant]
        assert row.label_maturity in ("partial", "immature") and row.expected_share_to_come > 0.05
        assert row.corrected_ci_low <= truth_effect <= row.corrected_ci_high, (row, truth_effect)


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
    # the DFM on the same days, its rate the one fct_cvr_by_day's dfm_cvr would give at the cut
    dfm = by_method["dfm"]
    assert dfm.index.equals(naive.index) and dfm.estimate.notna().all() and dfm.final_cvr.equals(naive.final_cvr)
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
    warehouse.dbt("run", "--select", "+fct_cvr_by_day", "+fct_offline_metrics", "+fct_experiment_results",
                  "fct_bandit_allocations", "+fct_interleaving_results")
    days = warehouse.query("""
        select count(*) as n, count(corrected_cvr) as estimated, max(expected_share_to_come) as to_come,
               count(*) filter (where corrected_cvr is distinct from naive_cvr
                                or corrected_std_error is distinct from naive_std_error
                                or corrected_ci_low is distinct from naive_ci_low
                                or corrected_ci_high is distinct from naive_ci_high) as differing,
               max(abs(dfm_cvr - naive_cvr)) as dfm_gap, count(dfm_cvr) as dfm_estimated
        from main.fct_cvr_by_day""").iloc[0]
    assert days.n > 100 and days.estimated == days.n
    assert days.differing == 0 and days.to_come == 0
    assert days.dfm_estimated == days.n and days.dfm_gap < 1e-9  # the DFM's eventual rate too
    offline = warehouse.query("""
        select model_id, impression_date, split, segment_type, segment_value, period, metric, value
        from main.fct_offline_metrics
        where task = 'conversion' and metric in ('conversion_rate_naive', 'conversion_rate_corrected')""")
    offline["impression_date"] = offline.impression_date.astype(str)  # NaT (overall) keeps its cells
    wide = offline.pivot(index=["model_id", "split", "segment_type", "segment_value", "period", "impression_date"],
                         columns="metric", values="value")
    assert len(wide) > 50 and wide.notna().all().all()
    np.testing.assert_allclose(wide.conversion_rate_corrected, wide.conversion_rate_naive, rtol=1e-12)
    users = warehouse.query("select * from main.fct_experiment_user_metrics")
    assert users.clicks_immature.sum() > 0  # windows are open, yet nothing is still to come
    np.testing.assert_allclose(users.revenue_corrected, users.revenue, rtol=1e-12)
    np.testing.assert_allclose(users.purchases_corrected, users.purchases, rtol=1e-12)
    assert (users.converted_corrected == users.converted).all()  # no click still to convert
    results = warehouse.query("select * from main.fct_experiment_results where corrected_effect is not null")
    assert len(results) >= 2
    np.testing.assert_allclose(results.expected_share_to_come, 0, atol=1e-12)
    np.testing.assert_allclose(results.corrected_effect, results.cuped_effect, rtol=1e-9)
    np.testing.assert_allclose(results.corrected_ci_high, results.cuped_ci_high, rtol=1e-9)
    assert set(results.metric) >= {"conversion_rate", "revenue_per_user"}
    # the bandit allocates on the eventual figures (the windows are open), which are the ones seen
    alloc = warehouse.query("select * from main.fct_bandit_allocations").set_index(["experiment_id", "reward", "variant"])
    arms = users.groupby(["experiment_id", "variant"])
    for (exp, reward, arm), row in alloc.iterrows():
        if reward == "click":
            continue
        assert row.estimator == "delay_corrected" and row.expected_share_to_come == pytest.approx(0, abs=1e-12)
        if reward == "purchase":  # Beta(1 + users converted, 1 + users not converted), exactly
            assert (row.posterior_param_1, row.n) == (1 + arms.converted.sum()[exp, arm], arms.size()[exp, arm])
        else:
            assert row.posterior_mean == pytest.approx(arms.revenue.mean()[exp, arm], rel=1e-12)
            assert row.posterior_sd == pytest.approx(arms.revenue.std()[exp, arm] / np.sqrt(arms.size()[exp, arm]),
                                                     rel=1e-9)
    interleaving = warehouse.query("select * from main.fct_interleaving_results where outcome = 'purchases'").iloc[0]
    assert interleaving.credit_a + interleaving.credit_b > 0
    assert (interleaving.credit_a_corrected, interleaving.credit_b_corrected) == (interleaving.credit_a,
                                                                                  interleaving.credit_b)
    assert interleaving.expected_share_to_come == 0
    for k in ("", "_std_error", "_ci_low", "_ci_high"):
        assert interleaving[f"corrected_mean_credit_difference{k}"] == pytest.approx(
            interleaving[f"mean_credit_difference{k}"], rel=1e-12)
