"""Default world: fct_offline_metrics agrees with scikit-learn on the production model.

Reads a warehouse built on the default world (data/default, seed 42) and recomputes, with
scikit-learn, on the same rows (fct_impression_labels x dim_split_dates x the request
device): roc_auc_score, average_precision_score, log_loss, brier_score_loss for
click and conversion (mature labels) x train / validation / test x segment all and each
device, and ndcg_score per request for NDCG@10 (click, test). Fails on any difference
above 1e-9; where a cell has no rows or one class, checks the mart says null + reason.

Rerun::

    mkdir -p /tmp/off/dmarts
    RECEVAL_DUCKDB_PATH=/tmp/off/d.duckdb RECEVAL_TEMP_DIR=/tmp/off/dtmp .venv/bin/dbt build \\
      --profiles-dir . --target-path /tmp/off/dtarget --log-path /tmp/off/dlogs \\
      --vars "{raw_path: data/default/raw, marts_path: /tmp/off/dmarts}" \\
      --select +fct_offline_metrics +fct_reliability_bins
    .venv/bin/python benchmarks/offline_sklearn_agreement.py /tmp/off/d.duckdb
"""
import duckdb, numpy as np, pandas as pd, sys, time
from sklearn.metrics import roc_auc_score, average_precision_score, log_loss, brier_score_loss, ndcg_score
db = sys.argv[1] if len(sys.argv) > 1 else "/tmp/off/d.duckdb"
c = duckdb.connect(db, read_only=True)
rows = c.sql("""
select l.request_id, l.score, l.is_clicked::int as clicked, l.is_converted::int as converted,
       l.is_label_mature, s.split, r.device
from fct_impression_labels l join dim_split_dates s using (impression_date)
left join stg_landing__requests r using (request_id)
where l.model_id = 'prod_v1' and s.split in ('train','validation','test')""").df()
m = c.sql("select * from fct_offline_metrics where model_id='prod_v1' and period='overall'").df()
worst = 0.0
out = []
for task, lab in (("click", "clicked"), ("conversion", "converted")):
    for split in ("train", "validation", "test"):
        for seg in [("all", "all"), ("device", "ios"), ("device", "android"), ("device", "web")]:
            r = rows[rows.split == split]
            if task == "conversion":
                r = r[r.is_label_mature]
            if seg[0] == "device":
                r = r[r.device == seg[1]]
            cell = m[(m.task == task) & (m.split == split) & (m.segment_type == seg[0]) & (m.segment_value == seg[1])].set_index("metric")
            if len(r) == 0 or r[lab].nunique() < 2:
                assert cell.value.isna().all() and cell.reason.notna().all()
                out.append((task, split, seg[1], len(r), "undefined", cell.reason.iloc[0][:60]))
                continue
            y, s = r[lab].to_numpy(), r.score.to_numpy()
            ref = {"roc_auc": roc_auc_score(y, s), "average_precision": average_precision_score(y, s),
                   "log_loss": log_loss(y, s), "brier_score": brier_score_loss(y, s)}
            for k, v in ref.items():
                d = abs(cell.loc[k, "value"] - v); worst = max(worst, d)
                assert d < 1e-9, (task, split, seg, k, d)
                assert cell.loc[k, "n"] == len(r)
            out.append((task, split, seg[1], len(r), round(ref["roc_auc"], 5), f"AUC ci [{cell.loc['roc_auc','ci_low']:.4f}, {cell.loc['roc_auc','ci_high']:.4f}]"))
# NDCG@10 on the test split (click), sklearn per request
r = rows[rows.split == "test"]
t0 = time.time(); vals = []
for _, g in r.groupby("request_id"):
    rel = g.clicked.to_numpy(float)
    if rel.sum() > 0:
        vals.append(ndcg_score(rel[None], g.score.to_numpy()[None], k=10))
ref = np.mean(vals)
v = m[(m.task == "click") & (m.split == "test") & (m.segment_type == "all") & (m.metric == "ndcg@10")].value.iloc[0]
worst = max(worst, abs(v - ref)); assert abs(v - ref) < 1e-9
for o in out: print(o)
print("ndcg@10 test click", v, ref, "requests", len(vals))
print("max |mart - sklearn| =", worst)
