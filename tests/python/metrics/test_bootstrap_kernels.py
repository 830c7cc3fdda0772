"""The vectorised bootstrap kernels behind fct_offline_metrics give the numbers of the plain
per-replicate computation: batched AUC/AP (float32 and float64 paths, any batch size), the
model's metrics with and without a paired baseline, and the mart whatever the row order."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from receval.metrics.classification import BinaryScoreTable
from receval.metrics.marts import offline_metrics_table
from receval.metrics.report import classification_metrics
from receval.metrics.uncertainty import bootstrap_count_batches


def _tied(seed: int, n: int = 600, n_groups: int = 120):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 2)  # heavy ties
    return y, s, np.sort(rng.integers(0, n_groups, n))


@pytest.mark.parametrize("seed", range(3))
def test_batched_auc_ap_equal_the_weighted_table_per_replicate(seed):
    y, s, codes = _tied(seed)
    g = int(codes.max()) + 1
    t = BinaryScoreTable(y, s)
    t.group_matrices(codes, g)
    C = np.concatenate(list(bootstrap_count_batches(g, 40, random_state=seed)))
    auc, ap = t.batch_auc_ap(C)
    for i, c in enumerate(C):
        assert auc[i] == pytest.approx(t.auc(c[codes]), rel=1e-12)
        assert ap[i] == pytest.approx(t.ap(c[codes]), rel=1e-12)
    # float64 path (a replicate total of 2**24 or more): the same numbers
    big = C * 2.0 ** 24
    auc64, ap64 = t.batch_auc_ap(big)
    assert np.allclose(auc64, auc, rtol=1e-12, atol=0) and np.allclose(ap64, ap, rtol=1e-12, atol=0)


def test_batched_auc_ap_do_not_depend_on_the_batch_size():
    y, s, codes = _tied(7, n=20_000, n_groups=2_000)  # several threshold blocks
    g = int(codes.max()) + 1
    t = BinaryScoreTable(y, s)
    t.group_matrices(codes, g)
    runs = []
    for batch in (2, 5, 32):
        res = [t.batch_auc_ap(C) for C in bootstrap_count_batches(g, 30, 1, batch=batch)]
        runs.append((np.concatenate([r[0] for r in res]), np.concatenate([r[1] for r in res])))
    for auc, ap in runs[1:]:
        assert np.array_equal(auc, runs[0][0]) and np.array_equal(ap, runs[0][1])


def test_model_metrics_are_the_same_with_a_paired_baseline():
    y, s, codes = _tied(3)
    base = np.clip(s + np.random.default_rng(9).normal(0, 0.1, s.size), 0, 1)
    alone = classification_metrics(y, s, group_ids=codes, n_bootstrap=30)
    paired = classification_metrics(y, s, y_prob_baseline=base, group_ids=codes, n_bootstrap=30)
    for name, r in alone.items():
        assert paired[name] == r, name


def _scored(seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    frames = []
    for model, source in (("prod", "served"), ("cand", "candidate")):
        for task in ("click", "conversion"):
            n = 240
            label = (rng.random(n) < 0.3).astype(int)
            frames.append(pd.DataFrame({
                "model_id": model, "score_source": source, "task": task,
                "split": np.where(np.arange(n) < 160, "train", "test"),
                "request_id": np.arange(n) // 4, "event_id": np.arange(n), "user_id": np.arange(n) // 8,
                "score": rng.random(n).round(2), "label": label, "relevance": label,
                "is_label_mature": True, "elapsed_hours": 500.0,
                "impression_date": pd.Timestamp("2026-01-01").date(),
                "device": np.where(np.arange(n) // 4 % 2, "ios", "web"), "user_tenure": "new",
                "item_freshness": np.where(np.arange(n) % 3, "warm", "cold"),
                "item_category": np.array(["a", "b", "c"])[np.arange(n) % 3]}))
    return pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)


def test_offline_mart_does_not_depend_on_the_row_order():
    table = _scored(0)
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    kw = dict(ks=[2], n_bootstrap=20, n_bootstrap_daily=10)
    a, b = offline_metrics_table(table, **kw), offline_metrics_table(shuffled, **kw)
    assert a.num_rows > 0 and a.equals(b)
    assert set(a.column("baseline_model_id").drop_null().to_pylist()) == {"prod"}
