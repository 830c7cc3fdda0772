"""The SQL layer on Spark equals the one on DuckDB (issue 20): `dbt build --target spark`
(dbt-spark's session method, pyspark in-process) of the seeds and every SQL model that no
Python model precedes, on the tiny world, then an incremental run of the labels and the
features, every table and view compared row for row with the DuckDB build of the same
world; and the seeds and staging layer on that world's landing zone reduced to
impressions and clicks. On the same builds, each Python model's data preparation
(receval.preparation, ibis) runs through DuckDB and through Spark and must select the same
rows as the SQL it stands for; and (slow) every SQL model's unit test passes on Spark.

The tiny world's landing zone carries the simulator's faults, among them an impressions
file whose `position` is a string: on Spark that file is read by a scan of its own
(macros/landing_spark.sql) and rejected as schema_mismatch, as on DuckDB.

Needs the `spark` extra and Java 17: `make test-spark` (pytest -m 'spark and not slow'); the
slow cases: pytest -m 'spark and slow'."""
from __future__ import annotations

import json
import math
import re
import shutil
from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dbt_runner import TINY_VARS, WITHOUT_TESTS, Warehouse
from receval import preparation
from receval.warehouse import read

pytestmark = [pytest.mark.spark, pytest.mark.dbt]

#: what each case builds: the SQL layer or the seeds and staging layer, without data or unit
#: tests (they run on DuckDB in `make test`; on Spark the data tests pass, docs/spark.md, and
#: would add two minutes to CI)
SQL_LAYER = ("--exclude", "path:python_models+", *WITHOUT_TESTS)
STAGING = ("--select", "path:models/staging", "path:seeds", *WITHOUT_TESTS)
#: the fewest tables and views each case compares (seeds included)
MODELS = {"whole": 82, "impressions_clicks": 37}
#: Spark's schemas and the DuckDB schemas that hold the same models
SCHEMAS = {"receval": "main", "receval_seeds": "main_seeds"}
#: each Python model's preparation of a SQL model it reads (receval.preparation): the
#: function, the SQL model, and the same selection written in SQL (the reference)
PREPARATIONS = {
    "int_candidates__training_runs": (preparation.training_rows, "int_features__impressions",
                                      "select * from {0} where split in ('train', 'validation')"),
    # the tiny world's train split under a cap of 5,000 impressions (of its 18,562): the same
    # requests on both engines (integer buckets), written out in SQL
    "int_candidates__training_runs (capped)": (
        lambda t: preparation.training_rows(t, 5_000), "int_features__impressions",
        "select * from {0} where split = 'validation' or split = 'train' and (abs(request_id) % 1000003) * 7919"
        " % 1000003 < cast(1000003 as bigint) * 5000 / (select count(*) from {0} where split = 'train')"),
    "int_candidates__scores": (lambda t: preparation.split_rows(t, ["test"]), "int_features__impressions",
                               "select * from {} where split = 'test'"),
    "int_features__item_content": (preparation.catalog_items, "int_core__items",
                                   "select item_id, category, brand, title, price from {}"),
    "int_cf__candidate_target_policies": (preparation.shown_items, "int_propensities",
                                          "select request_id, item_id from {}"),
    "int_delayed__click_arrival": (preparation.arrival_clicks, "int_delayed__clicks",
                                   f"select {', '.join(preparation.ARRIVAL_COLUMNS)} from {{}}"),
    "fct_prediction_drift": (lambda t: preparation.served_scores(t, ["device", "item_category"]),
                             "int_monitoring__served_impressions",
                             "select impression_date, model_id, score, device, item_category from {}"),
}
#: a timestamp inside a payload as Spark writes it (DuckDB drops a fraction's trailing zeros)
_PAYLOAD_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+$")


# The reduced zone's case is also `slow`: `make test-spark` (CI) builds the whole one; run both
# with `pytest -m spark` (or this one with `pytest -m "spark and slow"`).
@pytest.fixture(scope="module", params=["whole", pytest.param("impressions_clicks", marks=pytest.mark.slow)])
def builds(request, tiny_world, tmp_path_factory) -> tuple[str, Warehouse, Warehouse]:
    """Built on both engines from the tiny world's landing zone: the SQL layer from the whole
    zone, the staging layer from the zone reduced to the two required entities (every
    optional one absent: the on-run-end notices and the empty readers ask Spark which
    entities have files)."""
    raw = tiny_world / "raw"
    if request.param != "whole":
        raw = tmp_path_factory.mktemp("reduced_landing") / "raw"
        for entity in request.param.split("_"):
            shutil.copytree(tiny_world / "raw" / entity, raw / entity)
    duck = Warehouse(tmp_path_factory.mktemp("duckdb_build"), raw, TINY_VARS)
    # Spark builds the features in one batch of days (DuckDB in four: TINY_VARS), so the
    # comparison also checks that batching changes nothing; Spark plans each batch's query
    # for about 100 s.
    spark = Warehouse(tmp_path_factory.mktemp("spark_build"), raw,
                      {**TINY_VARS, "feature_batch_rows": 10_000_000}, target="spark")
    select = SQL_LAYER if request.param == "whole" else STAGING
    duck.dbt("build", *select)
    spark.dbt("build", *select)
    if request.param == "whole":
        # the incremental models' own path on Spark: a second run rewrites their recent days
        # (the labels' immature ones, the features' look-back) and must leave them equal; the
        # landing files' schemas come from the first run's table
        spark.dbt("run", "--select", "int_labels__impressions", "int_features__impression_features",
                  "base_landing__file_columns")
    return request.param, duck, spark


