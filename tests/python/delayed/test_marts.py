"""The delayed-feedback mart builders on a case computed by hand, on empty input and
without delay; the backtest on the same case cut at the data's end.

The hand case, window W = 10 h. Day 1: five clicks 10 h old (mature), purchases after 1, 2
and 6 h. Day 2: four clicks 3 h old, one purchase after 2 h. The purchases (D, O) are
(1, 10), (2, 10), (6, 10), (2, 3); the reverse-time product limit has steps
s = 1: r = 1, d = 1; s = 2: r = 3, d = 2; s = 6: r = 3, d = 1 (the day-2 purchase is out:
6 > 3), so F = 0 below 1 h, 2/9 on [1, 2), 2/3 on [2, 6) and 1 from 6 h on.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import optimize, special

from receval.delayed.marts import (
    BACKTEST_SCHEMA, CONVERSION_DELAY_SCHEMA, CVR_BY_DAY_SCHEMA, conversion_delay_table, cvr_by_day_table,
    delayed_feedback_backtest_table,
)

DAY1, DAY2 = dt.date(2026, 9, 1), dt.date(2026, 9, 2)
WINDOW = 10.0


def clicks(rows: list[tuple]) -> pa.Table:
    """(click_date, user_id, device, delay_hours or None, elapsed_hours) per click."""
    return pa.table({
        "click_date": pa.array([r[0] for r in rows], pa.date32()),
        "user_id": pa.array([r[1] for r in rows], pa.int64()),
        "device": [r[2] for r in rows],
        "item_category": ["cat_01"] * len(rows),
        "user_tenure": ["returning"] * len(rows),
        "is_converted": [r[3] is not None for r in rows],
        "delay_hours": pa.array([r[3] for r in rows], pa.float64()),
        "elapsed_hours": pa.array([r[4] for r in rows], pa.float64()),
    })


HAND = clicks([
    (DAY1, 1, "ios", 1.0, 10.0), (DAY1, 2, "ios", 2.0, 10.0), (DAY1, 3, "ios", 6.0, 10.0),
    (DAY1, 4, "ios", None, 10.0), (DAY1, 5, "android", None, 10.0),
    (DAY2, 6, "ios", 2.0, 3.0), (DAY2, 7, "ios", None, 3.0), (DAY2, 8, "ios", None, 3.0),
    (DAY2, 9, "ios", None, 3.0),
])


def by_key(table: pa.Table, *keys: str) -> dict:
    return {tuple(row[k] for k in keys): row for row in table.to_pylist()}


def test_conversion_delay_by_hand():
    table = conversion_delay_table(HAND, window_hours=WINDOW, horizons=(1, 3, 10), quantile_levels=(0.5, 0.9))
    assert table.schema == CONVERSION_DELAY_SCHEMA
    rows = by_key(table, "segment_type", "segment_value", "statistic", "horizon_hours", "quantile_level")
    share = {h: rows["all", "all", "share_within", h, None] for h in (1.0, 3.0, 10.0)}
    assert share[1.0]["value"] == pytest.approx(2 / 9)
    assert share[1.0]["std_error"] == pytest.approx(2 / 9 * math.sqrt(2 / 3 + 1 / 6))  # Greenwood, s > 1
    assert share[3.0]["value"] == pytest.approx(2 / 3)
    assert share[3.0]["std_error"] == pytest.approx(2 / 3 * math.sqrt(1 / 6))
    assert share[3.0]["ci_low"] < 2 / 3 < share[3.0]["ci_high"]
    assert share[10.0]["value"] == 1.0 and share[10.0]["std_error"] == 0.0
    assert rows["all", "all", "quantile", None, 0.5]["value"] == 2.0
    assert rows["all", "all", "quantile", None, 0.9]["value"] == 6.0
    assert share[1.0]["n_purchases"] == 4 and share[1.0]["n_clicks"] == 9 and share[1.0]["reason"] is None
    # the mature cohort alone: the empirical CDF of 1, 2, 6 h
    assert rows["click_date", "2026-09-01", "share_within", 3.0, None]["value"] == pytest.approx(2 / 3)
    assert rows["click_date", "2026-09-01", "share_within", 1.0, None]["value"] == pytest.approx(1 / 3)
    # day 2 alone: no click's window has closed, so its curve is not identified
    day2 = [r for r in table.to_pylist() if r["segment_value"] == "2026-09-02"]
    assert len(day2) == 5 and all(r["value"] is None and "not identified" in r["reason"] for r in day2)
    # a segment without any purchase
    android = [r for r in table.to_pylist() if r["segment_value"] == "android"]
    assert android and all(r["value"] is None and r["reason"] == "no purchase in the segment" for r in android)
    assert {r["segment_type"] for r in table.to_pylist()} == {"all", "click_date", "device", "item_category",
                                                              "user_tenure"}


def test_cvr_by_day_by_hand():
    table = cvr_by_day_table(HAND, window_hours=WINDOW, alpha=0.05, min_purchases=1)
    assert table.schema == CVR_BY_DAY_SCHEMA
    rows = by_key(table, "click_date", "segment_type", "segment_value")
    mature, recent = rows[DAY1, "all", "all"], rows[DAY2, "all", "all"]
    assert mature["label_maturity"] == "mature" and mature["n_clicks"] == 5 and mature["n_conversions"] == 3
    assert mature["naive_cvr"] == mature["corrected_cvr"] == mature["final_cvr"] == 0.6
    assert mature["corrected_std_error"] == mature["naive_std_error"] and mature["expected_share_to_come"] == 0.0
    assert recent["label_maturity"] == "immature" and recent["final_cvr"] is None
    assert recent["naive_cvr"] == 0.25
    assert recent["expected_share_to_come"] == pytest.approx(1 / 3)  # 1 - F(3 h)
    assert recent["corrected_cvr"] == pytest.approx(0.25 / (2 / 3))
    # delta method: Var(naive) / F^2 + naive^2 Var(F) / F^4, Var(F) = (2/3)^2 * 1/6 (step at 6 h)
    var_naive = 0.75 / 3 / 4
    var_f = (2 / 3) ** 2 / 6
    assert recent["corrected_std_error"] == pytest.approx(
        math.sqrt(var_naive / (2 / 3) ** 2 + 0.25 ** 2 * var_f / (2 / 3) ** 4))
    assert recent["expected_share_to_come_std_error"] == pytest.approx(math.sqrt(var_f))
    assert recent["delay_curve"] == "own" and recent["delay_curve_purchases"] == 4 and recent["reason"] is None
    # a segment without purchases borrows the overall curve, and says so
    android = rows[DAY1, "device", "android"]
    assert android["delay_curve"] == "all" and android["reason"] == (
        "delay curve of segment all: no purchase in the segment")
    assert android["naive_cvr"] == android["corrected_cvr"] == 0.0
    # too few purchases for its own curve
    thin = by_key(cvr_by_day_table(HAND, window_hours=WINDOW, min_purchases=5), "click_date", "segment_type",
                  "segment_value")[DAY2, "device", "ios"]
    assert thin["delay_curve"] == "all" and "4 purchase(s) in the segment, fewer than 5" in thin["reason"]


def hand_dfm_nll(theta):
    """HAND's exponential DFM negative log-likelihood, written out: day 1's five clicks are
    past the window (purchases after 1, 2, 6 h; two without), day 2's four are 3 h old (a
    purchase after 2 h; three without, each log(1 - p2 F(3) / F(W)))."""
    p1, p2, lam = special.expit(theta[0]), special.expit(theta[1]), math.exp(theta[2])
    f_w = -math.expm1(-lam * WINDOW)
    purchases = sum(math.log(lam) - lam * d - math.log(f_w) for d in (1, 2, 6, 2))
    return -(3 * math.log(p1) + 2 * math.log(1 - p1) + math.log(p2) + purchases
             + 3 * math.log(1 - p2 * -math.expm1(-lam * 3) / f_w))


def test_dfm_rate_by_hand():
    table = cvr_by_day_table(HAND, window_hours=WINDOW, min_purchases=1, dfm_distribution="exponential")
    rows = by_key(table, "click_date", "segment_type", "segment_value")
    best = optimize.minimize(hand_dfm_nll, [0.0, 0.0, -1.0], method="BFGS", options={"gtol": 1e-10}).x
    mature, recent = rows[DAY1, "all", "all"], rows[DAY2, "all", "all"]
    # day 1 is past the window: its rate is its share, whatever the delay law
    assert mature["dfm_cvr"] == pytest.approx(0.6, rel=1e-9)
    assert recent["dfm_cvr"] == pytest.approx(special.expit(best[1]), rel=1e-6)
    assert recent["naive_cvr"] < recent["dfm_cvr"] < 1
    # sandwich on users (one click each): day 1's variance is its clustered CLT one with the
    # small-sample factor of the fit's 9 users, 9/8, instead of the day's 5, 5/4
    assert mature["dfm_std_error"] == pytest.approx(mature["naive_std_error"] * math.sqrt(0.9), rel=1e-9)
    z = 1.959963984540054
    for row in (mature, recent):  # Wald, clipped to [0, 1]
        assert row["dfm_ci_low"] == pytest.approx(max(0.0, row["dfm_cvr"] - z * row["dfm_std_error"]))
        assert row["dfm_ci_high"] == pytest.approx(min(1.0, row["dfm_cvr"] + z * row["dfm_std_error"]))
    # ios has the same purchases and day-2 clicks as all: the same day-2 rate
    assert rows[DAY2, "device", "ios"]["dfm_cvr"] == pytest.approx(recent["dfm_cvr"], rel=1e-6)
    # a segment without purchase: 0, as its naive rate
    android = rows[DAY1, "device", "android"]
    assert (android["dfm_cvr"], android["dfm_std_error"], android["dfm_ci_high"]) == (0.0, 0.0, 0.0)
    # the default law (Weibull) fills the same columns; None leaves them null
    weibull = by_key(cvr_by_day_table(HAND, window_hours=WINDOW, min_purchases=1), "click_date", "segment_type",
                     "segment_value")
    assert weibull[DAY1, "all", "all"]["dfm_cvr"] == pytest.approx(0.6, rel=1e-9)
    assert 0.25 < weibull[DAY2, "all", "all"]["dfm_cvr"] <= 1
    skipped = cvr_by_day_table(HAND, window_hours=WINDOW, dfm_distribution=None).to_pylist()
    assert all(r[c] is None for r in skipped for c in ("dfm_cvr", "dfm_std_error", "dfm_ci_low", "dfm_ci_high"))
    with pytest.raises(ValueError, match="`dfm_distribution` must be one of"):
        cvr_by_day_table(HAND, window_hours=WINDOW, dfm_distribution="gamma")


def test_partial_day_and_clicks_too_young_to_have_converted():
    table = cvr_by_day_table(clicks([
        (DAY1, 1, "ios", 1.0, 10.0), (DAY1, 2, "ios", None, 9.0),
        (DAY2, 3, "ios", None, 0.5), (DAY2, 4, "ios", None, 0.2),
    ]), window_hours=WINDOW)
    rows = by_key(table, "click_date", "segment_type", "segment_value")
    assert rows[DAY1, "all", "all"]["label_maturity"] == "partial"
    young = rows[DAY2, "all", "all"]
    assert young["corrected_cvr"] is None and young["naive_cvr"] == 0.0
    assert young["reason"].startswith("every click is younger than the shortest delay")


def test_without_purchases_or_rows_the_tables_are_empty_and_typed():
    no_purchase = clicks([(DAY1, 1, "ios", None, 10.0), (DAY2, 2, "ios", None, 3.0)])
    empty = no_purchase.slice(0, 0)
    for table in (no_purchase, empty):
        assert conversion_delay_table(table, window_hours=WINDOW).equals(CONVERSION_DELAY_SCHEMA.empty_table())
        assert cvr_by_day_table(table, window_hours=WINDOW).equals(CVR_BY_DAY_SCHEMA.empty_table())


def test_without_delay_every_corrected_rate_is_the_naive_one():
    rows = [(day, user, device, 0.0 if user % 3 == 0 else None, elapsed)
            for day, elapsed in ((DAY1, 12.0), (DAY2, 0.5))
            for user, device in zip(range(30), ["ios", "android", "web"] * 10)]
    table = cvr_by_day_table(clicks(rows), window_hours=WINDOW, min_purchases=1).to_pylist()
    assert len(table) == 2 * (1 + 3 + 1 + 1)
    for row in table:
        assert row["corrected_cvr"] == row["naive_cvr"] and row["corrected_std_error"] == row["naive_std_error"]
        assert row["expected_share_to_come"] == 0.0
        assert row["dfm_cvr"] == pytest.approx(row["naive_cvr"], rel=1e-9, abs=1e-12)
    assert not any("dfm" in (row["reason"] or "") for row in table)
    delay = conversion_delay_table(clicks(rows), window_hours=WINDOW, horizons=(0, 1)).to_pylist()
    assert {r["value"] for r in delay if r["statistic"] == "share_within" and r["segment_type"] == "all"} == {1.0}


def test_no_mature_purchase_leaves_corrected_rates_null_with_the_reason():
    table = cvr_by_day_table(clicks([(DAY2, 1, "ios", 1.0, 3.0), (DAY2, 2, "ios", None, 3.0)]),
                             window_hours=WINDOW).to_pylist()
    assert table and all(r["corrected_cvr"] is None and r["delay_curve"] is None for r in table)
    assert all(r["reason"].startswith("no delay curve: no purchase of a click whose attribution window")
               for r in table)


def as_cut(table: pa.Table, converted_now: list[bool], final: list[bool] | None = None) -> pa.Table:
    """``table`` as it stood at a cut, with the labels now (final unless said otherwise)."""
    n = table.num_rows
    return (table.append_column("cut_at", pa.array([dt.datetime(2026, 9, 3)] * n, pa.timestamp("us")))
            .append_column("is_converted_now", pa.array(converted_now))
            .append_column("is_label_final", pa.array(final or [True] * n)))


# HAND cut at its data's end; now days 1 and 2 have 3 of 5 and 2 of 4 purchases (users 6 and 7)
HAND_NOW = [True, True, True, False, False, True, True, False, False]


def test_backtest_by_hand():
    table = delayed_feedback_backtest_table(as_cut(HAND, HAND_NOW), window_hours=WINDOW, min_purchases=1)
    assert table.schema == BACKTEST_SCHEMA
    rows = by_key(table, "click_date", "segment_type", "segment_value", "method")
    # day 1's window had closed at the cut: only day 2, in its four segments, and the summaries
    assert {key[0] for key in rows} == {DAY2, None}
    assert {key[1:3] for key in rows} == {("all", "all"), ("device", "ios"), ("item_category", "cat_01"),
                                         ("user_tenure", "returning")}
    naive, survival = rows[DAY2, "all", "all", "naive"], rows[DAY2, "all", "all", "survival_reweighting"]
    assert naive["estimate"] == 0.25 and survival["estimate"] == pytest.approx(0.25 / (2 / 3))  # see cvr_by_day
    assert naive["std_error"] == pytest.approx(math.sqrt(0.75 / 3 / 4))
    for row in (naive, survival):
        assert row["final_cvr"] == 0.5 and row["n_clicks"] == 4 and row["n_days"] is None
        # clustered CLT on 4 one-click users: C / (C - 1) / n^2 * sum (y - 0.5)^2
        assert row["final_std_error"] == pytest.approx(math.sqrt(4 / 3 / 16 * 4 * 0.25))
        assert row["is_covered"] is True and row["cut_at"] == dt.datetime(2026, 9, 3)
    assert naive["error"] == -0.25 and naive["relative_error"] == -0.5
    assert survival["error"] == pytest.approx(-0.125) and survival["relative_error"] == pytest.approx(-0.25)
    summary = rows[None, "all", "all", "survival_reweighting"]
    assert summary["n_days"] == 1 and summary["n_clicks"] == 4 and summary["estimate"] is None
    assert summary["mean_abs_relative_error"] == pytest.approx(0.25) and summary["share_covered"] == 1.0
    assert rows[None, "all", "all", "naive"]["mean_abs_relative_error"] == 0.5


def test_backtest_without_final_labels_reports_no_error():
    final = [True] * 8 + [False]
    table = delayed_feedback_backtest_table(as_cut(HAND, HAND_NOW, final), window_hours=WINDOW).to_pylist()
    day2 = [r for r in table if r["click_date"] == DAY2]
    assert day2 and all(r["final_cvr"] is None and r["error"] is None and r["estimate"] is not None
                        and r["reason"].endswith("no final rate yet") for r in day2)
    summaries = [r for r in table if r["click_date"] is None]
    assert summaries and all(r["n_days"] == 0 and r["mean_abs_relative_error"] is None for r in summaries)


def test_backtest_without_delay_survival_is_naive():
    rows = [(day, user, "ios", 0.0 if user % 3 == 0 else None, elapsed)
            for day, elapsed in ((DAY1, 12.0), (DAY2, 0.5)) for user in range(30)]
    at_cut = clicks(rows)
    table = delayed_feedback_backtest_table(as_cut(at_cut, at_cut["is_converted"].to_pylist()),
                                            window_hours=WINDOW).to_pylist()
    by_method = {method: [r for r in table if r["method"] == method] for method in ("naive", "survival_reweighting")}
    assert len(by_method["naive"]) == 4 + 4  # day 2 in all, ios, cat_01, returning; and the summaries
    for naive, survival in zip(*by_method.values()):
        for column in ("click_date", "estimate", "std_error", "ci_low", "ci_high", "final_cvr", "error",
                       "mean_abs_relative_error"):
            assert naive[column] == survival[column], column
    assert {r["error"] for r in by_method["naive"] if r["click_date"]} == {0.0}


def test_backtest_without_purchase_at_the_cut_is_empty_and_typed():
    no_purchase = clicks([(DAY1, 1, "ios", None, 10.0), (DAY2, 2, "ios", None, 3.0)])
    table = delayed_feedback_backtest_table(as_cut(no_purchase, [True, True]), window_hours=WINDOW)
    assert table.equals(BACKTEST_SCHEMA.empty_table())


def exponential_cut(n_per_day: int = 3000, rate: float = 0.1, mean_delay: float = 4.0, seed: int = 3):
    """Clicks of three days cut 2, 10 and 30 h after them (window 30 h), purchases after an
    exponential delay: the clicks as they stood at the cut, with their final labels."""
    rng = np.random.default_rng(seed)
    rows, now = [], []
    for day, elapsed in ((DAY1, 30.0), (DAY2, 10.0), (dt.date(2026, 9, 3), 2.0)):
        for user in range(n_per_day):
            delay = rng.exponential(mean_delay) if rng.random() < rate else None
            converts = delay is not None and delay <= 30.0
            rows.append((day, len(now), "ios", delay if converts and delay <= elapsed else None, elapsed))
            now.append(converts)
    return as_cut(clicks(rows), now)


def test_backtest_dfm_is_the_cvr_by_day_dfm_at_the_cut():
    at_cut = exponential_cut()
    table = delayed_feedback_backtest_table(at_cut, window_hours=30.0, dfm_distribution="exponential")
    rows = by_key(table, "click_date", "segment_type", "segment_value", "method")
    by_day = by_key(cvr_by_day_table(at_cut, window_hours=30.0, dfm_distribution="exponential"),
                    "click_date", "segment_type", "segment_value")
    young = dt.date(2026, 9, 3)
    for day in (DAY2, young):
        dfm, expected = rows[day, "all", "all", "dfm"], by_day[day, "all", "all"]
        assert (dfm["estimate"], dfm["std_error"], dfm["ci_low"]) == (
            expected["dfm_cvr"], expected["dfm_std_error"], expected["dfm_ci_low"])
        assert dfm["reason"] is None and dfm["final_cvr"] == rows[day, "all", "all", "naive"]["final_cvr"]
    # the true delay law: the DFM recovers the youngest day (2 h of a 4 h mean delay seen)
    naive = rows[young, "all", "all", "naive"]
    assert naive["relative_error"] < -0.4
    assert abs(rows[young, "all", "all", "dfm"]["relative_error"]) < 0.1
    assert rows[None, "all", "all", "dfm"]["n_days"] == 2
    # without a delay law the method is left out
    plain = delayed_feedback_backtest_table(at_cut, window_hours=30.0, dfm_distribution=None)
    assert set(plain.column("method").to_pylist()) == {"naive", "survival_reweighting"}
