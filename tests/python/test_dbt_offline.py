"""Integration: the offline-evaluation marts (fct_offline_metrics, fct_reliability_bins) on the
session's tiny build, recomputed here with scikit-learn from fct_impression_labels.

Plus the mart layer's edge cases (empty segment, one class, all tied, score not a
probability) on the package function directly (no dbt).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    ndcg_score,
    roc_auc_score,
)

from receval.delayed.corrections import CORRECTED_CONVERSION_METRICS, label_maturity
from receval.metrics.marts import (
    REASON_EMPTY,
    REASON_NOT_PROB,
    REASON_TIED,
    cell_metrics,
    offline_metrics_table,
)

TOL = 1e-9
KEY = ["model_id", "task", "split", "segment_type", "segment_value", "period", "impression_date", "metric"]

# The rows of the production model as fct_offline_metrics sees them, rebuilt from the labels
# mart (not from int_offline__scored_impressions), with the request's device.
PROD_ROWS = """
select l.event_id, l.request_id, l.user_id, l.impression_date, s.split, r.device, l.score,
       l.is_clicked::int as clicked, l.is_converted::int as converted, l.is_label_mature
from fct_impression_labels l
join dim_split_dates s using (impression_date)
left join stg_landing__requests r using (request_id)
where l.model_id = 'prod_v1' and s.split in ('train', 'validation', 'test')
"""


@pytest.fixture(scope="module")
def metrics(tiny_warehouse) -> pd.DataFrame:
    return tiny_warehouse.query("select * from fct_offline_metrics")


@pytest.fixture(scope="module")
def prod_rows(tiny_warehouse) -> pd.DataFrame:
    return tiny_warehouse.query(PROD_ROWS)


def _cell(metrics, model="prod_v1", task="click", split="train", seg=("all", "all")):
    m = metrics[(metrics.model_id == model) & (metrics.task == task) & (metrics.split == split)
                & (metrics.segment_type == seg[0]) & (metrics.segment_value == seg[1])
                & (metrics.period == "overall")]
    return m.set_index("metric")


def _mean_ndcg(frame: pd.DataFrame, rel_col: str, k: int, exponential: bool) -> float:
    vals = []
    for _, g in frame.groupby("request_id"):
        rel = g[rel_col].to_numpy(float)
        if rel.sum() == 0:
            continue
        gain = 2 ** rel - 1 if exponential else rel
        vals.append(ndcg_score(gain[None, :], g["score"].to_numpy()[None, :], k=k))
    return float(np.mean(vals))


pytestmark = pytest.mark.dbt


def test_grain_is_unique_and_every_model_task_split_segment_is_there(metrics):
    assert not metrics.duplicated(KEY).any()
    assert set(metrics.model_id) == {"prod_v1", "challenger_v1", "xgboost", "mmoe", "popularity"}
    # Candidates are scored on the test split only (var model_score_splits).
    assert set(metrics.loc[metrics.model_id == "mmoe", "split"]) == {"test"}
    assert set(metrics.task) == {"click", "conversion"}
    assert set(metrics.split) == {"train", "validation", "test"}
    assert set(metrics.segment_type) == {"all", "device", "user_tenure", "item_freshness", "item_category"}
    assert set(metrics.period) == {"overall", "day"}
    assert metrics.loc[metrics.period == "overall", "impression_date"].isna().all()
    assert metrics.loc[metrics.period == "day", "impression_date"].notna().all()


@pytest.mark.parametrize("split,segment", [
    ("train", ("all", "all")), ("test", ("all", "all")), ("train", ("device", "ios")),
    ("validation", ("device", "android")),
])
def test_prod_click_classification_metrics_equal_sklearn(metrics, prod_rows, split, segment):
    rows = prod_rows[prod_rows.split == split]
    if segment[0] == "device":
        rows = rows[rows.device == segment[1]]
    cell = _cell(metrics, split=split, seg=segment)
    y, s = rows["clicked"].to_numpy(), rows["score"].to_numpy()
    assert 0 < y.sum() < len(y)
    assert cell.loc["roc_auc", "n"] == len(rows)
    assert cell.loc["roc_auc", "value"] == pytest.approx(roc_auc_score(y, s), abs=TOL)
    assert cell.loc["average_precision", "value"] == pytest.approx(average_precision_score(y, s), abs=TOL)
    assert cell.loc["log_loss", "value"] == pytest.approx(log_loss(y, s), abs=TOL)
    assert cell.loc["brier_score", "value"] == pytest.approx(brier_score_loss(y, s), abs=TOL)
    assert cell.loc["mean_predicted", "value"] == pytest.approx(s.mean(), abs=TOL)
    assert cell.loc["observed_rate", "value"] == pytest.approx(y.mean(), abs=TOL)
    assert cell.loc["calibration_in_the_large", "value"] == pytest.approx(s.mean() - y.mean(), abs=TOL)
    # every number carries an interval and its n
    for metric in ("roc_auc", "average_precision", "log_loss", "brier_score", "ece_uniform", "ece_quantile"):
        r = cell.loc[metric]
        assert r["ci_low"] <= r["value"] <= r["ci_high"], metric
        assert r["ci_high"] - r["ci_low"] > 0, metric
        assert r["n"] == len(rows) and r["n_groups"] == rows["request_id"].nunique(), metric


def test_prod_ranking_metrics_equal_sklearn_ndcg(metrics, prod_rows):
    rows = prod_rows[prod_rows.split == "train"]
    cell = _cell(metrics, split="train")
    n_req = (rows.groupby("request_id")["clicked"].sum() > 0).sum()
    for k in (5, 10):
        assert cell.loc[f"ndcg@{k}", "value"] == pytest.approx(_mean_ndcg(rows, "clicked", k, False), abs=TOL)
        assert cell.loc[f"ndcg@{k}", "n"] == n_req
        assert cell.loc[f"ndcg@{k}", "n_excluded"] == rows["request_id"].nunique() - n_req
        assert cell.loc[f"ndcg@{k}", "ci_low"] < cell.loc[f"ndcg@{k}", "value"] < cell.loc[f"ndcg@{k}", "ci_high"]


def test_conversion_uses_mature_labels_only(metrics, prod_rows):
    """Graded relevance purchase 2 > click 1 (gain 2^rel - 1) on mature labels; where no label
    is mature yet (the tiny world's 6 days are shorter than the 7-day attribution window)
    every conversion cell is there, null, with the reason. label_maturity is the maturity
    of the cell's labels (clicks: mature); the corrected rows of the cells that are not
    mature are tested in test_dbt_delayed.py."""
    assert set(metrics[metrics.task == "click"].label_maturity.dropna()) == {"mature"}
    for split in ("train", "validation", "test"):
        split_rows = prod_rows[prod_rows.split == split]
        rows = split_rows[split_rows.is_label_mature].copy()
        ccell = _cell(metrics, task="conversion", split=split).drop(index=list(CORRECTED_CONVERSION_METRICS))
        assert set(ccell.label_maturity) == {label_maturity(split_rows.is_label_mature.to_numpy(bool))}
        assert ccell.loc["roc_auc", "n_rows"] == len(rows)
        if rows.empty:
            assert ccell.value.isna().all()
            assert ccell.reason.str.contains("mature").all()
            continue
        rows["rel"] = np.where(rows.converted == 1, 2, rows.clicked)
        if rows.rel.sum() > 0:
            assert ccell.loc["ndcg@10", "value"] == pytest.approx(_mean_ndcg(rows, "rel", 10, True), abs=TOL)
        if rows.converted.nunique() == 2:
            assert ccell.loc["roc_auc", "value"] == pytest.approx(
                roc_auc_score(rows.converted, rows.score), abs=TOL)


def test_challenger_deltas_are_paired_on_the_shadow_rows(tiny_warehouse, metrics, prod_rows):
    shadow = tiny_warehouse.query(
        "select event_id, score as challenger from int_offline__scored_impressions "
        "where model_id = 'challenger_v1' and task = 'click' and split = 'train'")
    paired = prod_rows.merge(shadow, on="event_id")
    assert len(paired) == len(shadow) > 0
    cell = _cell(metrics, model="challenger_v1", split="train")
    y = paired["clicked"].to_numpy()
    auc_c, auc_p = roc_auc_score(y, paired.challenger), roc_auc_score(y, paired.score)
    assert cell.loc["roc_auc", "value"] == pytest.approx(auc_c, abs=TOL)
    d = cell.loc["delta_roc_auc"]
    assert d["value"] == pytest.approx(auc_c - auc_p, abs=TOL)
    assert d["model_value"] == pytest.approx(auc_c, abs=TOL)
    assert d["baseline_value"] == pytest.approx(auc_p, abs=TOL)
    assert d["baseline_model_id"] == "prod_v1" and d["ci_low"] <= d["value"] <= d["ci_high"]
    dl = cell.loc["delta_log_loss"]
    assert dl["value"] == pytest.approx(log_loss(y, paired.challenger) - log_loss(y, paired.score), abs=TOL)
    assert dl["std_error"] > 0
    dn = cell.loc["delta_ndcg@10"]
    assert dn["value"] == pytest.approx(
        _mean_ndcg(paired.assign(score=paired.challenger), "clicked", 10, False)
        - _mean_ndcg(paired, "clicked", 10, False), abs=TOL)
    # the production model has no delta rows
    assert not metrics.loc[metrics.model_id == "prod_v1", "metric"].str.startswith("delta_").any()


def test_undefined_values_are_null_with_a_reason_never_a_default(metrics):
    undefined = metrics[metrics.value.isna()]
    assert undefined["reason"].notna().all()
    assert metrics.loc[metrics.value.notna(), "reason"].isna().all()
    reasons = set(undefined.reason)
    # the tiny world has days where a small category has no conversion, and segments absent on a day
    assert any("no positive" in r for r in reasons)
    assert REASON_EMPTY in reasons
    empty = metrics[metrics.reason == REASON_EMPTY]
    assert (empty.n_rows == 0).all()


def test_day_cells_add_up_to_the_overall_cell(metrics):
    m = metrics[(metrics.segment_type == "all") & (metrics.metric == "observed_rate")]
    for (model, task, split), g in m.groupby(["model_id", "task", "split"]):
        overall = g[g.period == "overall"].iloc[0]
        days = g[g.period == "day"]
        assert days.n_rows.sum() == overall.n_rows
        assert days.n_positive.sum() == overall.n_positive


def test_reliability_bins_equal_sklearn_calibration_curve(tiny_warehouse, prod_rows):
    bins = tiny_warehouse.query(
        "select * from fct_reliability_bins where model_id = 'prod_v1' and task = 'click' "
        "and split = 'train' order by strategy, bin")
    rows = prod_rows[prod_rows.split == "train"]
    for strategy in ("uniform", "quantile"):
        b = bins[(bins.strategy == strategy) & (bins.n > 0)]
        assert b.n.sum() == len(rows)
        assert b.n_positive.sum() == rows.clicked.sum()
        if strategy == "uniform":
            prob_true, prob_pred = calibration_curve(rows.clicked, rows.score, n_bins=10)
        else:  # equal mass; a tied prediction always goes to one bin (searchsorted "right",
            # where sklearn's calibration_curve uses "left")
            edges = np.quantile(rows.score, np.linspace(0, 1, 11))
            idx = np.searchsorted(edges[1:-1], rows.score, side="right")
            g = pd.DataFrame({"b": idx, "y": rows.clicked, "p": rows.score}).groupby("b")
            prob_true, prob_pred = g.y.mean().to_numpy(), g.p.mean().to_numpy()
        np.testing.assert_allclose(b.observed_rate, prob_true, atol=TOL)
        np.testing.assert_allclose(b.mean_predicted, prob_pred, atol=TOL)
        assert (b.ci_low <= b.observed_rate + 1e-12).all() and (b.observed_rate <= b.ci_high + 1e-12).all()


# --- edge cases on the package function (no dbt) -------------------------------------------

def _cell_of(y, s, rel=None, **kw):
    y, s = np.asarray(y), np.asarray(s, float)
    req = np.repeat(np.arange(len(y) // 2 + 1), 2)[: len(y)]
    rel = y.astype(float) if rel is None else np.asarray(rel, float)
    return cell_metrics(y, s, req, rel, ks=[5], request_level=True, n_bootstrap=20, **kw)


def test_empty_segment_gives_null_with_reason():
    res = _cell_of(np.zeros(0, int), np.zeros(0))
    assert all(math.isnan(r.value) and r.reason == REASON_EMPTY for r in res.values())


def test_one_class_segment_gives_null_auc_with_reason():
    res = _cell_of([0, 0, 0, 0], [0.1, 0.4, 0.3, 0.2])
    assert math.isnan(res["roc_auc"].value) and "positive" in res["roc_auc"].reason
    assert math.isnan(res["ndcg@5"].value) and "relevant" in res["ndcg@5"].reason
    assert res["log_loss"].is_defined  # still a loss on one class


def test_all_tied_scores_give_null_rank_metrics_not_a_silent_half():
    res = _cell_of([0, 1, 0, 1, 1, 0], [0.3] * 6)
    for m in ("roc_auc", "average_precision", "ndcg@5", "mrr", "recall@5"):
        assert math.isnan(res[m].value) and res[m].reason == REASON_TIED, m
    assert res["brier_score"].value == pytest.approx(brier_score_loss([0, 1, 0, 1, 1, 0], [0.3] * 6), abs=TOL)


def test_scores_outside_unit_interval_are_not_probabilities():
    y, s = [0, 1, 0, 1, 1, 0], [2.0, 5.0, -1.0, 3.0, 4.0, 0.5]
    res = _cell_of(y, s)
    for m in ("log_loss", "brier_score", "ece_uniform", "ece_quantile", "calibration_in_the_large"):
        assert math.isnan(res[m].value) and res[m].reason == REASON_NOT_PROB, m
    assert res["roc_auc"].value == pytest.approx(roc_auc_score(y, s), abs=TOL)


def test_hand_computed_auc_with_ties_in_the_table():
    # positives 0.8, 0.5; negatives 0.5, 0.2: pairs (0.8>0.5) (0.8>0.2) (0.5=0.5 -> 1/2) (0.5>0.2) = 3.5/4
    table = pa.table({
        "model_id": ["m"] * 4, "task": ["click"] * 4, "split": ["test"] * 4,
        "request_id": [1, 1, 2, 2], "event_id": [1, 2, 3, 4], "user_id": [1, 1, 2, 2],
        "score": [0.8, 0.5, 0.5, 0.2], "label": [1, 0, 1, 0], "relevance": [1, 0, 1, 0],
        "impression_date": pa.array([pd.Timestamp("2026-01-01").date()] * 4),
        "device": ["ios"] * 4, "user_tenure": ["new"] * 4, "item_freshness": ["warm"] * 4,
        "item_category": ["a", "a", "b", "b"],
    })
    out = offline_metrics_table(table, baseline_model="m", ks=[1], n_bootstrap=10).to_pandas()
    auc = out[(out.metric == "roc_auc") & (out.segment_type == "all") & (out.period == "overall")
              & (out.task == "click")]
    assert auc.value.iloc[0] == pytest.approx(0.875, abs=1e-12)
    # item_category b on its own: positive 0.5 vs negative 0.2 -> 1.0; ranking metrics only on
    # request-level segments
    cat = out[(out.segment_type == "item_category") & (out.period == "overall") & (out.task == "click")].set_index(["segment_value", "metric"])
    assert cat.loc[("b", "roc_auc"), "value"] == 1.0
    assert not cat.index.get_level_values("metric").str.startswith("ndcg").any()


def test_baseline_not_a_probability_only_nulls_the_probability_deltas():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.2, 0.9, 0.1, 0.6, 0.7, 0.3])
    base = np.array([2.0, 5.0, -1.0, 3.0, 4.0, 0.5])
    res = _cell_of(y, s, s_baseline=base)
    assert res["log_loss"].value == pytest.approx(log_loss(y, s), abs=TOL)
    assert res["delta_log_loss"].reason == REASON_NOT_PROB
    assert res["delta_roc_auc"].value == pytest.approx(roc_auc_score(y, s) - roc_auc_score(y, base), abs=TOL)
    tied = _cell_of(y, s, s_baseline=np.full(6, 0.5))
    assert tied["roc_auc"].is_defined and tied["delta_roc_auc"].reason == REASON_TIED
