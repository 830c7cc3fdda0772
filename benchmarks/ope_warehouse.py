"""Benchmark the counterfactual warehouse path on a world with at least 10M logged impressions.

    python benchmarks/ope_warehouse.py [--users 80000] [--train-days 7]

Simulates (if not on disk yet) the default preset scaled to --users users (80,000: about
11M impressions; candidate sets logged for --candidate-share of the requests), then, in a
fresh DuckDB warehouse, `dbt build --select +fct_policy_value_estimates`: staging, labels,
features, the candidate models (trained on the last --train-days days before validation,
to keep the run short), their target policies and every estimator for every policy. Wall
time and peak memory of the dbt process, each counterfactual model's time
(run_results.json), the logged impressions, the policy x slot rows and the estimates.
Printed and written to benchmarks/results/ope_warehouse.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dbt_build import BIN_DIR, PROJECT_DIR, dbt_command, run_measured  # noqa: E402

from receval.simulate import get_preset, simulate  # noqa: E402

OUT = PROJECT_DIR / "benchmarks" / "results" / "ope_warehouse.json"
COUNTERFACTUAL_MODELS = ("int_propensities", "int_cf__builtin_target_policies", "int_cf__candidate_features",
                         "int_cf__candidate_scores", "int_cf__candidate_target_policies", "int_cf__policy_slots",
                         "fct_policy_value_estimates")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=80_000)
    ap.add_argument("--candidate-share", type=float, default=0.2)
    ap.add_argument("--train-days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-dir", type=Path, default=PROJECT_DIR / "data" / "ope_10m")
    ap.add_argument("--warehouse", type=Path, default=PROJECT_DIR / "warehouse" / "bench_ope_10m")
    args = ap.parse_args()

    world = args.data_dir
    if not (world / "truth" / "world.json").exists():
        cfg = get_preset("default", n_users=args.users, candidate_log_share=args.candidate_share,
                         write_candidates=False)
        simulate(cfg, args.seed, world)
    info = json.loads((world / "truth" / "world.json").read_text())
    cmd, env = dbt_command(args.warehouse, world / "raw", "build", "--select", "+fct_policy_value_estimates",
                           "--indirect-selection", "cautious", extra_vars={"split_train_days": args.train_days})
    wall, peak = run_measured(cmd, env)
    results = json.loads((args.warehouse / "target" / "run_results.json").read_text())
    seconds = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in results["results"]
               if r["unique_id"].split(".")[-1] in COUNTERFACTUAL_MODELS}
    with duckdb.connect(str(args.warehouse / "receval.duckdb"), read_only=True) as con:
        counts = {name: con.sql(sql).fetchall()[0][0] for name, sql in {
            "labelled_impressions": "select count(*) from main.fct_impression_labels",
            "policy_slot_rows": "select count(*) from main.int_cf__policy_slots",
            "target_policy_rows": "select count(*) from main.int_cf__target_policies",
            "candidates_scored": "select count(*) from main.int_cf__candidate_features",
            "estimates": "select count(*) from main.fct_policy_value_estimates",
            "policies": "select count(distinct policy_id) from main.fct_policy_value_estimates",
            "estimators": "select count(distinct estimator) from main.fct_policy_value_estimates",
        }.items()}
    result = {"users": args.users, "seed": args.seed, "raw_impressions": info["rows"]["raw"]["impressions"],
              "train_days": args.train_days, "build_wall_s": round(wall, 1), "build_peak_gib": round(peak, 2),
              "model_seconds": seconds, **counts}
    print(json.dumps(result, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
