"""Error rates of the experiment pipeline as a user runs it, over many simulated worlds.

    python benchmarks/calibration_worlds.py --worlds 200 [--first-seed 1000] [--preset tiny] [--jobs 2]

Per world (seed first-seed + i): the preset simulated, then `dbt build` of the experiment
family (`+rpt_experiment_scorecard +fct_aa_calibration`: staging, labels, exposures, user
metrics, results, guardrails, SRM, scorecard; models and seeds, no tests) in a fresh
warehouse. `--jobs` worlds are built at once, each job in a folder of its own
(warehouse/calibration_<preset>/job<k>: its world, warehouse and dbt target, the same paths
and vars from one world to the next, so dbt's partial parse is kept), DuckDB on one thread. Its marts are read against the
world's truth (truth/experiments.parquet):
- the A/A experiment (`exp_aa`: control_b vs control, no effect): how often each p-value
  (raw, CUPED, their Benjamini-Hochberg adjustments, the always-valid mSPRT, the
  delay-corrected one) falls below alpha; how often the scorecard's decision is ship (or
  any significant decision), and how often the test it decides on (always-valid while the
  experiment runs, fixed horizon from its planned end) has p < alpha, whatever the
  guardrails and the SRM check say (small worlds cannot show a guardrail non-inferior, so
  their decision is mostly invalid);
- every experiment's intervals (raw, CUPED, delay-corrected, the mSPRT confidence
  sequence): how often they cover the true effect of the world's whole horizon;
- fct_aa_calibration (placebo re-randomisations of each experiment's users): its mean
  false-positive rate per metric and estimator, and how often its status is not ok (its
  warn-severity test fires).
Each rate with its binomial standard error. One record per world is appended to
benchmarks/results/calibration_worlds_<preset>.jsonl as it is measured (a run can be
resumed: seeds already there are skipped); the summary is printed and written to
benchmarks/results/calibration_worlds_<preset>.json.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from dbt_build import PROJECT_DIR, dbt_command

sys.path.insert(0, str(PROJECT_DIR / "tests" / "python"))
from dbt_runner import TINY_VARS  # noqa: E402  (the tiny world's split and monitoring vars)

SELECT = ["+rpt_experiment_scorecard", "+fct_aa_calibration"]
#: the A/A experiment's p-values, by the results' column
P_VALUES = {"raw": "p_value", "cuped": "cuped_p_value", "raw_bh": "bh_adjusted_p_value",
            "cuped_bh": "cuped_bh_adjusted_p_value", "msprt": "msprt_p_value", "corrected": "corrected_p_value"}
#: interval families, by their (low, high) columns
INTERVALS = {"raw": ("ci_low", "ci_high"), "cuped": ("cuped_ci_low", "cuped_ci_high"),
             "corrected": ("corrected_ci_low", "corrected_ci_high"), "msprt": ("msprt_cs_low", "msprt_cs_high")}
AA = "exp_aa"


def world_record(seed: int, marts: Path, truth: Path) -> dict:
    """What one world's experiment marts say against its truth."""
    results = pd.read_parquet(marts / "fct_experiment_results.parquet")
    card = pd.read_parquet(marts / "rpt_experiment_scorecard.parquet")
    effects = pd.read_parquet(truth / "experiments.parquet")
    rows = results.merge(effects[["experiment_id", "variant", "metric", "true_effect_abs"]],
                         on=["experiment_id", "variant", "metric"], how="inner", validate="one_to_one")
    cells = []
    for r in rows.itertuples(index=False):
        cell = {"experiment_id": r.experiment_id, "variant": r.variant, "metric": r.metric,
                "alpha": float(r.alpha), "true_effect": float(r.true_effect_abs)}
        for name, column in P_VALUES.items():
            p = getattr(r, column)
            cell[f"p_{name}"] = None if pd.isna(p) else float(p)
        for name, (low, high) in INTERVALS.items():
            lo, hi = getattr(r, low), getattr(r, high)
            cell[f"covers_{name}"] = None if pd.isna(lo) or pd.isna(hi) else bool(lo <= r.true_effect_abs <= hi)
        cells.append(cell)
    decisions = {c.experiment_id: {"decision": c.decision, "decision_test": c.decision_test,
                                   "significant": bool(c.p_value < c.alpha) if pd.notna(c.p_value) else None}
                 for c in card.itertuples(index=False)}
    placebo = pd.read_parquet(marts / "fct_aa_calibration.parquet")
    placebo = [{"experiment_id": r.experiment_id, "metric": r.metric, "estimator": r.estimator,
                "false_positive_rate": float(r.false_positive_rate), "status": r.status}
               for r in placebo.itertuples(index=False)]
    return {"seed": seed, "cells": cells, "decisions": decisions, "placebo": placebo}


