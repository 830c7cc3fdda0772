"""When each node of a finished `dbt build` ran: the critical path is read off this.

    python benchmarks/node_timeline.py warehouse/whole_default [--min-seconds 8]

Reads <warehouse>/target/run_results.json and prints every node that ran at least
--min-seconds as (start, end, seconds, node), seconds from the build's first node, then the
number of dbt threads busy in each 10-second window: 1.0 where one node runs alone, which
is where the build waits on it.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path


def spans(warehouse: Path) -> list[tuple[float, float, str]]:
    results = json.loads((warehouse / "target" / "run_results.json").read_text())["results"]
    rows = []
    for result in results:
        execute = [t for t in result["timing"] if t["name"] == "execute" and t.get("started_at")]
        if execute:
            start, end = (datetime.fromisoformat(execute[0][k].replace("Z", "")) for k in ("started_at", "completed_at"))
            rows.append((start, end, result["unique_id"].split(".", 2)[-1]))
    origin = min(start for start, _, _ in rows)
    return sorted(((s - origin).total_seconds(), (e - origin).total_seconds(), name) for s, e, name in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--min-seconds", type=float, default=8.0)
    args = parser.parse_args()
    nodes = spans(args.warehouse)
    for start, end, name in nodes:
        if end - start >= args.min_seconds:
            print(f"{start:7.0f} {end:7.0f} {end - start:7.1f}  {name}")
    windows = int(max(end for _, end, _ in nodes) // 10) + 1
    busy = [sum(max(0.0, min(end, 10 * k + 10) - max(start, 10 * k)) for start, end, _ in nodes) / 10
            for k in range(windows)]
    print("threads busy per 10 s:", " ".join(f"{10 * k}:{b:.1f}" for k, b in enumerate(busy)))


if __name__ == "__main__":
    main()
