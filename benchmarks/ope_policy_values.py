"""fct_policy_value_estimates against the simulator's true policy values (issue 5).

    .venv/bin/receval simulate --preset default --seed 42 --out data/default
    .venv/bin/dbt build --profiles-dir . --vars '{raw_path: data/default/raw}'
    .venv/bin/python benchmarks/ope_policy_values.py --database warehouse/receval.duckdb \
        --truth data/default/truth [--reward click]

For every target policy with logged support and each estimator of the overall cell
(day 'all', segment 'all'): the estimate, its standard error, the true value
(truth/policy_values.parquet), the relative error and whether the 95% analytic and
bootstrap intervals cover the truth; and Kendall's tau between the policies' ranking by
estimate and by true value, per estimator. Printed and written to
benchmarks/results/ope_policy_values.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import pandas as pd
from scipy import stats

OUT = Path(__file__).resolve().parent / "results" / "ope_policy_values.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", default="warehouse/receval.duckdb")
    ap.add_argument("--truth", default="data/default/truth")
    ap.add_argument("--reward", default="click")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    with duckdb.connect(args.database, read_only=True) as con:
        est = con.sql(
            "select * from main.fct_policy_value_estimates where day = 'all' and segment = 'all' "
            f"and reward = '{args.reward}' and n_slots > 0").df()
    truth = pd.read_parquet(Path(args.truth) / "policy_values.parquet")
    truth = truth[(truth.day == "all") & (truth.reward == args.reward)].set_index("policy_id").true_value
    est = est[est.policy_id.isin(truth.index)].copy()
    est["true_value"] = est.policy_id.map(truth)
    est["relative_error"] = (est.estimate - est.true_value) / est.true_value
    est["covered"] = (est.ci_low <= est.true_value) & (est.true_value <= est.ci_high)
    est["bootstrap_covered"] = (est.bootstrap_ci_low <= est.true_value) & (est.true_value <= est.bootstrap_ci_high)
    cols = ["policy_id", "estimator", "estimate", "std_error", "true_value", "relative_error", "covered",
            "bootstrap_covered", "n_slots", "n_requests", "effective_sample_size", "mean_weight"]
    table = est[cols].sort_values(["policy_id", "estimator"])
    taus = {}
    for estimator, frame in est.groupby("estimator"):
        if len(frame) >= 2:
            taus[estimator] = float(stats.kendalltau(frame.estimate, frame.true_value).statistic)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    print("Kendall tau (policy ranking by estimate vs truth):", taus)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"reward": args.reward, "rows": table.to_dict("records"),
                                          "kendall_tau": taus}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
