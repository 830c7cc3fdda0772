"""The counterfactual family of benchmarks/calibration_worlds.py: how often the intervals
of fct_policy_value_estimates cover each target policy's true value, per estimator, target
policy and reward, over worlds.

Per world, the overall cells (day and segment 'all') of every policy with logged support
are read against the simulator's truth: for the built-in policies truth/policy_values.parquet,
over the days the cell holds (:func:`builtin_truth`); for the candidate-model policies their
whole distribution rebuilt from the warehouse's candidate scores and valued by
receval.simulate.policy_values.table_policy_values (benchmarks/ope_policy_values.py). The
delay-corrected rewards (purchase_corrected, revenue_corrected) estimate the eventual
purchases and revenue of every day; the plain purchase and revenue read mature labels only,
the first days, whose attribution windows have closed (of the last of them, the requests
already mature: a partial day whose truth is the whole day's). Only the popularity model is
trained as a candidate (the others would cost minutes a world and add two policies each).
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
REWARDS = pd.DataFrame(TRUE_REWARD.items(), columns=["reward", "true_reward"])
#: the cf_* vars the builds run with (the candidate policies' truth rebuilds them)
CF_VARS = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"] | VARS


def builtin_truth(est: pd.DataFrame, truth: Path) -> pd.DataFrame:
    """The built-in policies' true value over the days each (policy, reward) cell reads: the
    plain purchase and revenue read mature labels only, so their overall cell covers the
    first days alone; the request-weighted mean of the simulator's daily values (its 'all'
    row is that mean over every day)."""
    daily = pd.read_parquet(truth / "policy_values.parquet").query("day != 'all'")
    days = est.loc[(est.segment == "all") & (est.day != "all") & (est.n_slots > 0),
                   ["policy_id", "reward", "day"]].drop_duplicates()
    rows = days.assign(true_reward=days.reward.map(TRUE_REWARD)).merge(
        daily.rename(columns={"reward": "true_reward"}), on=["policy_id", "true_reward", "day"], how="inner")
    rows["weighted"] = rows.true_value * rows.n_requests
    sums = rows.groupby(["policy_id", "reward"])[["weighted", "n_requests"]].sum()
    return (sums.weighted / sums.n_requests).rename("true_value").reset_index()


#: bins of expected_rewarded_slots for the coverage by bin (left-closed)
EXPECTED_BINS = [0, 1, 3, 5, 10, 20, 50, float("inf")]
#: what each cell's record keeps beside its coverage, to find why an interval misses
DETAIL = ("std_error", "skewness", "ci_low", "ci_high", "n_requests", "unsupported_mass", "effective_sample_size",
          "expected_rewarded_slots", "std_error_floor")


def _number(x) -> float | None:
    return None if pd.isna(x) else float(x)


def record(seed: int, root: Path, truth: Path) -> dict:
    """Each overall cell's estimate, its :data:`DETAIL` and whether its analytic and
    bootstrap intervals cover the policy's true value."""
    est = pd.read_parquet(root / "marts" / "fct_policy_value_estimates.parquet")
    with duckdb.connect(str(root / "receval.duckdb"), read_only=True) as con:
        candidates = candidate_truth(con, truth, CF_VARS)
    candidates = candidates.rename(columns={"reward": "true_reward"}).merge(REWARDS, on="true_reward")
    values = pd.concat([builtin_truth(est, truth), candidates[["policy_id", "reward", "true_value"]]])
    overall = est[(est.day == "all") & (est.segment == "all") & (est.n_slots > 0)]
    rows = overall.merge(values, on=["policy_id", "reward"], how="inner", validate="many_to_one")
    cells = [{"policy_id": r.policy_id, "estimator": r.estimator, "reward": r.reward,
              "estimate": float(r.estimate), "true_value": float(r.true_value),
              **{k: _number(getattr(r, k)) for k in DETAIL},
              "interval_caveat": None if pd.isna(r.interval_caveat) else r.interval_caveat,
              "covers": bool(r.ci_low <= r.true_value <= r.ci_high),
              "covers_bootstrap": None if pd.isna(r.bootstrap_ci_low)
              else bool(r.bootstrap_ci_low <= r.true_value <= r.bootstrap_ci_high)}
             for r in rows.itertuples(index=False)]
    return {"seed": seed, "cells": cells}


