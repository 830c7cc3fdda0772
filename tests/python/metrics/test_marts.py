"""fct_offline_metrics' conversion cells under delayed feedback: the standard metrics on the
mature rows, the naive and corrected rows on every row of a cell that is not mature, and
the cell's label maturity."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from receval.delayed import DelayDistribution
from receval.delayed.corrections import corrected_conversion_metrics, eventual_rate
from receval.metrics.marts import offline_metrics_table

WINDOW = 10.0
CURVE = DelayDistribution(WINDOW, horizons=(), quantile_levels=()).estimate_delay(
    [1.0, 2.0, 4.0], [20.0, 20.0, 5.0])
DAY1, DAY2 = pd.Timestamp("2026-01-01").date(), pd.Timestamp("2026-01-02").date()


def scored() -> pa.Table:
    """One model, 12 impressions (6 requests of 2) on two days: day 1 mature, day 2 not."""
    n = 12
    day2 = np.arange(n) >= 6
    conv = np.array([1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    rows = []
    for task, label in (("click", np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0])), ("conversion", conv)):
        rows.append(pd.DataFrame({
            "model_id": "m", "task": task, "split": "test", "request_id": np.arange(n) // 2,
            "event_id": np.arange(n), "user_id": np.arange(n) // 4,
            "score": np.linspace(0.05, 0.6, n), "label": label, "relevance": label,
            "is_label_mature": ~day2, "elapsed_hours": np.where(day2, [1.5, 3, 12, 12, 0.5, 2] * 2, 30.0),
            "impression_date": np.where(day2, DAY2, DAY1), "device": "ios", "user_tenure": "new",
            "item_freshness": "warm", "item_category": "a"}))
    return pa.Table.from_pandas(pd.concat(rows, ignore_index=True), preserve_index=False)


def metric(table: pa.Table, **where) -> pd.DataFrame:
    df = table.to_pandas()
    for k, v in where.items():
        df = df[df[k] == v] if v is not None else df[df[k].isna()]
    return df.set_index("metric")


def test_immature_conversion_cells_get_naive_and_corrected_rows():
    table = scored()
    out = offline_metrics_table(table, ks=[1], n_bootstrap=0, delay_curve=CURVE)
    frame = table.to_pandas()
    conv = frame[frame.task == "conversion"]
    # day 1 is mature: its standard rows only, no corrected ones
    day1 = metric(out, task="conversion", segment_type="all", period="day", impression_date=DAY1)
    assert set(day1.label_maturity) == {"mature"} and "conversion_rate_corrected" not in day1.index
    # the whole split is partial: standard metrics on the mature rows, corrected on all rows
    overall = metric(out, task="conversion", segment_type="all", period="overall")
    assert set(overall.label_maturity) == {"partial"}
    assert overall.loc["observed_rate", "value"] == pytest.approx(conv.label[conv.is_label_mature].mean())
    y, groups = conv.label.to_numpy(), conv.request_id.to_numpy()
    reference = corrected_conversion_metrics(
        y, conv.score.to_numpy(), eventual_rate(y, conv.elapsed_hours.to_numpy(), CURVE, group_ids=groups),
        group_ids=groups)
    for name, result in reference.results.items():
        assert overall.loc[name, "value"] == pytest.approx(result.value)
        assert overall.loc[name, "ci_low"] == pytest.approx(result.ci_low)
        assert overall.loc[name, "n_rows"] == len(conv)
    assert overall.loc["conversion_rate_corrected", "expected_share_to_come"] == pytest.approx(
        reference.expected_share_to_come)
    assert overall.loc["roc_auc", "expected_share_to_come"] is None or np.isnan(
        overall.loc["roc_auc", "expected_share_to_come"])
    # day 2 has no mature row: empty standard rows with the reason, and the corrected rows
    day2 = metric(out, task="conversion", segment_type="all", period="day", impression_date=DAY2)
    assert set(day2.label_maturity) == {"immature"}
    assert day2.loc["roc_auc", "reason"].startswith("empty segment: no impression with a mature")
    assert day2.loc["conversion_rate_naive", "value"] == pytest.approx(2 / 6)
    clicks = metric(out, task="click", segment_type="all", period="overall")
    assert set(clicks.label_maturity) == {"mature"} and "conversion_rate_naive" not in clicks.index


def test_without_the_mature_only_rule_the_standard_metrics_use_every_row():
    out = offline_metrics_table(scored(), ks=[1], n_bootstrap=0, conversion_mature_only=False,
                                delay_curve=None, delay_curve_reason="no curve")
    overall = metric(out, task="conversion", segment_type="all", period="overall")
    assert overall.loc["observed_rate", "value"] == pytest.approx(4 / 12)
    assert overall.loc["conversion_rate_corrected", "reason"] == "no curve"
    assert overall.loc["conversion_rate_naive", "value"] == pytest.approx(4 / 12)


def test_reliability_bins_read_a_model_at_a_time_equal_the_table_and_the_hand_counts():
    import duckdb

    from receval.metrics.marts import REASON_NOT_PROB, reliability_bins_table
    from receval.warehouse import ColumnReader

    rng = np.random.default_rng(5)
    frames = []
    for model, scale in (("a", 1.0), ("pop", 40.0)):
        for split in ("test", "train"):
            for task in ("click", "conversion"):
                p = rng.uniform(0, 1, 400)
                frames.append(pd.DataFrame({
                    "model_id": model, "task": task, "split": split, "score": p * scale,
                    "label": (rng.random(p.size) < p).astype(np.int32),
                    "is_label_mature": (rng.random(p.size) < 0.7) if task == "conversion" else True}))
    frame = pd.concat(frames, ignore_index=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    whole = reliability_bins_table(table, n_bins=5).to_pandas()
    got = reliability_bins_table(ColumnReader(duckdb.connect().from_arrow(table)), n_bins=5).to_pandas()
    pd.testing.assert_frame_equal(got, whole, rtol=1e-12)
    # by hand: equal-width bins of model a; conversions on mature rows only
    for task, mature_only in (("click", False), ("conversion", True)):
        rows = frame[(frame.model_id == "a") & (frame.task == task) & (frame.split == "test")]
        rows = rows[rows.is_label_mature] if mature_only else rows
        b = np.minimum(np.floor(rows.score * 5).astype(int), 4)
        cell = whole[(whole.model_id == "a") & (whole.task == task) & (whole.split == "test")
                     & (whole.strategy == "uniform")]
        assert cell.n.tolist() == np.bincount(b, minlength=5).tolist()
        assert cell.n_positive.tolist() == np.bincount(b, weights=rows.label, minlength=5).astype(int).tolist()
        assert cell.mean_predicted.to_numpy() == pytest.approx(rows.groupby(b).score.mean().to_numpy(), rel=1e-12)
    pop = whole[whole.model_id == "pop"]
    assert len(pop) == 2 * 2 * 2 and (pop.bin == -1).all() and (pop.reason == REASON_NOT_PROB).all()


def test_offline_metrics_read_a_model_task_and_split_at_a_time_from_duckdb_equal_the_table(monkeypatch):
    """Two models (m the baseline) on two splits, the rows shuffled: read from DuckDB one
    (model, task, split) at a time, in pieces of 7 rows, the same rows as from the table,
    deltas included."""
    import duckdb

    import receval.metrics.marts
    from receval.warehouse import ColumnReader

    base = scored().to_pandas()
    m = pd.concat([base.assign(split=sp, event_id=base.event_id + 100 * i, request_id=base.request_id + 100 * i)
                   for i, sp in enumerate(["test", "train"])], ignore_index=True)
    rows = pd.concat([m, m.assign(model_id="c", score=1 - m.score)]).sample(frac=1, random_state=0)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    kw = dict(baseline_model="m", ks=[1], n_bootstrap=20, delay_curve=CURVE)
    key = ["model_id", "task", "split", "segment_type", "segment_value", "period", "impression_date", "metric"]
    whole = offline_metrics_table(table, **kw).to_pandas().sort_values(key, ignore_index=True)
    monkeypatch.setattr(receval.metrics.marts, "PIECE_ROWS", 7)
    got = offline_metrics_table(ColumnReader(duckdb.connect().from_arrow(table)), **kw).to_pandas()
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True), whole, rtol=1e-12)
    # by hand: c's AUC minus the baseline's on the same click rows of each split
    from sklearn.metrics import roc_auc_score

    clicks = m[m.task == "click"]
    for split in ("test", "train"):
        on = clicks[clicks.split == split]
        delta = whole[(whole.model_id == "c") & (whole.task == "click") & (whole.split == split)
                      & (whole.segment_type == "all") & (whole.period == "overall")
                      & (whole.metric == "delta_roc_auc")].value.item()
        assert delta == pytest.approx(roc_auc_score(on.label, 1 - on.score) - roc_auc_score(on.label, on.score))
