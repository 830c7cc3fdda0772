"""What the monitoring family reports on the default world, and on the same world without
its injected drift and skew: every alert of rpt_alerts, checked against the simulator's truth.

    python benchmarks/monitoring_alerts.py [--seed 42]

Simulates both worlds if they are not on disk (data/default; data/default_no_drift from
`receval simulate --no-drift --no-skew`), then per world, in a fresh warehouse: `dbt seed`,
`dbt run --select +rpt_alerts` (staging, labels, features, the experiment exposures behind
the SRM checks and the monitoring marts; not the candidates, offline or OPE families) and
`dbt test --select rpt_alerts`, timed. Checks, from world.json's drift (start, category)
and skew (feature, device):
* drift world: an alert on the drift's category from its start day and none before it,
  skew alerts on the skewed feature and device only;
* drift-free world: no alert at all over the whole window.
Prints the alerts and writes benchmarks/results/monitoring_alerts.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import date
from pathlib import Path

import duckdb

from dbt_build import BIN_DIR, PROJECT_DIR, dbt_command, run_measured

ALERTS = """
    select alert_date, alert_type, level, blocks_release, model_id, subject, segment_type, segment,
           round(value, 4) as value, round(threshold, 4) as threshold
    from main.rpt_alerts order by alert_date, alert_type, model_id, subject, segment_type, segment
"""


def ensure_world(out: Path, seed: int, *flags: str) -> None:
    if not (out / "truth" / "world.json").exists():
        run_measured([str(BIN_DIR / "receval"), "simulate", "--preset", "default", "--seed", str(seed),
                      "--out", str(out), *flags], dict(os.environ))


def build(world: Path, warehouse: Path) -> dict:
    shutil.rmtree(warehouse, ignore_errors=True)
    started, peak = time.perf_counter(), 0.0
    for args in (("seed",), ("run", "--select", "+rpt_alerts"), ("test", "--select", "rpt_alerts")):
        cmd, env = dbt_command(warehouse, world / "raw", *args)
        peak = max(peak, run_measured(cmd, env)[1])
    with duckdb.connect(str(warehouse / "receval.duckdb"), read_only=True) as con:
        alerts = con.sql(ALERTS).df()
        analysis = con.sql("select min(impression_date) as first, count(*) as n from "
                           "main.int_monitoring__reference_windows where period = 'analysis'").df()
    results = json.loads((warehouse / "target" / "run_results.json").read_text())  # the test step's
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_gib": round(peak, 2),
            "analysis_days": int(analysis.n[0]), "first_analysis_day": str(analysis["first"][0].date()),
            "alerts": json.loads(alerts.to_json(orient="records", date_format="iso")),
            "tests": {r["unique_id"].split(".")[2]: r["status"] for r in results["results"]}}


def check(run: dict, truth: dict) -> dict:
    """What the truth says each world's alerts must be."""
    alerts = run["alerts"]
    if truth["drift"] is None and truth["skew"] is None:
        return {"no_alert": not alerts}
    start = date.fromisoformat(truth["drift"]["start"])
    on_category = [a for a in alerts if a["segment"] == truth["drift"]["category"]]
    days = sorted({date.fromisoformat(a["alert_date"][:10]) for a in on_category})
    skew = {(a["subject"], a["segment"]) for a in alerts if a["alert_type"] == "feature_skew"}
    return {
        "drift_detected_on_its_start_day": bool(days) and days[0] == start,
        "no_drift_alert_before_it": all(d >= start for d in days),
        "skew_alerts": sorted(map(list, skew)),
        "skew_on_its_feature_and_device_only": skew == {(f"served:{truth['skew']['feature']}",
                                                         truth["skew"]["device"])},
        "other_alerts": [a for a in alerts if a["segment"] != truth["drift"]["category"]
                         and a["alert_type"] != "feature_skew"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    worlds = {"default": (PROJECT_DIR / "data" / "default", ()),
              "no_drift_no_skew": (PROJECT_DIR / "data" / "default_no_drift", ("--no-drift", "--no-skew"))}
    report = {}
    for name, (world, flags) in worlds.items():
        ensure_world(world, args.seed, *flags)
        run = build(world, PROJECT_DIR / "warehouse" / f"monitoring_{name}")
        run["checks"] = check(run, json.loads((world / "truth" / "world.json").read_text()))
        report[name] = run
        print(f"{name}: {run['seconds']} s, peak {run['peak_rss_gib']} GiB, {len(run['alerts'])} alerts, "
              f"{run['analysis_days']} analysis days from {run['first_analysis_day']}")
        for alert in run["alerts"]:
            print("  ", alert)
        print("   checks:", run["checks"])
    out = PROJECT_DIR / "benchmarks" / "results" / "monitoring_alerts.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
