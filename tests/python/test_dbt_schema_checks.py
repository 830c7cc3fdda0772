"""Integration: columns_match_yml, the schema check of the marts dbt cannot contract (the
Python marts), fails on a column renamed or retyped after the yml was written.

A copy of the session's built warehouse gets fct_srm_checks altered in place, as a changed
package function would rebuild it; the check then reports each difference as one row.
"""
from __future__ import annotations

import shutil

import duckdb
import pytest

from dbt_runner import Warehouse

pytestmark = pytest.mark.dbt


def test_schema_check_reports_a_renamed_and_a_retyped_column(tiny_warehouse, tmp_path):
    copy = Warehouse(tmp_path, tiny_warehouse.raw_path, tiny_warehouse.extra_vars)
    shutil.copy(tiny_warehouse.database, copy.database)
    with duckdb.connect(str(copy.database)) as con:
        con.execute("alter table main.fct_srm_checks rename column p_value to p_val")
        con.execute("alter table main.fct_srm_checks alter column n_users type double")

    result = copy.dbt("test", "--select", "fct_srm_checks,test_name:columns_match_yml", check=False)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "Failure in test columns_match_yml_fct_srm_checks_" in result.stdout

    # the test's compiled query holds the columns it read: run it for the failing rows
    compiled = next((copy.root / "target" / "compiled").rglob("columns_match_yml_fct_srm_checks_.sql"))
    with duckdb.connect(str(copy.database), read_only=True) as con:
        problems = sorted(con.sql(compiled.read_text()).fetchall())
    # (column_name, problem, documented_type, built_type)
    assert problems == [
        ("n_users", "mistyped", "bigint", "double"),
        ("p_val", "extra", None, "double"),
        ("p_value", "missing", "double", None),
    ]


def test_project_guardrail_reports_a_model_that_breaks_the_rules(tiny_warehouse, tmp_path):
    """fct_project_violations on a copy of the project with one intermediate model that reads
    a mart and has no yml entry: one row for each broken rule, nothing else."""
    project = tmp_path / "project"
    shutil.copytree(tiny_warehouse.project_dir, project, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "warehouse", "target", "logs", "benchmarks", "src", "docs", "tests"))
    shutil.copytree(tiny_warehouse.project_dir / "tests" / "generic", project / "tests" / "generic")
    (project / "models" / "intermediate" / "int_bad__items.sql").write_text(
        "select item_id from {{ ref('dim_items') }}\n")
    copy = Warehouse(tmp_path / "warehouse", tiny_warehouse.raw_path, tiny_warehouse.extra_vars, project)
    copy.dbt("run", "--select", "fct_project_violations")  # a view of literals: no other model needed
    rows = sorted(copy.query("select model_name, rule, detail from main.fct_project_violations")
                  .itertuples(index=False, name=None))
    assert rows == [("int_bad__items", "layer_reads_mart", "reads dim_items"),
                    ("int_bad__items", "model_undocumented", "no yml entry")]