def rate(flags: list[bool]) -> dict:
    """Share of True with its binomial standard error."""
    n = len(flags)
    p = sum(flags) / n if n else math.nan
    return {"rate": round(p, 4), "se": round(math.sqrt(p * (1 - p) / n), 4) if n else None, "n": n}


def summary(records: list[dict]) -> dict:
    """The rates over worlds: A/A rejections per p-value and metric, A/A decisions,
    coverage per experiment, interval family and metric."""
    cells = pd.DataFrame([dict(c, seed=r["seed"]) for r in records for c in r["cells"]])
    out = {"worlds": len(records), "aa_rejections": {}, "aa_decisions": {}, "coverage": {}}
    aa = cells[cells.experiment_id == AA]
    for name in P_VALUES:
        p = aa[["metric", f"p_{name}", "alpha"]].dropna()
        per_metric = {m: rate((g[f"p_{name}"] < g.alpha).tolist()) for m, g in p.groupby("metric")}
        anyone = (p[f"p_{name}"] < p.alpha).groupby(aa.loc[p.index, "seed"]).any()
        out["aa_rejections"][name] = {**per_metric, "any metric": rate(anyone.tolist())} if len(p) else {}
    decisions = [r["decisions"].get(AA, {}) for r in records]
    out["aa_decisions"] = {
        "ship": rate([d.get("decision") == "ship" for d in decisions]),
        "ship or dont_ship": rate([d.get("decision") in ("ship", "dont_ship") for d in decisions]),
        # the deciding test alone, whatever the guardrails and SRM say
        "deciding p < alpha": rate([bool(d.get("significant")) for d in decisions]),
        "counts": pd.Series([d.get("decision") for d in decisions]).value_counts().to_dict(),
        "tests": pd.Series([d.get("decision_test") for d in decisions]).value_counts().to_dict()}
    placebo = pd.DataFrame([p for r in records for p in r["placebo"]])
    out["placebo"] = {f"{e} {m} {est}": {"mean_false_positive_rate": round(float(g.false_positive_rate.mean()), 4),
                                         "status_not_ok": rate((g.status != "ok").tolist())}
                      for (e, m, est), g in placebo.groupby(["experiment_id", "metric", "estimator"])}
    for (experiment, variant), g in cells.groupby(["experiment_id", "variant"]):
        out["coverage"][f"{experiment} {variant}"] = {
            name: {m: rate(flags.astype(bool).tolist()) for m, gm in g.groupby("metric")
                   if len(flags := gm[f"covers_{name}"].dropna())} for name in INTERVALS}
    return out


