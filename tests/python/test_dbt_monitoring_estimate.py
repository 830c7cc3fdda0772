"""Integration: fct_performance_estimate of the session's tiny world (TINY_VARS: 4 training
days, monitoring_min_reference_days 2): the realised AUC and click rate of every row,
recomputed with scikit-learn from int_monitoring__served_impressions (a log without
scores: test_dbt_reduced_landing.py)."""
from __future__ import annotations

import pytest
from sklearn.metrics import roc_auc_score

pytestmark = pytest.mark.dbt


def test_realised_auc_and_click_rate_equal_sklearn(tiny_warehouse):
    mart = tiny_warehouse.query("select * from main.fct_performance_estimate")
    rows = tiny_warehouse.query("""
        select model_id, impression_date, device, item_category, score, is_clicked
        from main.int_monitoring__served_impressions where is_click_label_mature and score is not null""")
    assert set(mart.model_id) == {m for m, g in rows.groupby("model_id") if g.score.between(0, 1).all()}
    assert (mart.status == "estimated").any() and set(mart.segment_type) == {"all", "device", "item_category"}
    checked = 0
    for r in mart.itertuples():
        sel = (rows.model_id == r.model_id) & (rows.impression_date == r.impression_date)
        if r.segment_type != "all":
            sel &= rows[r.segment_type].fillna("unknown") == r.segment
        y, s = rows.is_clicked[sel], rows.score[sel]
        assert r.n_label_mature == sel.sum()
        if y.nunique() == 2:
            assert r.realised_auc == pytest.approx(roc_auc_score(y, s), abs=1e-9)
            checked += 1
        if sel.any():
            assert r.realised_click_rate == pytest.approx(y.mean(), abs=1e-12)
    assert checked > 100