def summary(records: list[dict]) -> dict:
    """Coverage per policy, reward and estimator (analytic and bootstrap intervals; the
    analytic one also over the worlds whose row has no ``interval_caveat`` and over those
    whose caveat is ``few_expected_rewards``, the rows that take the floor), the share of
    worlds with each caveat, the mean relative error of the estimates; and the analytic
    coverage of every estimator but DM by its row's ``expected_rewarded_slots``."""
    cells = pd.DataFrame([c for r in records for c in r["cells"]])
    out = {"worlds": len(records), "coverage": {}, "coverage_by_expected_rewarded_slots": {}}
    for (policy, reward, estimator), g in cells.groupby(["policy_id", "reward", "estimator"]):
        boot = g.covers_bootstrap.dropna()
        out["coverage"][f"{policy} {reward} {estimator}"] = {
            "analytic": rate(g.covers.tolist()),
            "analytic_without_caveat": rate(g.covers[g.interval_caveat.isna()].tolist()),
            "analytic_few_expected_rewards": rate(g.covers[g.interval_caveat == "few_expected_rewards"].tolist()),
            "caveats": {k: round(v / len(g), 4) for k, v in g.interval_caveat.value_counts().items()},
            "bootstrap": rate(boot.astype(bool).tolist()) if len(boot) else None,
            "mean_relative_error": round(float(((g.estimate - g.true_value) / g.true_value).mean()), 4)}
    weighted = cells[cells.estimator != "dm"]
    bins = pd.cut(weighted.expected_rewarded_slots, EXPECTED_BINS, right=False)
    for (estimator, interval), g in weighted.groupby([weighted.estimator, bins], observed=True):
        out["coverage_by_expected_rewarded_slots"][f"{estimator} {interval}"] = rate(g.covers.tolist())
    return out


def markdown(out: dict) -> str:
    """Four tables: per policy and reward (rows) and estimator (columns) the analytic
    interval's coverage (standard error) over every world, then over the worlds whose row
    has no caveat and over those whose row has few expected rewards (with their number);
    per estimator and bin of expected rewarded slots."""
    keys = [k.rsplit(" ", 1) for k in out["coverage"]]
    estimators = list(dict.fromkeys(e for _, e in keys))
    rows = list(dict.fromkeys(pr for pr, _ in keys))

    def table(title: str, text) -> list[str]:
        lines = [f"| {title} | " + " | ".join(estimators) + " |", "| --- |" + " --- |" * len(estimators)]
        for pr in rows:
            lines.append(f"| {pr} | " + " | ".join(
                text(out["coverage"][f"{pr} {e}"]) if f"{pr} {e}" in out["coverage"] else "" for e in estimators) + " |")
        return lines

    def counted(key: str):
        def text(c: dict) -> str:
            r = c[key]
            return f"{cell(r)} n={r['n']}" if r["n"] else "n=0"
        return text

    by_bin = out["coverage_by_expected_rewarded_slots"]
    bins = list(dict.fromkeys(k.split(" ", 1)[1] for k in by_bin))
    weighted = [e for e in estimators if e != "dm"]
    binned = [f"| expected_rewarded_slots | " + " | ".join(weighted) + " |", "| --- |" + " --- |" * len(weighted)]
    for b in bins:
        binned.append(f"| {b} | " + " | ".join(
            f"{cell(by_bin[f'{e} {b}'])} n={by_bin[f'{e} {b}']['n']}" if f"{e} {b}" in by_bin else "" for e in weighted) + " |")
    return "\n".join(table(f"coverage over {out['worlds']} worlds (analytic 95% interval)", lambda c: cell(c["analytic"]))
                     + [""] + table("the same, worlds whose row has no interval_caveat", counted("analytic_without_caveat"))
                     + [""] + table("the same, worlds whose row has few_expected_rewards (the floor)",
                                    counted("analytic_few_expected_rewards")) + [""] + binned)
