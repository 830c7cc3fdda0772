"""The counterfactual family of benchmarks/calibration_worlds.py: how often the intervals
of fct_policy_value_estimates cover each target policy's true value, per estimator, target
policy and reward, over worlds.

Per world, the overall cells (day and segment 'all') of every policy with logged support
are read against the simulator's truth: truth/policy_values.parquet (day 'all') for the
built-in policies, and for the candidate-model policies their whole distribution rebuilt
from the warehouse's candidate scores and valued by
receval.simulate.policy_values.table_policy_values (benchmarks/ope_policy_values.py). The
delay-corrected rewards (purchase_corrected, revenue_corrected) estimate the eventual
purchases and revenue, so they are read against those; the uncorrected purchase and
revenue count only the purchases that had arrived by the data's end, so they miss the true
value by the purchases still to come (docs/delayed_feedback.md). Only the popularity model
is trained as a candidate (the others would cost minutes a world and add two policies each).
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import yaml

from binomial_rate import cell, rate
from dbt_build import PROJECT_DIR
from ope_policy_values import candidate_truth

SELECT = ["+fct_policy_value_estimates"]
VARS = {"candidate_models": [{"model_id": "popularity", "family": "popularity", "params": {}}]}
#: the reward whose eventual value each estimated reward targets
TRUE_REWARD = {"click": "click", "purchase": "purchase", "revenue": "revenue",
               "purchase_corrected": "purchase", "revenue_corrected": "revenue"}


def record(seed: int, root: Path, truth: Path) -> dict:
    """Each overall cell's estimate and whether its analytic and bootstrap intervals cover
    the policy's true value."""
    est = pd.read_parquet(root / "marts" / "fct_policy_value_estimates.parquet")
    est = est[(est.day == "all") & (est.segment == "all") & (est.n_slots > 0)]
    builtin = pd.read_parquet(truth / "policy_values.parquet")
    cf = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"] | VARS
    with duckdb.connect(str(root / "receval.duckdb"), read_only=True) as con:
        candidates = candidate_truth(con, truth, cf)
    values = pd.concat([builtin[builtin.day == "all"], candidates])[["policy_id", "reward", "true_value"]]
    rows = est.assign(true_reward=est.reward.map(TRUE_REWARD)).merge(
        values.rename(columns={"reward": "true_reward"}), on=["policy_id", "true_reward"], how="inner",
        validate="many_to_one")
    cells = [{"policy_id": r.policy_id, "estimator": r.estimator, "reward": r.reward,
              "estimate": float(r.estimate), "true_value": float(r.true_value),
              "covers": bool(r.ci_low <= r.true_value <= r.ci_high),
              "covers_bootstrap": None if pd.isna(r.bootstrap_ci_low)
              else bool(r.bootstrap_ci_low <= r.true_value <= r.bootstrap_ci_high)}
             for r in rows.itertuples(index=False)]
    return {"seed": seed, "cells": cells}


def summary(records: list[dict]) -> dict:
    """Coverage per policy, reward and estimator (analytic and bootstrap intervals), and the
    mean relative error of the estimates."""
    cells = pd.DataFrame([c for r in records for c in r["cells"]])
    out = {"worlds": len(records), "coverage": {}}
    for (policy, reward, estimator), g in cells.groupby(["policy_id", "reward", "estimator"]):
        boot = g.covers_bootstrap.dropna()
        out["coverage"][f"{policy} {reward} {estimator}"] = {
            "analytic": rate(g.covers.tolist()),
            "bootstrap": rate(boot.astype(bool).tolist()) if len(boot) else None,
            "mean_relative_error": round(float(((g.estimate - g.true_value) / g.true_value).mean()), 4)}
    return out


def markdown(out: dict) -> str:
    """One row per policy and reward, one column per estimator: analytic interval coverage
    (standard error)."""
    keys = [k.rsplit(" ", 1) for k in out["coverage"]]
    estimators = list(dict.fromkeys(e for _, e in keys))
    rows = list(dict.fromkeys(pr for pr, _ in keys))
    lines = [f"| coverage over {out['worlds']} worlds (analytic 95% interval) | " + " | ".join(estimators) + " |",
             "| --- |" + " --- |" * len(estimators)]
    for pr in rows:
        lines.append(f"| {pr} | " + " | ".join(
            cell(out["coverage"][f"{pr} {e}"]["analytic"]) if f"{pr} {e}" in out["coverage"] else ""
            for e in estimators) + " |")
    return "\n".join(lines)
