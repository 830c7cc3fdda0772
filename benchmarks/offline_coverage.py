"""Interval coverage of the offline metrics against the simulator's truth.

The question (issue 4): over >= 200 replications, do the 95% intervals that
``fct_offline_metrics`` reports contain the value computed from the simulator's TRUE
click probabilities 93-97% of the time?

Set-up (no dbt; the package functions the mart calls, with the mart's settings):

* Population: one simulated world's clean impressions (``truth/impressions.parquet``:
  ``p_click``, the true click probability) with the production model's score for each
  shown item (``truth/candidates.parquet``: ``prod_score``, the score prod_v1 serves).
  Default: ``data/default`` (seed 42) if present, else a world simulated here with
  ``receval.simulate.get_preset(--preset)``.
* True values, from ``p`` on the whole population (a function of the truth, not of any
  label draw): observed click rate ``mean(p)``; mean predicted - observed
  ``mean(s - p)``; Brier ``mean(s^2 - 2 s p + p)``; log-loss
  ``-mean(p log s + (1 - p) log(1 - s))``; ROC AUC
  ``sum_ij p_i (1 - p_j) psi(s_i, s_j) / (sum_i p_i * sum_j (1 - p_j))`` (psi = 1 above,
  1/2 tied): the probability that a random clicked impression outscores a random
  non-clicked one.
* Replication r: ``--requests`` requests drawn at random from the population (a small
  world's worth of logged lists), clicks redrawn ``y ~ Bernoulli(p_click)``, then
  ``classification_metrics(y, s, group_ids=request_id, n_bootstrap=--n-boot)`` and
  ``mean_with_clt`` (the mart's call), and each 95% interval is checked against the truth.
  ``roc_auc_delong`` (DeLong, ignoring the clustering of rows in requests) is reported
  for comparison.

Rerun::

    .venv/bin/python benchmarks/offline_coverage.py                  # 400 replications
    .venv/bin/python benchmarks/offline_coverage.py --reps 200 --requests 1000

Writes ``benchmarks/results/offline_coverage.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from receval.metrics import mean_with_clt, roc_auc
from receval.metrics.report import classification_metrics

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("roc_auc", "roc_auc_delong", "log_loss", "brier_score", "calibration_in_the_large", "observed_rate")


def load_population(world: Path) -> pd.DataFrame:
    imps = pd.read_parquet(world / "truth" / "impressions.parquet",
                           columns=["request_id", "item_id", "p_click"])
    cands = pd.read_parquet(world / "truth" / "candidates.parquet",
                            columns=["request_id", "item_id", "prod_score"])
    pop = imps.merge(cands.drop_duplicates(["request_id", "item_id"]), on=["request_id", "item_id"])
    return pop.sort_values(["request_id", "item_id"]).reset_index(drop=True)


def true_auc(s: np.ndarray, p: np.ndarray) -> float:
    """sum_ij p_i (1-p_j) psi(s_i, s_j) / (sum p * sum (1-p)), by sorting the scores."""
    order = np.argsort(s, kind="stable")
    s, p = s[order], p[order]
    uniq, start = np.unique(s, return_index=True)
    neg = np.add.reduceat(1.0 - p, start)            # negative mass per distinct score
    pos = np.add.reduceat(p, start)
    below = np.cumsum(neg) - neg                     # negative mass strictly below
    num = float(np.sum(pos * (below + 0.5 * neg)))
    return num / (p.sum() * (1.0 - p).sum())


def true_values(pop: pd.DataFrame) -> dict[str, float]:
    s, p = pop["prod_score"].to_numpy(), pop["p_click"].to_numpy()
    e = np.finfo(np.float64).eps
    sc = np.clip(s, e, 1 - e)
    return {
        "roc_auc": true_auc(s, p),
        "roc_auc_delong": true_auc(s, p),
        "log_loss": float(-np.mean(p * np.log(sc) + (1 - p) * np.log(1 - sc))),
        "brier_score": float(np.mean(s * s - 2 * s * p + p)),
        "calibration_in_the_large": float(np.mean(s - p)),
        "observed_rate": float(np.mean(p)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", type=Path, default=ROOT / "data" / "default",
                    help="a simulated world folder with truth/ (default data/default)")
    ap.add_argument("--preset", default="tiny", help="simulate this preset when --world is missing")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--requests", type=int, default=2000, help="requests per replication")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "offline_coverage.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    world = args.world
    if not (world / "truth" / "candidates.parquet").exists():
        from receval.simulate import get_preset, simulate
        world = Path(tempfile.mkdtemp(prefix="receval_cov_"))
        simulate(get_preset(args.preset), args.seed, world)
    pop = load_population(world)
    truth = true_values(pop)
    req_ids, start = np.unique(pop["request_id"].to_numpy(), return_index=True)
    ends = np.append(start[1:], len(pop))
    s_all, p_all = pop["prod_score"].to_numpy(), pop["p_click"].to_numpy()
    rng = np.random.default_rng(args.seed)
    hits = {m: 0 for m in METRICS}
    widths = {m: [] for m in METRICS}
    n_def = {m: 0 for m in METRICS}
    estimates = {m: [] for m in METRICS}
    for r in range(args.reps):
        pick = np.sort(rng.choice(req_ids.size, size=args.requests, replace=False))
        rows = np.concatenate([np.arange(start[i], ends[i]) for i in pick])
        s, p = s_all[rows], p_all[rows]
        grp = np.repeat(pick, ends[pick] - start[pick])
        y = (rng.random(rows.size) < p).astype(np.int64)
        res = classification_metrics(y, s, group_ids=grp, n_bootstrap=args.n_boot, random_state=r)
        res["roc_auc_delong"] = roc_auc(y, s)  # rows treated as independent (no groups)
        res["observed_rate"] = mean_with_clt(y.astype(float), name="observed_rate", group_ids=grp,
                                             bounds=(0.0, 1.0))
        for m in METRICS:
            x = res[m]
            if not x.is_defined:
                continue
            n_def[m] += 1
            estimates[m].append(x.value)
            hits[m] += int(x.ci_low <= truth[m] <= x.ci_high)
            widths[m].append(x.ci_high - x.ci_low)
    out = {
        "world": str(world), "population_rows": int(len(pop)), "population_requests": int(req_ids.size),
        "reps": args.reps, "requests_per_rep": args.requests, "n_boot": args.n_boot,
        "seconds": round(time.perf_counter() - t0, 1), "cpus": os.cpu_count(),
        "truth": truth,
        "coverage": {m: hits[m] / max(n_def[m], 1) for m in METRICS},
        "defined": n_def,
        "mean_estimate": {m: float(np.mean(estimates[m])) if estimates[m] else None for m in METRICS},
        "sd_estimate": {m: float(np.std(estimates[m], ddof=1)) if len(estimates[m]) > 1 else None
                        for m in METRICS},
        "mean_interval_width": {m: float(np.mean(widths[m])) if widths[m] else None for m in METRICS},
        "method": {"roc_auc": "bootstrap_percentile over requests (the mart's interval)",
                   "roc_auc_delong": "DeLong, rows treated as independent (not used by the mart)",
                   "log_loss": "clt_cluster (requests)", "brier_score": "clt_cluster (requests)",
                   "calibration_in_the_large": "clt_cluster (requests)",
                   "observed_rate": "clt_cluster (requests)"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"{'metric':28s} {'truth':>10s} {'mean est.':>10s} {'coverage':>9s} {'mean width':>11s}")
    for m in METRICS:
        se = np.sqrt(0.95 * 0.05 / max(n_def[m], 1))
        print(f"{m:28s} {truth[m]:10.5f} {out['mean_estimate'][m]:10.5f} {out['coverage'][m]:9.3f} {out['mean_interval_width'][m]:11.5f}"
              f"   (MC s.e. {se:.3f}, {n_def[m]} reps)")
    print(f"{out['seconds']} s; written {args.out}")


if __name__ == "__main__":
    main()