def _spark_session(warehouse: Warehouse, monkeypatch):
    """A Spark session on the build's metastore (dbt's own process has exited), started in
    the warehouse's folder: its views name the landing zone relative to it."""
    from pyspark.sql import SparkSession

    monkeypatch.chdir(warehouse.root)   # the JVM starts here: Spark resolves paths against it

    spark_dir = warehouse.root / "spark"
    return (SparkSession.builder.master("local[2]").appName("receval-test")
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.warehouse.dir", str(spark_dir / "warehouse"))
            .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                    f"jdbc:derby:;databaseName={spark_dir}/metastore_db;create=true")
            .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={spark_dir}")
            .config("spark.sql.session.timeZone", "UTC")
            .enableHiveSupport().getOrCreate())


def _canonical(value) -> str:
    """One text per value whatever the engine's Python type: null, integral numbers without a
    fraction, floats to 1e-9 (to 12 significant digits: sums in another order differ in the
    last bits), lists element by element, dates as midnight timestamps, and a payload's
    JSON with sorted keys, timestamps without trailing zeros and scalars as text (a raw
    value keeps the file's type: "3" where a file wrote position as text; Spark types it)."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "<null>"
    if isinstance(value, Decimal):   # Spark's decimals reach pandas as Decimal, DuckDB's as float
        value = float(value)
    if isinstance(value, float):
        value = round(value, 9)
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else f"{value:.12g}"
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):   # a list (numpy array)
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).isoformat() if value.tzinfo else value.isoformat()
    if hasattr(value, "isoformat"):   # a date: DuckDB's DATE reaches pandas as a timestamp
        return value.isoformat() + ("" if hasattr(value, "hour") else "T00:00:00")
    if isinstance(value, str) and value.startswith("{"):
        row = json.loads(value)
        return json.dumps({k: None if v is None else
                           (v.rstrip("0").rstrip(".") if isinstance(v, str) and _PAYLOAD_TS.match(v) else str(v))
                           for k, v in row.items()}, sort_keys=True)
    return str(value)


def _rows(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    return sorted(tuple(_canonical(v) for v in row) for row in frame.itertuples(index=False))


def test_every_model_equals_duckdb(builds, monkeypatch):
    case, duck, spark_build = builds
    spark = _spark_session(spark_build, monkeypatch)
    # both engines' views name the landing zone relative to their warehouse's folder (as when
    # dbt built them): query DuckDB's from its own
    monkeypatch.chdir(duck.root)
    try:
        differ, compared = {}, 0
        with duckdb.connect(str(duck.database), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")   # as the profile sets it
            for spark_schema, duck_schema in SCHEMAS.items():
                models = sorted(r.tableName for r in spark.sql(f"show tables in {spark_schema}").collect()
                                if not r.isTemporary)
                duck_models = sorted(r[0] for r in con.execute(
                    "select table_name from information_schema.tables where table_schema = ?",
                    [duck_schema]).fetchall())
                assert models == duck_models
                for model in models:
                    got = spark.sql(f"select * from {spark_schema}.{model}").toPandas()
                    want = con.sql(f"select * from {duck_schema}.{model}").df()
                    if sorted(got.columns) != sorted(want.columns):
                        differ[model] = f"columns {list(got.columns)} != {list(want.columns)}"
                    # by name: Spark keeps a table's partition column (a day) last
                    elif _rows(got[list(want.columns)]) != _rows(want):
                        differ[model] = f"{len(got)} rows on Spark, {len(want)} on DuckDB, not the same"
                    compared += 1
        assert not differ, differ
        assert compared >= MODELS[case], compared
        # the mismatched file went through its own scan and was rejected as on DuckDB
        rejected = spark.sql("select count(*) from receval.stg_landing__rejected_events"
                             " where reason = 'schema_mismatch'").collect()[0][0]
        assert rejected > 0
    finally:
        spark.stop()


def test_only_new_or_rewritten_landing_files_are_read_again(tiny_world, tmp_path, monkeypatch):
    """Spark reads a landing file's footer once (a job per file): a later run keeps the
    columns of every file whose path, size and modification time the table holds, reads
    the others, and drops the files gone, so the table equals DuckDB's, which reads every
    footer on every run."""
    raw = tmp_path / "raw"
    for entity in ("impressions", "clicks"):
        for day in sorted((tiny_world / "raw" / entity).glob("date=*"))[:2]:
            shutil.copytree(day, raw / entity / day.name)
    spark = Warehouse(tmp_path / "spark_build", raw, TINY_VARS, target="spark")
    select = ("run", "--select", "base_landing__file_columns")

    def files_read() -> str:
        log = (spark.root / "logs" / "dbt.log").read_text()
        return re.findall(r"base_landing__file_columns: (\d+ of \d+) landing files read", log)[-1]

    spark.dbt(*select)
    impressions = sorted(raw.glob("impressions/date=*/hour=*/*.parquet"))
    clicks = sorted(raw.glob("clicks/date=*/hour=*/*.parquet"))
    assert files_read() == f"{len(impressions) + len(clicks)} of {len(impressions) + len(clicks)}"
    # rewritten in place with another schema (position as text), one new file, one removed
    rewritten = pq.read_table(impressions[3])
    at = rewritten.schema.get_field_index("position")
    pq.write_table(rewritten.set_column(at, "position", rewritten["position"].cast(pa.string())), impressions[3])
    shutil.copy(clicks[0], clicks[0].with_name("part-99999.parquet"))
    clicks[1].unlink()
    spark.dbt(*select)
    assert files_read() == f"2 of {len(impressions) + len(clicks)}"

    duck = Warehouse(tmp_path / "duckdb_build", raw, TINY_VARS)
    duck.dbt(*select)
    session = _spark_session(spark, monkeypatch)
    try:
        got = session.sql("select * from receval.base_landing__file_columns").toPandas()
    finally:
        session.stop()
    want = duck.query("select * from main.base_landing__file_columns")
    assert _rows(got[list(want.columns)]) == _rows(want)
    assert ("VARCHAR" in set(want.loc[want.column_name == "position", "data_type"])
            and want.source_file.str.endswith("part-99999.parquet").any())


@pytest.mark.parametrize("builds", ["whole"], indirect=True)   # the reduced zone has no features
def test_every_python_models_preparation_is_the_same_on_both_engines(builds, monkeypatch):
    """receval.preparation's ibis expressions, run by receval.warehouse.read inside each
    engine (DuckDB's relation, Spark's DataFrame), select the same rows and columns as the
    SQL they stand for, on the tables each engine built; the two whose inputs are Python
    models (which dbt-spark's session method does not run) on a hand-made table."""
    _, duck, spark_build = builds
    spark = _spark_session(spark_build, monkeypatch)
    monkeypatch.chdir(duck.root)
    runs = pd.DataFrame({"model_id": ["a", "b"], "task": ["click", "click"], "version": ["v1", "v2"]})
    scores = pd.DataFrame({"model_id": ["a", "a", "b"], "task": ["click", "conversion", "click"],
                           "request_id": [1, 1, 2], "item_id": [10, 10, 20],
                           "calibrated_score": [0.25, 0.5, 0.75], "score": [0.2, 0.4, 0.8]})
    try:
        with duckdb.connect(str(duck.database), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            for model, (prepare, source, sql) in PREPARATIONS.items():
                want = con.sql(sql.format(f"main.{source}")).df()
                on_duckdb = read(con.table(f"main.{source}"), con, prepare).to_pandas()
                on_spark = read(spark.table(f"receval.{source}"), spark, prepare).to_pandas()
                assert list(on_duckdb.columns) == list(on_spark.columns) == list(want.columns), model
                assert len(want) > 0, model
                assert _rows(on_duckdb) == _rows(on_spark) == _rows(want), model
            for prepare, frame, want in (
                (preparation.model_versions, runs, [("a", "v1"), ("b", "v2")]),
                (preparation.click_scores, scores, [("a", "1", "10", "0.25"), ("b", "2", "20", "0.75")]),
            ):
                on_duckdb = read(con.from_df(frame), con, prepare).to_pandas()
                on_spark = read(spark.createDataFrame(frame), spark, prepare).to_pandas()
                assert _rows(on_duckdb) == _rows(on_spark) == want, prepare.__name__
    finally:
        spark.stop()


@pytest.mark.slow
@pytest.mark.parametrize("builds", ["whole"], indirect=True)
def test_every_unit_test_passes_on_spark(builds):
    """The yml unit tests of the SQL models, on Spark (slow: the feature models' take a
    minute or more each to plan; `pytest -m 'spark and slow'`)."""
    _, _, spark_build = builds
    spark_build.dbt("test", "--select", "test_type:unit", "--exclude", "path:python_models+")
    results = json.loads((spark_build.root / "target" / "run_results.json").read_text())["results"]
    units = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(units) >= 24 and set(units.values()) == {"pass"}, units
