"""fct_policy_value_estimates against the simulator's true policy values (issue 5).

    .venv/bin/receval simulate --preset default --seed 42 --out data/default
    .venv/bin/dbt build --profiles-dir . --vars '{raw_path: data/default/raw}'
    .venv/bin/python benchmarks/ope_policy_values.py --database warehouse/receval.duckdb \
        --truth data/default/truth [--reward click]

For every target policy with logged support and each estimator of the overall cell
(day 'all', segment 'all'): the estimate, its standard error, the true value, the relative
error and whether the 95% analytic and bootstrap intervals cover the truth; and Kendall's
tau between the policies' ranking by estimate and by true value, per estimator, over all
policies and over the candidate-model policies. True values: truth/policy_values.parquet
for the built-ins; for the candidate-model policies, their whole distribution rebuilt from
the warehouse's candidate scores with the project's cf_* vars (dbt_project.yml, or
--vars-json for a build run with others) and valued by
receval.simulate.policy_values.table_policy_values. Printed and written to
benchmarks/results/ope_policy_values.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import pandas as pd
import yaml
from scipy import stats

from receval.ope.candidate_policies import candidate_policy_table
from receval.simulate.policy_values import table_policy_values

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "ope_policy_values.json"


def candidate_truth(con, truth_dir: Path, cf: dict) -> pd.DataFrame:
    """True values of the candidate-model policies the build evaluated (policy_id, reward,
    true_value, n_requests: table_policy_values)."""
    scores = con.sql("select model_id, request_id, item_id, calibrated_score "
                     "from main.int_cf__candidate_scores where task = 'click'").df()
    if scores.empty:
        return pd.DataFrame(columns=["policy_id", "reward", "true_value", "n_requests"])
    full = candidate_policy_table(scores, scores[["request_id", "item_id"]], k=int(cf["cf_top_k"]),
                                  temperature=float(cf["cf_softmax_temperature"]),
                                  n_samples=int(cf["cf_softmax_samples"]),
                                  random_state=int(cf["cf_random_state"]), rows="all").to_pandas()
    return table_policy_values(truth_dir, full)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", default="warehouse/receval.duckdb")
    ap.add_argument("--truth", default="data/default/truth")
    ap.add_argument("--reward", default="click")
    ap.add_argument("--vars-json", default="{}", help="cf_* vars the build was run with, if not the defaults")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    cf = yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"] | json.loads(args.vars_json)
    with duckdb.connect(args.database, read_only=True) as con:
        est = con.sql(
            "select * from main.fct_policy_value_estimates where day = 'all' and segment = 'all' "
            f"and reward = '{args.reward}' and n_slots > 0").df()
        candidates = candidate_truth(con, Path(args.truth), cf)
    candidates = candidates[candidates.reward == args.reward].set_index("policy_id").true_value
    truth = pd.read_parquet(Path(args.truth) / "policy_values.parquet")
    truth = truth[(truth.day == "all") & (truth.reward == args.reward)].set_index("policy_id").true_value
    truth = pd.concat([truth, candidates])
    est = est[est.policy_id.isin(truth.index)].copy()
    est["true_value"] = est.policy_id.map(truth)
    est["relative_error"] = (est.estimate - est.true_value) / est.true_value
    est["covered"] = (est.ci_low <= est.true_value) & (est.true_value <= est.ci_high)
    est["bootstrap_covered"] = (est.bootstrap_ci_low <= est.true_value) & (est.true_value <= est.bootstrap_ci_high)
    cols = ["policy_id", "estimator", "estimate", "std_error", "true_value", "relative_error", "covered",
            "bootstrap_covered", "n_slots", "n_requests", "effective_sample_size", "mean_weight"]
    table = est[cols].sort_values(["policy_id", "estimator"])
    taus = {"all": kendall(est), "candidate_models": kendall(est[est.policy_id.isin(candidates.index)])}
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    for name, by_estimator in taus.items():
        print(f"Kendall tau, {name} policies (ranking by estimate vs truth):", by_estimator)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"reward": args.reward, "rows": table.to_dict("records"),
                                          "kendall_tau": taus}, indent=2, default=str) + "\n")


def kendall(est: pd.DataFrame) -> dict[str, float]:
    """Kendall's tau per estimator between the estimates and the true values."""
    return {estimator: float(stats.kendalltau(frame.estimate, frame.true_value).statistic)
            for estimator, frame in est.groupby("estimator") if len(frame) >= 2}


if __name__ == "__main__":
    main()
