"""Where a world's placebo false-positive rate comes from: many placebo splits of one build.

    python benchmarks/placebo_spread.py <warehouse folder> [--replicates 4000] [--seed 0]

Reads `fct_experiment_user_metrics` and the registry from the built warehouse (read-only),
splits each experiment's users into placebo arms `--replicates` times (the splits of
`fct_aa_calibration`, receval.experiments.placebo) and prints per experiment, metric and
estimator: the false-positive rate at alpha with its binomial SE, the spread ratio (sd of the
placebo effects / rms of their standard errors: 1 when the SEs are honest), and the rate the
same statistics would give against a t distribution with n - 2 degrees of freedom instead of
the estimator's own reference (normal for the delta method). With thousands of replicates the
rate is the world's own, not a noisy estimate of it: a rate above alpha by several SE is the
estimator's on these users, not the replicates' chance.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import numpy as np
from scipy import stats

from receval.experiments.placebo import calibration_summary, placebo_arms, placebo_estimates
from receval.experiments.registry import METRICS, read_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--replicates", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with duckdb.connect(str(args.warehouse / "receval.duckdb"), read_only=True) as con:
        users = con.sql("select * from main.fct_experiment_user_metrics").df()
        metrics = read_registry(con.sql("select * from main_seeds.experiment_registry").to_arrow_table()).metrics
    print("| experiment | metric | estimator | users | false-positive rate (SE) | spread ratio | rate, t(n-2) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for exp in sorted(metrics):
        rows = users[users.experiment_id == exp]
        in_b = placebo_arms(rows.user_id.to_numpy(), args.replicates, args.seed)
        columns = {c: rows[c].to_numpy(dtype=float) for c in rows.columns
                   if c != "experiment_id" and rows[c].dtype.kind in "biuf"}
        for m in metrics[exp]:
            spec, alpha = METRICS[m["name"]], float(m["alpha"])
            for est in placebo_estimates(columns, spec, in_b):
                summary = calibration_summary(est.effect, est.std_error, est.p_value, alpha)
                ok = np.isfinite(est.p_value)
                z = np.abs(est.effect[ok] / est.std_error[ok])
                t_rate = float(np.mean(2 * stats.t.sf(z, len(rows) - 2) < alpha))
                print(f"| {exp} | {m['name']} | {est.estimator} | {len(rows)} | "
                      f"{summary['false_positive_rate']:.4f} ({summary['binomial_std_error']:.4f}) | "
                      f"{summary['spread_ratio']:.3f} | {t_rate:.4f} |")

if __name__ == "__main__":
    main()
