"""Integration: `dbt build` on a tiny simulated world recovers the simulator's ground truth.

These run the real dbt project on DuckDB and check the marts against DIR/truth/, which no
model reads. Most share the session's one build (conftest.tiny_warehouse); the incremental
and broken-file tests build their own copies.
"""
from __future__ import annotations

import ast
import re
import shutil

import pandas as pd
import pytest

from dbt_runner import PATH_VARS, PROJECT_DIR, TINY_VARS, WITHOUT_TESTS, Warehouse

pytestmark = pytest.mark.dbt


def test_labels_agree_exactly_with_ground_truth(tiny_warehouse, tiny_world):
    truth = pd.read_parquet(tiny_world / "truth" / "impressions.parquet")
    labels = tiny_warehouse.query(
        "select event_id, is_clicked, is_converted, revenue from fct_impression_labels"
    )
    merged = truth.merge(labels, on="event_id", how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged["_merge"].value_counts()
    assert (merged["clicked"] == merged["is_clicked"]).all()
    assert (merged["converted"] == merged["is_converted"]).all()
    assert merged["revenue_x"].to_numpy() == pytest.approx(merged["revenue_y"].to_numpy(), abs=1e-9)
    # The world must exercise the rule, not pass vacuously.
    assert merged["clicked"].sum() > 100 and merged["converted"].sum() > 10


def test_every_injected_fault_is_rejected_with_its_reason_and_nothing_else(tiny_warehouse, tiny_world):
    faults = pd.read_parquet(tiny_world / "truth" / "faults.parquet")[["entity", "event_id", "reason"]]
    rejected = tiny_warehouse.query("select entity, event_id, reason from stg_landing__rejected_events")
    key = ["entity", "event_id", "reason"]
    expected = faults.sort_values(key).reset_index(drop=True)
    actual = rejected.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    # non_finite_number is not injected by the simulator: test_dbt_landing_formats writes it
    assert set(faults["reason"]) >= {"schema_mismatch", "null_key", "future_timestamp", "invalid_propensity",
                                      "invalid_position", "negative_revenue", "unknown_user", "unknown_item"}


def test_duplicate_counts_match_ground_truth(tiny_warehouse, tiny_world):
    truth = pd.read_parquet(tiny_world / "truth" / "duplicates.parquet")
    # Every copy of a conflicting event carries its own changed payload.
    truth["conflicting_rows"] = truth["extra_copies"] * truth["conflicting"]
    expected = truth.groupby("entity")[["extra_copies", "conflicting_rows"]].sum()
    actual = tiny_warehouse.query(
        "select entity, sum(duplicate_rows) as duplicate_rows, "
        "sum(conflicting_duplicate_rows) as conflicting_rows from stg_landing__row_counts group by entity"
    ).set_index("entity")
    for entity, row in expected.iterrows():
        assert actual.loc[entity, "duplicate_rows"] == row["extra_copies"], entity
        assert actual.loc[entity, "conflicting_rows"] == row["conflicting_rows"], entity
    assert expected["conflicting_rows"].sum() > 0


def test_marts_are_published_as_parquet(tiny_warehouse):
    for table in ("fct_impression_labels", "dim_split_dates", "dim_items", "dim_users"):
        published = pd.read_parquet(tiny_warehouse.marts_path / f"{table}.parquet")
        assert len(published) == tiny_warehouse.query(f"select count(*) as n from {table}")["n"][0], table


def test_every_config_a_python_model_reads_is_shipped_by_dbt(tiny_warehouse):
    """dbt hands a Python model only the config keys of the `dbt.config.get` calls its
    parser sees, and it does not see one inside `x or y`: offline_production_model was
    silently ignored so. Every key a model reads must be in its compiled config_dict."""
    compiled = tiny_warehouse.root / "target" / "compiled" / "receval" / "python_models"
    sources = sorted((PROJECT_DIR / "python_models").rglob("*.py"))
    for source in sources:
        read = set(re.findall(r'dbt\.config\.get\("(\w+)"\)', source.read_text()))
        code = (compiled / source.relative_to(PROJECT_DIR / "python_models")).read_text()
        shipped = ast.literal_eval(re.search(r"^config_dict = (.*)$", code, re.M).group(1))
        assert read <= shipped.keys(), f"{source.name}: dbt does not ship {read - shipped.keys()}"
    assert len(sources) >= 25


def test_second_build_gives_identical_marts(tiny_warehouse):
    before = tiny_warehouse.snapshot()
    # every table is compared; the data tests on identical tables would only repeat the first build's
    tiny_warehouse.dbt("build", *WITHOUT_TESTS)
    after = tiny_warehouse.snapshot()
    assert before.keys() == after.keys()
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


def test_incremental_run_after_a_new_day_equals_full_refresh(tiny_world, tmp_path):
    raw = shutil.copytree(tiny_world / "raw", tmp_path / "raw")
    held_back = tmp_path / "held_back"
    last_date = max(p.name for p in (raw / "impressions").iterdir())
    for partition in raw.glob(f"*/{last_date}"):
        shutil.move(partition, held_back / partition.parent.name / last_date)

    # The data tests run on the incremental build, the path under test; the two others only
    # build what is compared.
    incremental = Warehouse(tmp_path / "incremental", raw, TINY_VARS)
    incremental.dbt("build", *WITHOUT_TESTS)
    rows_before = incremental.query("select count(*) as n from fct_impression_labels")["n"][0]
    for partition in held_back.glob(f"*/{last_date}"):
        shutil.move(partition, raw / partition.parent.name / last_date)
    incremental.dbt("build")
    assert incremental.query("select count(*) as n from fct_impression_labels")["n"][0] > rows_before

    # The model store is a system of record like the landing zone (dbt does not rebuild it):
    # the full refresh runs against the same store, so both registries list both versions.
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "models").symlink_to(incremental.root / "models", target_is_directory=True)
    full = Warehouse(tmp_path / "full", raw, TINY_VARS)
    full.dbt("build", "--full-refresh", *WITHOUT_TESTS)
    expected, actual = full.snapshot(), incremental.snapshot()
    assert expected.keys() == actual.keys()
    for table in expected:
        pd.testing.assert_frame_equal(actual[table], expected[table], obj=table)


