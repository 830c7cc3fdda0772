"""The landing contract's SQL-side copies equal receval.contract, so SQL and Python cannot drift.

The seed (used in SQL to find schema_mismatch files), the `landing` source's columns (from
which the staging base models generate their SQL), the reject-reason precedence and the
clock-skew tolerance in dbt_project.yml, and the staging models' documented columns.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from receval import contract

ROOT = Path(__file__).resolve().parents[2]
LANDING = ROOT / "models" / "staging" / "landing"

# The DuckDB name of each Arrow type the contract uses.
DUCKDB_TYPES = {
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
    pa.timestamp("us"): "TIMESTAMP",
}


def expected_rows() -> list[dict[str, str]]:
    return [
        {
            "entity": entity,
            "column_name": field.name,
            "data_type": DUCKDB_TYPES[field.type],
            "is_key": str(field.name in contract.KEY_COLUMNS[entity]).lower(),
            "ordinal": str(ordinal),
        }
        for entity, schema in contract.ENTITY_SCHEMAS.items()
        for ordinal, field in enumerate(schema, start=1)
    ]


def load_yaml(path: Path) -> dict:
    with path.open() as f:
        return yaml.safe_load(f)


def test_key_columns_are_contract_columns():
    assert set(contract.KEY_COLUMNS) == set(contract.ENTITY_SCHEMAS)
    for entity, keys in contract.KEY_COLUMNS.items():
        assert set(keys) <= set(contract.ENTITY_SCHEMAS[entity].names), entity


def test_seed_equals_contract():
    with (ROOT / "seeds" / "landing_contract.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == expected_rows()


@pytest.fixture(scope="module")
def landing_source() -> dict:
    sources = load_yaml(LANDING / "_landing__sources.yml")["sources"]
    (source,) = [s for s in sources if s["name"] == "landing"]
    return source


def test_source_tables_are_contract_entities(landing_source):
    assert [t["name"] for t in landing_source["tables"]] == list(contract.ENTITIES)


def test_required_entities_are_marked_in_the_source(landing_source):
    required = [t["name"] for t in landing_source["tables"] if t.get("config", {}).get("meta", {}).get("required")]
    assert tuple(required) == contract.REQUIRED_ENTITIES == ("impressions", "clicks")


def test_lossless_casts_end_in_contract_types():
    with (ROOT / "seeds" / "landing_lossless_casts.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["to_type"] for r in rows} <= set(DUCKDB_TYPES.values())
    assert all(r["from_type"] != r["to_type"] for r in rows)
    # a narrowing cast carries the target's exact range
    ranges = {(r["from_type"], r["to_type"]): (r["min_value"], r["max_value"]) for r in rows if r["min_value"]}
    assert ranges[("BIGINT", "INTEGER")] == (str(-2**31), str(2**31 - 1))
    assert ranges[("UBIGINT", "BIGINT")] == (str(-2**63), str(2**63 - 1))
    assert ranges[("BIGINT", "DOUBLE")] == (str(-2**53), str(2**53))


@pytest.mark.parametrize("entity", contract.ENTITIES)
def test_source_columns_equal_contract(landing_source, entity):
    (table,) = [t for t in landing_source["tables"] if t["name"] == entity]
    got = [
        (c["name"], c["data_type"].upper(), bool(c.get("config", {}).get("meta", {}).get("key")))
        for c in table["columns"]
    ]
    want = [
        (f.name, DUCKDB_TYPES[f.type], f.name in contract.KEY_COLUMNS[entity])
        for f in contract.ENTITY_SCHEMAS[entity]
    ]
    assert got == want


@pytest.mark.parametrize("entity", contract.ENTITIES)
def test_staging_models_document_contract_columns(entity):
    models = {m["name"]: m for m in load_yaml(LANDING / "_landing__models.yml")["models"]}
    columns = [c["name"] for c in models[f"stg_landing__{entity}"]["columns"]]
    assert columns == contract.ENTITY_SCHEMAS[entity].names + ["landed_at", "source_file"]


def test_project_vars_equal_contract():
    project_vars = load_yaml(ROOT / "dbt_project.yml")["vars"]
    assert tuple(project_vars["landing_reject_reasons"]) == contract.REJECT_REASONS
    assert project_vars["clock_skew_tolerance_minutes"] == contract.CLOCK_SKEW_TOLERANCE_MINUTES
