"""Check the experiment marts of a built world against its ground truth.

Reads the published marts (``--marts``: fct_experiment_results.parquet,
rpt_experiment_scorecard.parquet) and ``<world>/truth/experiments.parquet``; prints, per
experiment x metric with a known truth, the true effect, the raw and CUPED intervals and
whether each covers it; the A/A p-values; and CUPED's variance reduction next to rho^2
(rho: pre/post correlation of users with a pre-period) and the r-squared of the CUPED
design (covariate + no-pre-period indicator). Writes benchmarks/results/experiments_truth.json.

    .venv/bin/python benchmarks/experiments_truth.py --world data/default --marts /tmp/exp/marts
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path, default=Path("data/default"))
    ap.add_argument("--marts", type=Path, default=Path("warehouse/marts"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/experiments_truth.json"))
    args = ap.parse_args()
    res = pd.read_parquet(args.marts / "fct_experiment_results.parquet")
    card = pd.read_parquet(args.marts / "rpt_experiment_scorecard.parquet")
    truth = pd.read_parquet(args.world / "truth" / "experiments.parquet")
    m = res.merge(truth.rename(columns={"variant": "variant"}), on=["experiment_id", "variant", "metric"])
    m["raw_covers"] = (m["ci_low"] <= m["true_effect_abs"]) & (m["true_effect_abs"] <= m["ci_high"])
    m["cuped_covers"] = (m["cuped_ci_low"] <= m["true_effect_abs"]) & (m["true_effect_abs"] <= m["cuped_ci_high"])
    cols = ["experiment_id", "metric", "true_effect_abs", "effect", "ci_low", "ci_high", "raw_covers",
            "cuped_effect", "cuped_ci_low", "cuped_ci_high", "cuped_covers", "p_value", "cuped_p_value"]
    pd.set_option("display.width", 250)
    print(m[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    vr = res[["experiment_id", "metric", "variance_reduction", "pre_post_correlation", "pre_post_r_squared",
              "n_without_pre_period", "n_control", "n_treatment"]].copy()
    vr["rho_squared"] = vr["pre_post_correlation"] ** 2
    print(vr.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    decided = ["experiment_id", "decision", "decision_test", "planned_end_date", "reason"]
    print(card[decided].to_string(index=False))
    aa = res[res["experiment_id"] == "exp_aa"]
    out = {
        "aa_min_p_value": float(aa["p_value"].min()), "aa_min_cuped_p_value": float(aa["cuped_p_value"].min()),
        "aa_min_msprt_p_value": float(aa["msprt_p_value"].min()),
        "all_true_effects_covered_raw": bool(m["raw_covers"].all()),
        "all_true_effects_covered_cuped": bool(m["cuped_covers"].all()),
        "coverage": m[cols].to_dict(orient="records"), "variance_reduction": vr.to_dict(orient="records"),
        "decisions": card[decided].astype({"planned_end_date": str}).to_dict(orient="records"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=float))
    print({k: v for k, v in out.items() if not isinstance(v, list)})


if __name__ == "__main__":
    main()
