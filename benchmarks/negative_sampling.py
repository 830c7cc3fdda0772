"""Negative sampling of the candidates' training rows: test AUC, calibration and training
time of a family at several sampling rates, on the features of a built warehouse.

    python benchmarks/negative_sampling.py --warehouse warehouse/whole_default --family xgboost --rates 1 0.5 0.25

Reads int_features__impressions (train + validation to fit, test to score) and
int_features__item_content from the warehouse's DuckDB file, trains the family once per rate
(`negative_sample_rate` in its parameters, everything else at the defaults) in a scratch
model store, and scores the test split. AUC is the raw score's against the labels as they
stand at the data's end; "mean / rate" is the calibrated score's mean over the observed rate.
Results: printed and written to benchmarks/results/negative_sampling_<family>.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from sklearn.metrics import roc_auc_score

from receval.models.registry import rows_table
from receval.models.training import score_candidates, train_candidate

LABELS = {"click": "is_clicked", "conversion": "is_converted"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--family", default="xgboost", choices=["xgboost", "mmoe"])
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    args = parser.parse_args()
    with duckdb.connect(str(args.warehouse / "receval.duckdb"), read_only=True) as con:
        fit = con.sql("select * from int_features__impressions where split in ('train', 'validation')").to_arrow_table()
        test = con.sql("select * from int_features__impressions where split = 'test'").to_arrow_table()
        content = con.sql("select * from int_features__item_content").to_arrow_table()
    labels = test.select(["event_id", *LABELS.values()]).to_pandas()
    results = []
    for rate in args.rates:
        store = Path(tempfile.mkdtemp(prefix="negative_sampling_"))
        started = time.perf_counter()
        rows = train_candidate(fit, content, model_id=args.family, family=args.family, store=store,
                               params={"negative_sample_rate": rate}, retrain=True)
        seconds = time.perf_counter() - started
        scores = score_candidates(rows_table(rows, current=[(r["model_id"], r["version"]) for r in rows]),
                                  test, content).to_pandas()
        shutil.rmtree(store)
        result = {"rate": rate, "train_s": round(seconds, 1),
                  "best_iteration": {r["task"]: r["best_iteration"] for r in rows}}
        for task, column in LABELS.items():
            joined = labels.merge(scores[scores.task == task], on="event_id")
            y = joined[column].astype(int)
            result[task] = {"auc": round(roc_auc_score(y, joined.raw_score), 4),
                            "mean_over_rate": round(float(joined.calibrated_score.mean() / y.mean()), 3)}
        print(json.dumps(result), flush=True)
        results.append(result)
    out = Path(__file__).parent / "results" / f"negative_sampling_{args.family}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"warehouse": str(args.warehouse), "family": args.family, "results": results}, indent=2))


if __name__ == "__main__":
    main()
