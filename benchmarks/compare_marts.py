"""Do two built warehouses hold the same marts? The check that speed work kept every number.

    python benchmarks/compare_marts.py warehouse/whole_default_baseline warehouse/whole_default

Every fct_/dim_/rpt_ table of the first warehouse is compared, as a multiset of rows, with
the table of the same name in the second: exactly, and with doubles rounded to --decimals
(DuckDB's parallel aggregates may sum floats in another order from build to build). Columns
that name a build rather than a result (--ignore: model artifact paths and version ids,
which hash the training code) are left out. Prints one line per table that differs and
exits 1 if any differs after rounding.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

IGNORED = ("artifact_path", "version", "parent_version")


def differing_rows(con: duckdb.DuckDBPyConnection, table: str, decimals: int | None, ignore: set[str]) -> int:
    """Rows of a.table with no equal row in b.table (and the reverse), counted."""
    columns = con.sql(f"select column_name, data_type from information_schema.columns "
                      f"where table_catalog = 'a' and table_schema = 'main' and table_name = '{table}' "
                      f"order by ordinal_position").fetchall()
    select = ", ".join(f'round("{c}", {decimals}) as "{c}"' if decimals is not None and t in ("DOUBLE", "FLOAT")
                       else f'"{c}"' for c, t in columns if c not in ignore)
    count = 0
    for left, right in (("a", "b"), ("b", "a")):
        count += con.sql(f"select count(*) from (select {select} from {left}.main.{table} "
                         f"except all select {select} from {right}.main.{table})").fetchall()[0][0]
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--decimals", type=int, default=6)
    parser.add_argument("--ignore", nargs="*", default=list(IGNORED))
    args = parser.parse_args()
    con = duckdb.connect()
    for alias, warehouse in (("a", args.first), ("b", args.second)):
        con.sql(f"attach '{warehouse / 'receval.duckdb'}' as {alias} (read_only)")
    tables = [name for (name,) in con.sql(
        "select table_name from information_schema.tables where table_catalog = 'a' and table_schema = 'main' "
        "and table_type = 'BASE TABLE' and regexp_matches(table_name, '^(fct|dim|rpt)_') order by 1").fetchall()]
    failed = False
    for table in tables:
        exact = differing_rows(con, table, None, set(args.ignore))
        rounded = differing_rows(con, table, args.decimals, set(args.ignore)) if exact else 0
        if exact:
            print(f"{table}: {exact} rows differ exactly, {rounded} after rounding to {args.decimals} decimals")
        failed |= rounded > 0
    print(f"{len(tables)} marts compared: {'some differ' if failed else 'the same'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
