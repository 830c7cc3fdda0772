"""A digest of every mart of a built warehouse: what a restructuring must leave unchanged.

    python tests/python/mart_digest.py <warehouse folder> > tests/python/golden/tiny_marts.json

Per mart: its columns and types, its row count, and per column a summary that any changed
number or label changes: for numbers the null count, sum, sum of squares, min and max; for everything else the null
count, a hash of the sorted values with their numbers masked, and the sum, sum of squares, min
and max of the numbers they hold (a calibration's JSON, a list), so that text carrying floats
is compared as floats. Numbers are compared with a relative tolerance: DuckDB's parallel
aggregates add floats in another order from build to build, and marts downstream of a trained
model get a looser one (`differences`). Columns that name a build rather than a result (model
artifact paths, version ids, which hash the training code) are left out.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import duckdb

BUILD_COLUMNS = ("artifact_path", "version", "parent_version")
#: a number written in text: "0.25", "-1.2e-05", "2026" of a date
NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
NUMERIC = ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "DECIMAL")


def digest(database: Path) -> dict:
    """{mart: {"columns": [[name, type], ...], "rows": n, "summary": {column: [...]}}}."""
    with duckdb.connect(str(database), read_only=True) as con:
        marts = [t for (t,) in con.sql(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_type = 'BASE TABLE' and regexp_matches(table_name, '^(fct|dim|rpt)_') order by 1").fetchall()]
        return {mart: _mart(con, mart) for mart in marts}


def _mart(con: duckdb.DuckDBPyConnection, mart: str) -> dict:
    columns = con.sql(f"select column_name, data_type from information_schema.columns where table_schema = 'main' "
                      f"and table_name = '{mart}' order by ordinal_position").fetchall()
    kept = [(name, kind) for name, kind in columns if name not in BUILD_COLUMNS]
    exprs = {}
    for name, kind in kept:
        col = f'"{name}"'
        nulls = f"count(*) - count({col})"
        if kind.startswith(NUMERIC) and not kind.endswith("]"):
            value = f"cast({col} as double)"
            exprs[name] = [nulls, f"sum({value})", f"sum({value} * {value})", f"min({value})", f"max({value})"]
        else:
            masked = f"regexp_replace(cast({col} as varchar), '{NUMBER}', '#', 'g')"
            held = f"list_transform(regexp_extract_all(cast({col} as varchar), '{NUMBER}'), lambda x: cast(x as double))"
            exprs[name] = [nulls, f"md5(coalesce(string_agg({masked}, '|' order by {masked}), ''))",
                           f"sum(list_sum({held}))", f"sum(list_sum(list_transform({held}, lambda x: x * x)))",
                           f"min(list_min({held}))", f"max(list_max({held}))"]
    flat = [e for parts in exprs.values() for e in parts]
    values = iter(con.sql(f"select count(*), {', '.join(flat or ['null'])} from main.{mart}").fetchall()[0])
    rows = next(values)
    summary = {name: _plain([next(values) for _ in parts]) for name, parts in exprs.items()}
    return {"columns": [[name, kind] for name, kind in columns], "rows": rows, "summary": summary}


def _plain(values: list) -> list:
    """JSON-safe: NaN and infinities as strings."""
    return [v if not isinstance(v, float) or math.isfinite(v) else str(v) for v in values]


def differences(expected: dict, actual: dict, added: dict[str, list[str]] | None = None,
                rel: float = 1e-9, looser: dict[str, float] | None = None) -> list[str]:
    """What differs between two digests, one line each. Marts only in ``actual`` are new, not
    a difference; ``added`` names the columns a mart may have gained ({mart: [column]});
    ``looser`` gives a mart a relative tolerance of its own ({mart: rel})."""
    lines = []
    for mart, want in expected.items():
        got = actual.get(mart)
        if got is None:
            lines.append(f"{mart}: missing")
            continue
        columns = [c for c in got["columns"] if c[0] not in (added or {}).get(mart, [])]
        if columns != want["columns"]:
            lines.append(f"{mart}: columns {columns} != {want['columns']}")
            continue
        if got["rows"] != want["rows"]:
            lines.append(f"{mart}: {got['rows']} rows != {want['rows']}")
        for column, values in want["summary"].items():
            if not _close(got["summary"][column], values, (looser or {}).get(mart, rel)):
                lines.append(f"{mart}.{column}: {got['summary'][column]} != {values}")
    return lines


def _close(a: list, b: list, rel: float) -> bool:
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=rel, abs_tol=1e-12))
        for x, y in zip(a, b))


if __name__ == "__main__":
    print(json.dumps(digest(Path(sys.argv[1]) / "receval.duckdb"), indent=1, sort_keys=True))
