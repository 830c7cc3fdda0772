"""Benchmark the candidate models on a simulated world: test AUC next to the oracle, and
training + scoring time and memory.

    python benchmarks/candidate_models.py --preset default

1. `dbt build --select +int_features__impressions int_features__item_content` (features,
   not timed here beyond the wall clock), then `dbt build --select int_candidates__training_runs
   dim_model_registry fct_model_scores`: wall time and peak RSS of that dbt process (training
   of every candidate plus scoring the test split), and each model's execution time.
2. Test-split AUC of every model and task from fct_model_scores, next to the production
   policy's served score and the oracle: the simulator's true probabilities of the same rows
   (click: p_click; conversion: p_click x p_purchase_given_click), the ceiling no model can
   pass. Labels are those of fct_impression_labels as of the data's end (on the test day
   some conversions have not landed yet: every score is compared on the same labels).
3. Training time per family, measured by calling the package on the same feature rows with
   the parameters of the `candidate_models` var in dbt_project.yml.
Results: printed and written to benchmarks/results/candidate_models_<preset>.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import duckdb
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from dbt_build import PROJECT_DIR, dbt_command, run_measured
from receval.models.training import train_candidate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["tiny", "default"])
    parser.add_argument("--data-dir", type=Path, help="world folder (default data/<preset>)")
    parser.add_argument("--vars", default="{}", help="extra dbt vars as JSON (e.g. split vars for tiny)")
    args = parser.parse_args()
    world = args.data_dir or PROJECT_DIR / "data" / args.preset
    extra = json.loads(args.vars)
    warehouse = PROJECT_DIR / "warehouse" / f"bench_models_{args.preset}"
    shutil.rmtree(warehouse, ignore_errors=True)
    result: dict = {"preset": args.preset}

    wall, peak = run_measured(*dbt_command(warehouse, world / "raw", "build", "--select",
                                           "+int_features__impressions", "+int_features__item_content", "--indirect-selection", "cautious",
                                           extra_vars=extra))
    result["features_build"] = {"wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2)}
    wall, peak = run_measured(*dbt_command(warehouse, world / "raw", "build", "--select",
                                           "int_candidates__training_runs", "dim_model_registry",
                                           "fct_model_scores", extra_vars=extra))
    runs = json.loads((warehouse / "target" / "run_results.json").read_text())["results"]
    result["train_and_score_build"] = {
        "wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2),
        "models_s": {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1)
                     for r in runs if r["unique_id"].startswith("model.")},
    }

    with duckdb.connect(str(warehouse / "receval.duckdb"), read_only=True) as con:
        scores = con.sql("select model_id, task, event_id, raw_score from fct_model_scores").df()
        labels = con.sql("""
            select l.event_id, l.model_id as policy, l.score as served_score,
                   l.is_clicked::int as click, l.is_converted::int as conversion
            from fct_impression_labels l join fct_model_scores s using (event_id)
            where s.model_id = (select min(model_id) from fct_model_scores) and s.task = 'click'
        """).df()
        registry = con.sql("select * exclude (is_current) from dim_model_registry where is_current").df()
        features = con.sql("select * from int_features__impressions where split in ('train', 'validation')").to_arrow_table()
        content = con.sql("select * from int_features__item_content").to_arrow_table()
    truth = pd.read_parquet(world / "truth" / "impressions.parquet",
                            columns=["event_id", "p_click", "p_purchase_given_click"])
    rows = labels.merge(truth, on="event_id", how="left")
    rows["oracle_click"] = rows.p_click
    rows["oracle_conversion"] = rows.p_click * rows.p_purchase_given_click
    auc = {}
    for task in ("click", "conversion"):
        y = rows[task].to_numpy()
        auc[task] = {"oracle": roc_auc_score(y, rows[f"oracle_{task}"])}
        served = rows.policy.eq("prod_v1") & rows.served_score.notna()
        auc[task]["prod_v1 served (its rows only)"] = roc_auc_score(y[served], rows.served_score[served])
        auc[task]["oracle (prod_v1 rows only)"] = roc_auc_score(y[served], rows[f"oracle_{task}"][served])
        for model_id, part in scores[scores.task == task].groupby("model_id"):
            joined = rows[["event_id", task]].merge(part, on="event_id")
            auc[task][model_id] = roc_auc_score(joined[task], joined.raw_score)
        auc[task] = {k: round(v, 4) for k, v in auc[task].items()}
    result["test_rows"] = len(rows)
    result["test_auc"] = auc
    result["registry"] = registry[["model_id", "task", "best_iteration", "validation_auc",
                                   "n_train_rows"]].to_dict("records")

    timings = {}
    candidates = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["candidate_models"]
    for c in candidates:
        start = time.perf_counter()
        train_candidate(features, content, model_id=c["model_id"], family=c["family"], params=c.get("params"),
                        store=warehouse / "timing_store")
        timings[c["model_id"]] = round(time.perf_counter() - start, 1)
    result["train_s_by_family"] = timings

    out = PROJECT_DIR / "benchmarks" / "results" / f"candidate_models_{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
