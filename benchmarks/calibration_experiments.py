"""The experiment family of benchmarks/calibration_worlds.py: what one world's experiment
marts say against its truth (truth/experiments.parquet), and the rates over worlds.

- the A/A experiment (`exp_aa`: control_b vs control, no effect): how often each p-value
  (raw, CUPED, their Benjamini-Hochberg adjustments, the always-valid mSPRT, the
  delay-corrected one) falls below alpha; how often the scorecard's decision is ship (or
  any significant decision), and how often the test it decides on (always-valid while the
  experiment runs, fixed horizon from its planned end) has p < alpha, whatever the
  guardrails and the SRM check say (small worlds cannot show a guardrail non-inferior, so
  their decision is mostly invalid);
- the same A/A scorecard as if the registry had planned exp_aa to end inside the world
  (:func:`planned_end_decisions`: the registry's planned_days cut to the days it ran, so the
  fixed-horizon test decides), with its guardrails and with the primary metric alone: how
  often the fixed-horizon decision ships (the registry plans exp_aa for 42 days, longer than
  any world, so the built scorecard always decides on the always-valid test);
- every experiment's intervals (raw, CUPED, delay-corrected, the mSPRT confidence
  sequence): how often they cover the true effect of the world's whole horizon;
- fct_aa_calibration (placebo re-randomisations of each experiment's users): its mean
  false-positive rate per metric and estimator, and how often its status is not ok (its
  warn-severity test fires).
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from receval.experiments.marts import _data_end, _experiment_starts, experiment_scorecard

from binomial_rate import cell, rate

SELECT = ["+rpt_experiment_scorecard", "+fct_aa_calibration"]
#: vars beyond the preset's
VARS: dict = {}
#: the A/A experiment's p-values, by the results' column
P_VALUES = {"raw": "p_value", "cuped": "cuped_p_value", "raw_bh": "bh_adjusted_p_value",
            "cuped_bh": "cuped_bh_adjusted_p_value", "msprt": "msprt_p_value", "corrected": "corrected_p_value"}
#: interval families, by their (low, high) columns
INTERVALS = {"raw": ("ci_low", "ci_high"), "cuped": ("cuped_ci_low", "cuped_ci_high"),
             "corrected": ("corrected_ci_low", "corrected_ci_high"), "msprt": ("msprt_cs_low", "msprt_cs_high")}
AA = "exp_aa"


def planned_end_decisions(root: Path) -> dict:
    """exp_aa's scorecard rebuilt from the world's marts with a registry that plans it to end
    at the data's end: ``with_guardrails`` as registered otherwise, ``primary_only`` without
    its guardrails (the scorecard reads them from fct_guardrail_checks, so their rows go).
    Each: the decision, its test and whether its p-value is < alpha."""
    tables = ("fct_experiment_results", "fct_srm_checks", "fct_guardrail_checks", "fct_experiment_exposures",
              "int_labels__data_end")
    with duckdb.connect(str(root / "receval.duckdb"), read_only=True) as con:
        results, srm, guardrails, exposures, data_end = (con.sql(f"select * from {t}").to_arrow_table()
                                                         for t in tables)
        registry = con.sql("select * from main_seeds.experiment_registry").to_df()
    # the scorecard's own start and end: planned end = start + planned_days <= the data's end
    days_run = (_data_end(data_end).date() - _experiment_starts(exposures)[AA]).days
    aa = registry.experiment_id == AA
    registry.loc[aa & registry.planned_days.notna(), "planned_days"] = days_run
    registry = pa.Table.from_pandas(registry, preserve_index=False)
    other_guardrails = guardrails.filter(pc.field("experiment_id") != AA)
    out = {}
    for plan, checks in {"with_guardrails": guardrails, "primary_only": other_guardrails}.items():
        card = experiment_scorecard(results, srm, checks, registry, exposures, data_end
                                    ).to_pandas().set_index("experiment_id").loc[AA]
        out[plan] = {"decision": card.decision, "decision_test": card.decision_test,
                     "significant": bool(card.p_value < card.alpha) if pd.notna(card.p_value) else None}
    return out


def record(seed: int, root: Path, truth: Path) -> dict:
    """What one world's experiment marts (root/marts) say against its truth."""
    marts = root / "marts"
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
    return {"seed": seed, "cells": cells, "decisions": decisions, "placebo": placebo,
            "planned_end": planned_end_decisions(root)}


def _decision_rates(decisions: list[dict]) -> dict:
    return {
        "ship": rate([d.get("decision") == "ship" for d in decisions]),
        "ship or dont_ship": rate([d.get("decision") in ("ship", "dont_ship") for d in decisions]),
        # the deciding test alone, whatever the guardrails and SRM say
        "deciding p < alpha": rate([bool(d.get("significant")) for d in decisions]),
        "counts": pd.Series([d.get("decision") for d in decisions]).value_counts().to_dict(),
        "tests": pd.Series([d.get("decision_test") for d in decisions]).value_counts().to_dict()}


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
    out["aa_decisions"] = _decision_rates([r["decisions"].get(AA, {}) for r in records])
    out["aa_decisions_at_planned_end"] = {plan: _decision_rates([r["planned_end"][plan] for r in records
                                                                 if "planned_end" in r])
                                          for plan in ("with_guardrails", "primary_only")}
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
    lines.append("")
    for label, d in [("as built", out["aa_decisions"])] + [
            (f"planned end reached, {plan}", d) for plan, d in out["aa_decisions_at_planned_end"].items()]:
        lines.append(f"A/A scorecard over {out['worlds']} worlds, {label}: ship {cell(d['ship'])}, ship or "
                     f"dont_ship {cell(d['ship or dont_ship'])}, the deciding test's p < alpha "
                     f"{cell(d['deciding p < alpha'])}; decisions {d['counts']}, tests {d['tests']}")
    return "\n".join(lines)
