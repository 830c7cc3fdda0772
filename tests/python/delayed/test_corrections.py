"""The delay correction the offline and experiment marts use: one cell's naive and corrected
conversion metrics against hand-computed values, the mature and no-curve cases, and each
click's arrival probability."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from receval.delayed import DelayDistribution, SurvivalReweighting
from receval.delayed.corrections import (
    CORRECTED_CONVERSION_METRICS, click_arrival_table, corrected_conversion_metrics, eventual_rate, label_maturity,
)
from receval.metrics.uncertainty import mean_with_clt

WINDOW = 10.0
# Seen purchases: delays 1, 2, 4 h; the first two from clicks old enough to show any delay,
# the third from a click 5 h old. Reverse risk sets: s=4: {2, 1, 4} -> 3 with 1 event;
# s=2: D<=2<=O for the 1 h and 2 h ones (the 4 h one has D > 2) -> 2 with 1 event;
# s=1: 1 with 1 event. F(4) = 1, F(2) = 1 - 1/3 = 2/3, F(1) = 2/3 * (1 - 1/2) = 1/3.
CURVE = DelayDistribution(WINDOW, horizons=(), quantile_levels=()).estimate_delay(
    [1.0, 2.0, 4.0], [20.0, 20.0, 5.0])


def test_the_curve_of_the_hand_computed_sample():
    assert CURVE.cdf_at([0.5, 1.0, 1.5, 2.0, 4.0, 12.0]).cdf == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 1, 1])


def test_corrected_rate_and_calibration_of_one_cell():
    y = np.array([1, 0, 0, 1, 0, 0])
    elapsed = np.array([1.5, 1.5, 2.0, 12.0, 12.0, 0.5])  # F = 1/3, 1/3, 2/3, 1, 1, 0
    p = np.array([0.5, 0.2, 0.3, 0.6, 0.1, 0.2])
    groups = np.array([1, 1, 2, 3, 3, 4])
    out = corrected_conversion_metrics(y, p, eventual_rate(y, elapsed, CURVE, group_ids=groups), group_ids=groups)
    assert tuple(out.results) == (
        "conversion_rate_naive", "calibration_in_the_large_naive",
        "conversion_rate_corrected", "calibration_in_the_large_corrected")
    assert set(out.results) == set(CORRECTED_CONVERSION_METRICS)
    f_bar = (1 / 3 + 1 / 3 + 2 / 3 + 1 + 1 + 0) / 6
    assert out.expected_share_to_come == pytest.approx(1 - f_bar)
    naive, corrected = out.results["conversion_rate_naive"], out.results["conversion_rate_corrected"]
    assert naive.value == pytest.approx(2 / 6)
    assert corrected.value == pytest.approx((2 / 6) / f_bar)
    reference = SurvivalReweighting().estimate_eventual_rate(y, elapsed, CURVE, group_ids=groups)
    assert (corrected.std_error, corrected.ci_low, corrected.ci_high) == pytest.approx(
        (reference.std_error, reference.ci_low, reference.ci_high))
    cal = out.results["calibration_in_the_large_corrected"]
    assert cal.value == pytest.approx(p.mean() - (2 / 6) / f_bar)
    # cluster CLT of p_i - y_i / F-bar, plus the curve's term ybar^2 Var(F-bar) / F-bar^4
    clt = mean_with_clt(p - y / f_bar, group_ids=groups)
    curve_term = ((2 / 6) * reference.arrival_probability_std_error / f_bar ** 2) ** 2
    assert cal.std_error == pytest.approx(math.sqrt(clt.std_error ** 2 + curve_term))
    assert out.results["calibration_in_the_large_naive"].value == pytest.approx(p.mean() - 2 / 6)


def test_a_mature_cell_is_left_as_it_is():
    y = np.array([1, 0, 0, 1])
    out = corrected_conversion_metrics(y, np.full(4, 0.3), eventual_rate(y, np.full(4, WINDOW + 1), CURVE))
    assert out.expected_share_to_come == 0.0
    assert out.results["conversion_rate_corrected"].value == out.results["conversion_rate_naive"].value


def test_without_a_curve_or_a_probability_the_rows_say_why():
    y = np.array([1, 0, 0])
    out = corrected_conversion_metrics(y, np.array([2.0, 1.0, 0.5]),
                                       eventual_rate(y, np.ones(3), None, curve_reason="no curve here"),
                                       score_reason="not a probability")
    assert out.expected_share_to_come is None
    assert out.results["conversion_rate_naive"].value == pytest.approx(1 / 3)
    assert out.results["conversion_rate_corrected"].reason == "no curve here"
    assert out.results["calibration_in_the_large_naive"].reason == "not a probability"
    assert out.results["calibration_in_the_large_corrected"].reason == "not a probability"
    young = corrected_conversion_metrics(np.zeros(2), np.full(2, 0.1), eventual_rate(np.zeros(2), np.full(2, 0.5), CURVE))
    assert "younger than the shortest delay" in young.results["conversion_rate_corrected"].reason


def test_label_maturity():
    assert label_maturity(np.array([True, True])) == "mature"
    assert label_maturity(np.array([True, False])) == "partial"
    assert label_maturity(np.array([False])) == "immature"
    assert label_maturity(np.array([], bool)) is None


def _clicks(delay, elapsed):
    n = len(elapsed)
    return pa.table({
        "event_id": np.arange(n, dtype=np.int64), "click_date": pa.array([None] * n, pa.date32()),
        "user_id": np.arange(n, dtype=np.int64), "device": ["ios"] * n, "item_category": ["c"] * n,
        "user_tenure": ["new"] * n, "is_converted": [d is not None for d in delay],
        "delay_hours": pa.array(delay, pa.float64()), "elapsed_hours": pa.array(elapsed, pa.float64())})


def test_each_click_gets_the_curves_arrival_probability():
    table = click_arrival_table(_clicks([1.0, 2.0, 4.0, None, None], [20.0, 20.0, 5.0, 1.5, 0.5]),
                                window_hours=WINDOW)
    assert table["arrival_probability"].to_pylist() == pytest.approx([1, 1, 1, 1 / 3, 0])
    assert table["reason"].null_count == 5


def test_without_an_identified_curve_every_probability_is_null_with_the_reason():
    # every purchase comes from a click younger than the window: the curve is not identified
    table = click_arrival_table(_clicks([1.0, None], [5.0, 3.0]), window_hours=WINDOW)
    assert table["arrival_probability"].null_count == 2
    assert set(table["reason"].to_pylist()) == {
        "no purchase of a click whose attribution window has closed: the delay curve is not identified"}