def markdown(out: dict) -> str:
    """The summary as two markdown tables: rate (standard error) per row and metric."""
    def cell(r):
        return f"{r['rate']:.3f} ({r['se']:.3f})"

    metrics = sorted({m for per in out["aa_rejections"].values() for m in per if m != "any metric"})
    lines = ["| A/A: p < alpha | " + " | ".join(metrics) + " | any metric |",
             "| --- |" + " --- |" * (len(metrics) + 1)]
    for name, per in out["aa_rejections"].items():
        if per:
            lines.append(f"| {name} | " + " | ".join(cell(per[m]) if m in per else "" for m in metrics)
                         + f" | {cell(per['any metric'])} |")
    lines += ["", "| coverage of the true effect | " + " | ".join(metrics) + " |",
              "| --- |" + " --- |" * len(metrics)]
    for arm, families in out["coverage"].items():
        for name, per in families.items():
            if per:
                lines.append(f"| {arm}, {name} | " + " | ".join(cell(per[m]) if m in per else "" for m in metrics) + " |")
    lines += ["", "| fct_aa_calibration (placebo re-randomisations) | mean false-positive rate | worlds not ok |",
              "| --- | --- | --- |"]
    lines += [f"| {key} | {v['mean_false_positive_rate']:.3f} | {cell(v['status_not_ok'])} |"
              for key, v in out["placebo"].items()]
    d = out["aa_decisions"]
    lines += ["", f"A/A scorecard over {out['worlds']} worlds: ship {cell(d['ship'])}, ship or dont_ship "
              f"{cell(d['ship or dont_ship'])}, the deciding test's p < alpha {cell(d['deciding p < alpha'])}; "
              f"decisions {d['counts']}, tests {d['tests']}"]
    return "\n".join(lines)


def build_world(seed: int, preset: str, root: Path) -> float:
    """Simulate the world of seed into root/world and build the family in a fresh warehouse
    (the same paths and vars every world, so dbt's partial parse is kept)."""
    from receval.simulate import get_preset, simulate

    started = time.perf_counter()
    simulate(get_preset(preset), seed, root / "world")
    for stale in ("receval.duckdb", "receval.duckdb.wal"):
        (root / stale).unlink(missing_ok=True)
    shutil.rmtree(root / "marts", ignore_errors=True)
    cmd, env = dbt_command(root, root / "world" / "raw", "build", "--select", *SELECT,
                           "--exclude-resource-type", "test", "unit_test",
                           extra_vars=TINY_VARS if preset == "tiny" else None)
    env["RECEVAL_DUCKDB_THREADS"] = "1"   # the jobs share the cores
    done = subprocess.run(cmd, env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"seed {seed}: dbt build failed:\n{done.stdout[-6000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


#: each job process's own warehouse folder (set once per process by _start_job)
JOB: dict = {}


def _start_job(counter, base: Path, preset: str) -> None:
    with counter.get_lock():
        JOB.update(root=base / f"job{counter.value}", preset=preset)
        counter.value += 1
    JOB["root"].mkdir(parents=True, exist_ok=True)


def _measure(seed: int) -> dict:
    seconds = build_world(seed, JOB["preset"], JOB["root"])
    record = world_record(seed, JOB["root"] / "marts", JOB["root"] / "world" / "truth")
    return dict(record, seconds=round(seconds, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "default"])
    parser.add_argument("--jobs", type=int, default=2, help="worlds built at once (default 2: one per core)")
    args = parser.parse_args()

    results = PROJECT_DIR / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    log = results / f"calibration_worlds_{args.preset}.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    seeds = range(args.first_seed, args.first_seed + args.worlds)
    todo = [seed for seed in seeds if seed not in {r["seed"] for r in records}]
    started = time.perf_counter()
    counter = multiprocessing.Value("i", 0)
    with multiprocessing.Pool(args.jobs, _start_job, (counter, PROJECT_DIR / "warehouse" / f"calibration_{args.preset}",
                                                      args.preset)) as pool:
        for record in pool.imap_unordered(_measure, todo):
            records.append(record)
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"seed {record['seed']}: {record['seconds']} s, exp_aa {record['decisions'].get(AA, {}).get('decision')}",
                  flush=True)
    chosen = [r for r in records if r["seed"] in seeds]
    out = {"preset": args.preset, "first_seed": args.first_seed, "jobs": args.jobs, **summary(chosen),
           "median_world_s": sorted(r["seconds"] for r in chosen)[len(chosen) // 2],
           "this_run_wall_s": round(time.perf_counter() - started, 1)}
    (results / f"calibration_worlds_{args.preset}.json").write_text(json.dumps(out, indent=2))
    print(markdown(out))


if __name__ == "__main__":
    main()