def test_truncated_partition_fails_naming_the_file_and_keeps_built_marts(tiny_world, tmp_path):
    raw = shutil.copytree(tiny_world / "raw", tmp_path / "raw")
    warehouse = Warehouse(tmp_path / "warehouse", raw, TINY_VARS)
    # the marts a broken clicks file stops: the labels and what staging publishes (the
    # candidates' training and what follows would add time, not a case)
    warehouse.dbt("build", "--select", "+fct_impression_labels", "+stg_landing__row_counts",
                  "--indirect-selection", "cautious")
    before = warehouse.snapshot()
    assert "fct_impression_labels" in before

    victim = sorted((raw / "clicks").glob("*/*/*.parquet"))[-1]
    victim.write_bytes(victim.read_bytes()[:100])
    result = warehouse.dbt("build", check=False)
    assert result.returncode != 0
    assert victim.relative_to(raw).as_posix() in result.stdout, result.stdout[-3000:]

    after = warehouse.snapshot()
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


def test_optional_candidates_entity_may_be_absent(tiny_world, tmp_path):
    """A landing zone without the optional candidates entity builds, with none of it, and
    still reconciles; a required entity's missing folder fails naming the path."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for entity in (tiny_world / "raw").iterdir():
        if entity.name != "candidates":
            (raw / entity.name).symlink_to(entity, target_is_directory=True)
    warehouse = Warehouse(tmp_path / "warehouse", raw, TINY_VARS)
    warehouse.dbt("build", "--select", "+stg_landing__candidates", "+stg_landing__row_counts",
                  "--indirect-selection", "cautious")
    assert warehouse.query("select count(*) as n from main.stg_landing__candidates").n.iloc[0] == 0
    counts = warehouse.query("select distinct entity from main.stg_landing__row_counts")
    assert "candidates" not in set(counts.entity) and "impressions" in set(counts.entity)

    (raw / "clicks").unlink()
    result = warehouse.dbt("build", "--select", "stg_landing__row_counts", check=False)
    assert result.returncode != 0
    # the path as the build names it: raw_path (tests/python/dbt_runner.py) and the entity
    assert f"{PATH_VARS['raw_path']}/clicks" in result.stdout, result.stdout[-3000:]
