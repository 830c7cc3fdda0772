"""Integration: fct_online_auc of the session's tiny world (TINY_VARS: 4 training days,
monitoring_min_reference_days 2): a cell's AUC, log-loss and calibration against sklearn on
the warehouse's own rows (a log without served scores: test_dbt_reduced_landing.py)."""
from __future__ import annotations

import pytest
from sklearn.metrics import log_loss, roc_auc_score

pytestmark = pytest.mark.dbt


# the tiny world's purchases are mature on its first days only (warm-up): any day with an AUC
@pytest.mark.parametrize("label, y_col, mature_col", [
    ("click", "is_clicked", "is_click_label_mature"),
    ("purchase", "is_converted", "is_label_mature"),
])
def test_a_cell_equals_sklearn_on_the_warehouse_rows(tiny_warehouse, label, y_col, mature_col):
    row = tiny_warehouse.query(f"""
        select * from main.fct_online_auc
        where model_id = 'prod_v1' and label = '{label}' and grain = 'day' and segment_type = 'device'
          and auc is not null
        order by period = 'analysis' desc, n_impressions desc, impression_date limit 1""").iloc[0]
    rows = tiny_warehouse.query(f"""
        select score, {y_col} as y, {mature_col} as mature, request_id
        from main.int_monitoring__served_impressions
        where model_id = 'prod_v1' and impression_date = '{row.impression_date}'
          and coalesce(device, 'unknown') = '{row.segment}'""")
    used = rows[rows.mature.astype(bool)]
    y, s = used.y.to_numpy(bool), used.score.to_numpy()
    assert (row.n_impressions, row.n_immature) == (len(used), len(rows) - len(used))
    assert (row.n_positive, row.n_requests) == (y.sum(), used.request_id.nunique())
    assert row.auc == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert row.log_loss == pytest.approx(log_loss(y, s), rel=1e-9)
    assert row.calibration_ratio == pytest.approx(s.sum() / y.sum(), rel=1e-9)
    assert row.auc_ci_low < row.auc < row.auc_ci_high


def test_periods_and_hours(tiny_warehouse):
    frame = tiny_warehouse.query("""
        select m.grain, m.period, w.period as window_period, m.impression_date, m.hour_start
        from main.fct_online_auc as m
        join main.int_monitoring__reference_windows as w using (impression_date)""")
    assert (frame.period == frame.window_period).all()
    assert "analysis" in set(frame.period)                     # min_reference_days 2 reached
    hours = frame[frame.grain == "hour"]
    last = tiny_warehouse.query("select max(impression_date) as d from main.int_monitoring__served_impressions").d[0]
    assert len(hours) and (hours.impression_date == last).all()
    assert (hours.hour_start.dt.normalize() == last).all() and frame.loc[frame.grain == "day", "hour_start"].isna().all()
