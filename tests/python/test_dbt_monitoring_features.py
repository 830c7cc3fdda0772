"""Integration: fct_feature_drift of the session's tiny world against numpy / scipy on the
warehouse's own rows (a landing zone without served_features: test_dbt_reduced_landing.py).

The tiny world has 8 days and a 4-day training window (reference of day d: d-5 .. d-2), and
TINY_VARS sets monitoring_min_reference_days to 2: 2026-09-04 is the first analysis day of
the features without history.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

from monitoring.numpy_reference import numpy_psi

pytestmark = pytest.mark.dbt

DAY = dt.date(2026, 9, 6)
START = dt.date(2026, 9, 1)


@pytest.fixture(scope="module")
def drift(tiny_warehouse):
    return tiny_warehouse.query("select * from main.fct_feature_drift")


def mart_row(drift, source, feature, segment, day=DAY):
    row = drift[(drift.source == source) & (drift.feature == feature) & (drift.segment == segment)
                & (drift.impression_date.dt.date == day)]
    assert len(row) == 1
    return row.iloc[0]


def reference_and_current(warehouse, table, feature, device, window_days=0, day=DAY):
    """The feature's values in the day's reference window (d-5 .. d-2, from its first day
    START + window_days on) and on the day."""
    where = f"device = '{device}'" if device != "all" else "true"
    frame = warehouse.query(f"select impression_date, {feature} as v from main.{table} where {where}")
    d = frame.impression_date.dt.date
    first = max(day - dt.timedelta(days=5), START + dt.timedelta(days=window_days))
    ref = frame.v[(d >= first) & (d <= day - dt.timedelta(days=2))]
    return ref.to_numpy(), frame.v[d == day].to_numpy()


def numpy_numeric(ref, cur, n_bins=10, eps=1e-4):
    """PSI over reference-quantile bins and KS, written out with numpy and scipy."""
    ref, cur = ref.astype(float), cur.astype(float)
    rf, cf = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    q = np.quantile(rf, np.linspace(0, 1, n_bins + 1))
    q[-1] = np.nextafter(q[-1], np.inf)
    edges = np.unique(q)
    def counts(x, n_missing):
        inner = np.histogram(x, bins=edges)[0] if edges.size > 1 else np.zeros(0)
        # np.histogram closes its last bin; the nudged top edge leaves nothing on it
        return np.concatenate([[np.sum(x < edges[0])], inner, [np.sum(x >= edges[-1]), n_missing]])
    psi = numpy_psi(counts(rf, ref.size - rf.size), counts(cf, cur.size - cf.size), eps)
    return psi, stats.ks_2samp(rf, cf), (rf.size, cf.size)


@pytest.mark.parametrize("source, table, feature, segment, window_days", [
    ("warehouse", "int_features__impressions", "item_price", "android", 0),
    ("warehouse", "int_features__impressions", "item_ctr_1d", "all", 1),
    ("served", "int_monitoring__served_feature_values", "item_price", "android", 0),
    ("served", "int_monitoring__served_feature_values", "item_popularity", "web", 1),
])
def test_numeric_drift_equals_numpy_and_scipy_on_the_warehouse_rows(tiny_warehouse, drift, source, table, feature,
                                                                    segment, window_days):
    ref, cur = reference_and_current(tiny_warehouse, table, feature, segment, window_days)
    psi, ks, (n, m) = numpy_numeric(ref, cur)
    row = mart_row(drift, source, feature, segment)
    assert (row.n_reference, row.n_current) == (ref.size, cur.size)
    assert row.psi == pytest.approx(psi, abs=1e-9)
    assert row.statistic == pytest.approx(ks.statistic, abs=1e-12)
    if max(n, m) <= 10_000:  # scipy's exact p-value; else Kolmogorov's limit
        assert row.p_value == pytest.approx(ks.pvalue, abs=1e-12)
    else:
        en = n * m / (n + m)
        assert row.p_value == pytest.approx(stats.kstwobign.sf(ks.statistic * np.sqrt(en)), abs=1e-12)


def test_categorical_drift_equals_scipy_chi_square(tiny_warehouse, drift):
    ref, cur = reference_and_current(tiny_warehouse, "int_features__impressions", "item_category", "ios")
    cats = sorted(set(ref) | set(cur))
    table = np.array([[np.sum(ref == c) for c in cats], [np.sum(cur == c) for c in cats]])
    chi2 = stats.chi2_contingency(table, correction=False)
    row = mart_row(drift, "warehouse", "item_category", "ios")
    assert row.statistic == pytest.approx(chi2.statistic, rel=1e-9)
    assert row.p_value == pytest.approx(chi2.pvalue, rel=1e-9, abs=1e-12)
    assert row.psi == pytest.approx(numpy_psi(table[0], table[1], 1e-4), abs=1e-9)


def test_warm_up_follows_each_features_history(drift):
    """A feature over window_days of history starts on START + window_days; a day is
    monitored once its reference holds 2 such days with rows of the segment. Device
    unknown (requests landed late) appears on the last day only: nothing to compare."""
    unknown = drift.segment == "unknown"
    assert unknown.any() and (drift.status[unknown] == "warm_up").all() and (drift.n_reference[unknown] == 0).all()
    drift = drift[~unknown]  # the others have rows on every day
    d = drift.impression_date.dt.date
    first = drift.window_days.map(lambda w: START + dt.timedelta(days=int(w)))
    ref_start = (d - dt.timedelta(days=5)).combine(first, max)
    ref_days = (d - dt.timedelta(days=2) - ref_start).map(lambda x: x.days + 1).clip(lower=0)
    expected = (d < first) | (ref_days < 2)
    assert ((drift.status == "warm_up") == expected).all()
    assert (drift.n_reference_days == ref_days).all()
    # the tiny world's 7- and 30-day features never leave warm-up; the others do
    assert (drift.status[drift.window_days >= 7] == "warm_up").all()
    assert (drift.status[(drift.window_days == 0) & (d >= dt.date(2026, 9, 4))] != "warm_up").all()


def test_served_price_is_compared_within_its_device(tiny_warehouse, drift):
    """Android serves item_price x100 on every day: within a device nothing drifts, while the
    android values against the web reference would be all out of range."""
    served = drift[(drift.source == "served") & (drift.feature == "item_price") & (drift.segment_type == "device")
                   & drift.segment.isin(["android", "web"]) & (drift.status != "warm_up")]
    assert len(served) == 2 * 5  # 2026-09-04 .. 09-08
    assert (served.status == "ok").all() and (served.psi < 0.1).all()
    android, _ = reference_and_current(tiny_warehouse, "int_monitoring__served_feature_values", "item_price", "android")
    web, _ = reference_and_current(tiny_warehouse, "int_monitoring__served_feature_values", "item_price", "web")
    assert np.median(android) / np.median(web) > 30
    psi_across = numpy_numeric(web, android)[0]
    assert psi_across > 5


def test_user_level_values_repeat_on_the_requests_impressions(tiny_warehouse):
    logged = tiny_warehouse.query("select request_id, feature_value from main.stg_landing__served_features "
                             "where feature_name = 'user_ctr_7d'")
    pivoted = tiny_warehouse.query("select request_id, user_ctr_7d from main.int_monitoring__served_feature_values")
    merged = pivoted.merge(logged, on="request_id", how="left", validate="many_to_one")
    assert len(merged) > len(logged) > 0
    assert (merged.user_ctr_7d.isna() == merged.feature_value.isna()).all()
    assert (merged.user_ctr_7d.dropna() == merged.feature_value.dropna()).all()
