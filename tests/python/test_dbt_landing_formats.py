"""Integration: valid data is never thrown away for its encoding, bad values are rejected
with a reason, and strings are data.

One copy of the tiny world, its files rewritten the way other writers store the same
values (pandas' nanosecond timestamps, 64-bit positions, zoned timestamps, an extra column),
with lossy encodings (a string position, a position out of the contract's range), NaN and
infinite numbers, and strings with quotes, SQL, Jinja braces, newlines and emoji; one
`dbt build` (it must exit 0), then one test per case against the full tiny world's build.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dbt_runner import TINY_VARS, Warehouse
from landing_zones import copy_landing_zone, landing_files, rewrite, with_column

pytestmark = pytest.mark.dbt

NASTY = [
    "it's; drop table dim_items; --",
    '{{ var("raw_path") }} {% if true %}jinja{% endif %}',
    "line one\nline two\t\"quoted\" \\ back",
    "emoji 🧪🚀 ünïcödé",
    "'); select 1; /*",
]


def rel(raw, path) -> str:
    return path.relative_to(raw).as_posix()


def clean_event_ids(world, entity: str, table: pa.Table) -> np.ndarray:
    """Event ids of ``table`` that are neither injected faults nor redelivered."""
    faults = pd.read_parquet(world / "truth" / "faults.parquet")
    duplicates = pd.read_parquet(world / "truth" / "duplicates.parquet")
    taken = set(faults.loc[faults.entity == entity, "event_id"]) | set(duplicates.loc[duplicates.entity == entity, "event_id"])
    ids = table["event_id"].to_numpy(zero_copy_only=False)
    return ids[~np.isin(ids, list(taken))]


def set_values(table: pa.Table, column: str, event_ids, values) -> pa.Table:
    """``column`` set to ``values`` on the rows of ``event_ids`` (one value per id); other
    rows keep theirs, nulls included."""
    current = table[column]
    for event_id, value in zip(event_ids, values):
        current = pc.if_else(pc.equal(table["event_id"], event_id), pa.scalar(value, current.type), current)
    return with_column(table, column, current)


@pytest.fixture(scope="module")
def formats(tiny_world, tmp_path_factory):
    """The rewritten landing zone, its build, and what each case changed."""
    out = tmp_path_factory.mktemp("formats")
    raw = copy_landing_zone(tiny_world, out)
    broken = json.loads((tiny_world / "truth" / "world.json").read_text())["broken_partition"]
    impressions = [p for p in landing_files(raw, "impressions") if broken not in p.as_posix()]
    case = {}

    case["ns"] = impressions[10]
    rewrite(case["ns"], lambda t: with_column(t, "ts", t["ts"].cast(pa.timestamp("ns"))))
    case["int64_position"] = impressions[20]
    rewrite(case["int64_position"], lambda t: with_column(t, "position", t["position"].cast(pa.int64())))
    case["zoned_clicks"] = landing_files(raw, "clicks")[15]
    rewrite(case["zoned_clicks"], lambda t: with_column(
        t, "ts", t["ts"].cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz="America/New_York"))))
    case["extra_column"] = landing_files(raw, "requests")[5]
    rewrite(case["extra_column"], lambda t: t.append_column("debug_note", pa.array(["x"] * t.num_rows)))
    case["string_position"] = impressions[30]
    rewrite(case["string_position"], lambda t: with_column(t, "position", t["position"].cast(pa.string())))
    case["position_out_of_range"] = impressions[40]
    rewrite(case["position_out_of_range"], lambda t: with_column(t, "position", pc.if_else(
        pc.equal(pa.array(np.arange(t.num_rows)), 0), pa.scalar(2**40, pa.int64()), t["position"].cast(pa.int64()))))

    # NaN and +-inf in the doubles of otherwise valid rows
    non_finite = {}
    for entity, column, values, index in (
        ("impressions", "score", [np.nan, np.nan, np.inf], 50),
        ("impressions", "propensity", [-np.inf], 51),
        ("conversions", "revenue", [np.nan, np.inf], 3),
        ("served_features", "feature_value", [np.nan], 7),
    ):
        path = landing_files(raw, entity)[index]
        table = rewrite(path, lambda t: t)
        ids = clean_event_ids(tiny_world, entity, table)[: len(values)]
        rewrite(path, lambda t: set_values(t, column, ids, values))
        non_finite.setdefault(entity, []).extend(int(i) for i in ids)
    case["non_finite"] = non_finite

    # strings that are SQL, Jinja, JSON or terminal syntax elsewhere are data here
    items_file = landing_files(raw, "items")[0]
    item_ids = pd.unique(rewrite(items_file, lambda t: t)["item_id"].to_numpy())[:2]
    rewrite(items_file, lambda t: with_column(with_column(
        t, "category", pa.array([NASTY[0] if i == item_ids[0] else c for i, c in zip(t["item_id"].to_pylist(), t["category"].to_pylist())])),
        "title", pa.array([NASTY[1] if i == item_ids[1] else c for i, c in zip(t["item_id"].to_pylist(), t["title"].to_pylist())])))
    features_file = landing_files(raw, "served_features")[3]
    feature_id = int(clean_event_ids(tiny_world, "served_features", rewrite(features_file, lambda t: t))[0])
    rewrite(features_file, lambda t: set_values(t, "feature_name", [feature_id], [NASTY[2]]))
    assignments_file = landing_files(raw, "assignments")[0]
    assignment_id = int(clean_event_ids(tiny_world, "assignments", rewrite(assignments_file, lambda t: t))[0])
    rewrite(assignments_file, lambda t: set_values(t, "experiment_id", [assignment_id], [NASTY[3]]))
    model_file = impressions[60]
    request_id = int(rewrite(model_file, lambda t: t)["request_id"][0].as_py())
    rewrite(model_file, lambda t: with_column(t, "model_id", pc.if_else(
        pc.equal(t["request_id"], request_id), pa.scalar(NASTY[4]), t["model_id"])))
    case["strings"] = {"item_ids": [int(i) for i in item_ids], "feature_event_id": feature_id,
                       "assignment_event_id": assignment_id, "request_id": request_id}

    warehouse = Warehouse(out / "warehouse", raw, TINY_VARS)
    log = warehouse.dbt("build").stdout
    return warehouse, raw, case, log


def files_row(warehouse, raw, path):
    return warehouse.query(
        f"select * from main.base_landing__files where source_file like '%{rel(raw, path)}'").iloc[0]


def kept_from(warehouse, raw, entity, path, columns="event_id, ts"):
    return warehouse.query(f"select {columns} from main.stg_landing__{entity} "
                           f"where source_file like '%{rel(raw, path)}' order by event_id")


@pytest.mark.parametrize("name, entity, coercion", [
    ("ns", "impressions", "ts:TIMESTAMP_NS (timestamp_ns_to_us)"),
    ("int64_position", "impressions", "position:BIGINT (integer_narrowed)"),
    ("zoned_clicks", "clicks", "ts:TIMESTAMP WITH TIME ZONE (timestamp_tz_to_utc)"),
])
def test_lossless_encoding_is_accepted_cast_and_counted(formats, tiny_warehouse, name, entity, coercion):
    warehouse, raw, case, _ = formats
    path = case[name]
    row = files_row(warehouse, raw, path)
    assert not row.has_schema_mismatch and row.coerced_columns == coercion
    columns = "event_id, ts, position" if entity == "impressions" else "event_id, ts"
    kept = kept_from(warehouse, raw, entity, path, columns)
    expected = tiny_warehouse.query(f"select {columns} from main.stg_landing__{entity} "
                                    f"where source_file like '%{rel(raw, path)}' order by event_id")
    assert len(kept) > 0
    pd.testing.assert_frame_equal(kept, expected)  # the same events, the same UTC instants
    counts = warehouse.query(f"select coerced_rows, coercions from main.stg_landing__row_counts "
                             f"where entity = '{entity}' and landed_date = '{row.landed_date}'").iloc[0]
    coerced_files = warehouse.query(f"select source_file from main.base_landing__files where entity = '{entity}' "
                                    f"and landed_date = '{row.landed_date}' and coerced_columns is not null")
    assert counts.coerced_rows == sum(pq.read_metadata(warehouse.resolve(f)).num_rows
                                      for f in coerced_files.source_file)
    assert coercion in counts.coercions


def test_extra_column_is_ignored_and_warned_once(formats, tiny_warehouse):
    warehouse, raw, case, log = formats
    row = files_row(warehouse, raw, case["extra_column"])
    assert not row.has_schema_mismatch and row.extra_columns == "debug_note"
    warnings = [line for line in log.splitlines() if "outside the contract" in line]
    assert len(warnings) == 1 and "1 requests file(s)" in warnings[0] and "debug_note" in warnings[0], warnings
    pd.testing.assert_frame_equal(
        kept_from(warehouse, raw, "requests", case["extra_column"]),
        tiny_warehouse.query(f"select event_id, ts from main.stg_landing__requests "
                             f"where source_file like '%{rel(raw, case['extra_column'])}' order by event_id"))


@pytest.mark.parametrize("name, mismatch", [
    ("string_position", "position:VARCHAR"),
    ("position_out_of_range", "position:BIGINT (values outside the contract type)"),
])
def test_lossy_encoding_rejects_the_file_naming_column_and_type(formats, name, mismatch):
    warehouse, raw, case, _ = formats
    row = files_row(warehouse, raw, case[name])
    assert row.has_schema_mismatch and row.mismatched_columns == mismatch
    rejected = warehouse.query(f"select reason, count(*) as n from main.stg_landing__rejected_events "
                               f"where source_file like '%{rel(raw, case[name])}' group by reason")
    assert rejected.to_dict("records") == [{"reason": "schema_mismatch", "n": pq.read_metadata(case[name]).num_rows}]


def test_non_finite_numbers_are_rejected_with_their_reason(formats):
    warehouse, _, case, _ = formats
    rejected = warehouse.query("select entity, event_id from main.stg_landing__rejected_events "
                               "where reason = 'non_finite_number'")
    found = {entity: sorted(group.event_id.tolist()) for entity, group in rejected.groupby("entity")}
    assert found == {entity: sorted(ids) for entity, ids in case["non_finite"].items()}
    counts = warehouse.query("select entity, sum(non_finite_number_rows) as n from main.stg_landing__row_counts "
                             "group by entity having sum(non_finite_number_rows) > 0")
    assert dict(zip(counts.entity, counts.n)) == {e: len(ids) for e, ids in case["non_finite"].items()}
    # nothing non-finite reaches a mart
    for table, column in (("fct_impression_labels", "score"), ("fct_impression_labels", "propensity"),
                          ("fct_impression_labels", "revenue")):
        assert warehouse.query(f"select count(*) as n from main.{table} where not isfinite({column})").n.iloc[0] == 0


def test_counts_reconcile_on_the_rewritten_landing_zone(formats):
    warehouse, *_ = formats
    counts = warehouse.query("select entity, sum(raw_rows) as raw, sum(kept_rows + duplicate_rows + rejected_rows) "
                             "as accounted from main.stg_landing__row_counts group by entity")
    assert (counts.raw == counts.accounted).all() and len(counts) == 10


def test_strings_are_kept_byte_for_byte(formats):
    warehouse, _, case, _ = formats
    strings = case["strings"]
    items = warehouse.query(f"select item_id, category, title from main.dim_items "
                            f"where item_id in ({', '.join(map(str, strings['item_ids']))}) order by item_id")
    by_id = items.set_index("item_id")
    assert by_id.loc[strings["item_ids"][0], "category"] == NASTY[0]
    assert by_id.loc[strings["item_ids"][1], "title"] == NASTY[1]
    assert warehouse.query(f"select feature_name from main.stg_landing__served_features "
                           f"where event_id = {strings['feature_event_id']}").feature_name.iloc[0] == NASTY[2]
    assert warehouse.query(f"select experiment_id from main.stg_landing__assignments "
                           f"where event_id = {strings['assignment_event_id']}").experiment_id.iloc[0] == NASTY[3]
    labels = warehouse.query(f"select distinct model_id from main.fct_impression_labels "
                             f"where request_id = {strings['request_id']}")
    assert labels.model_id.tolist() == [NASTY[4]]
    diagnostics = warehouse.query("select distinct model_id from main.fct_propensity_diagnostics")
    assert NASTY[4] in set(diagnostics.model_id)
    published = pd.read_parquet(warehouse.marts_path / "dim_items.parquet")
    assert NASTY[0] in set(published.category)
