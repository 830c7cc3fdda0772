"""receval.warehouse: the bridge between dbt Python models and the package."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from receval.metrics.marts import offline_metrics_table
from receval.ope.marts import estimate_policy_values
from receval import preparation
from receval.warehouse import ColumnReader, read, require_finite


def test_column_reader_reads_named_columns_of_a_duckdb_relation_or_a_table():
    import duckdb

    con = duckdb.connect()
    con.execute("create table t as select i, i * 2 as j, 'x' || i as k from range(1000) r(i)")
    table = con.sql("select * from t order by i").to_arrow_table()
    for source in (con.query("select * from t"), table):
        reader = ColumnReader(source)
        assert reader.column_names == ["i", "j", "k"]
        assert reader.num_rows() == 1000
        read = reader.read(["k", "j"])
        assert read.column_names == ["k", "j"]
        assert sorted(read.column("j").to_pylist()) == list(range(0, 2000, 2))


def test_column_reader_reads_the_rows_of_some_values_and_counts_them_in_the_engine():
    import datetime as dt

    import duckdb

    con = duckdb.connect()
    con.execute("create table t as select i, date '2026-10-01' + (i % 4)::int as day, "
                "case when i % 3 = 0 then 'it''s' else 'b' end as k from range(100) r(i)")
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=d) for d in range(4)]
    for source in (con.query("select * from t"), con.sql("select * from t").to_arrow_table()):
        reader = ColumnReader(source)
        assert reader.counts("day") == {d: 25 for d in days}
        assert reader.counts("k") == {"it's": 34, "b": 66}
        got = reader.read(["i"], [("day", days[1:3])])
        assert sorted(got["i"].to_pylist()) == [i for i in range(100) if i % 4 in (1, 2)]
        assert sorted(reader.read(["i"], [("k", ["it's"])])["i"].to_pylist()) == list(range(0, 100, 3))
        assert sorted(reader.read(["i"], [("i", [3, 7])])["i"].to_pylist()) == [3, 7]
        both = reader.read(["i"], [("day", days[:1]), ("k", ["it's"])])
        assert sorted(both["i"].to_pylist()) == [i for i in range(100) if i % 12 == 0]
        pairs = reader.distinct(["day", "k"], [("day", days[:2])])
        assert sorted(pairs.select(["day", "k"]).to_pylist(), key=str) == sorted(
            [{"day": d, "k": k} for d in days[:2] for k in ("b", "it's")], key=str)
        with pytest.raises(TypeError, match="cannot filter on a float"):
            ColumnReader(con.query("select * from t")).read(["i"], [("i", [0.5])])


def test_column_reader_streams_sorted_pieces_and_filters_on_booleans():
    import duckdb

    con = duckdb.connect()
    con.execute("create table t as select (i * 37) % 1000 as i, i % 2 = 0 as even, 'p' || (i % 3) as p "
                "from range(1000) r(i)")
    for source in (con.query("select * from t"), con.sql("select * from t").to_arrow_table()):
        reader = ColumnReader(source)
        pieces = list(reader.batches(["i", "even"], [("p", ["p1"]), ("even", [True])], order_by=["i"], rows=100))
        got = pa.concat_tables(pieces)["i"].to_pylist()
        assert got == sorted((i * 37) % 1000 for i in range(1000) if i % 3 == 1 and i % 2 == 0)
        assert all(p.num_rows >= 100 for p in pieces[:-1]) and sum(p.num_rows for p in pieces) == len(got)
        assert [p.num_rows for p in reader.batches(["i"], [("even", [False])], order_by=["i"])] == [500]
        assert [p.num_rows for p in reader.batches(["i"], [("p", ["none"])], order_by=["i"])] == [0]
        pairs = pa.concat_tables(reader.batches(["p", "i"], order_by=["p", "i"], rows=300))
        assert pairs.to_pylist() == sorted(pairs.to_pylist(), key=lambda r: (r["p"], r["i"]))


def test_reads_give_back_the_blocks_duckdb_cached_and_keep_its_memory_limit(tmp_path, monkeypatch):
    """After a read, DuckDB's buffer pool holds no more of the table's blocks than the
    margin left for a query on another thread (a model would otherwise hold its rows twice,
    as cached blocks and as arrays), and the memory limit reads as before, however many
    reads there were."""
    import duckdb
    from dbt.adapters.duckdb.environments.local import DuckDBCursorWrapper

    from receval import warehouse

    monkeypatch.setattr(warehouse, "HEADROOM", 4 << 20)   # the table is 22 MB, not gigabytes

    path = str(tmp_path / "w.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create table t as select i, random() as x, i % 7 as k from range(3000000) r(i)")

    def cached(con):
        return con.sql("select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory() "
                       "where tag = 'BASE_TABLE'").fetchall()[0][0]

    for limit in ("8GB", "300MB", "1.5GiB"):
        with duckdb.connect(path, config={"memory_limit": limit}) as con:
            session = DuckDBCursorWrapper(con.cursor())   # what dbt-duckdb hands a Python model
            printed = con.sql("select current_setting('memory_limit')").fetchall()[0][0]
            con.sql("select sum(x) from t").fetchall()
            assert cached(con) > 20_000_000   # what a scan leaves behind without a release
            reader = ColumnReader(con.table("t"), session)
            reads = [lambda: reader.read(["x"]), lambda: reader.distinct(["k"]), lambda: reader.counts("k"),
                     lambda: list(reader.batches(["i", "x"], rows=500_000)),
                     lambda: warehouse.read(con.table("t"), session, lambda t: t.filter(t.k == 1))]
            for read_once in reads:
                con.sql("select sum(x) from t").fetchall()
                read_once()
                assert cached(con) <= warehouse.HEADROOM, read_once
                assert con.sql("select current_setting('memory_limit')").fetchall()[0][0] == printed
            # and while a read streams: each piece handed over gives back what the scan left
            # behind, and the stream goes on
            con.sql("select sum(x) from t").fetchall()
            watcher, held, rows = con.cursor(), [], 0
            for piece in reader.batches(["i", "x"], rows=500_000):
                held.append(cached(watcher))
                rows += piece.num_rows
            assert rows == 3_000_000 and max(held) < 12_000_000, held


def test_read_runs_the_preparation_in_duckdb_on_a_read_only_database(tmp_path):
    """An ibis preparation compiled to DuckDB's SQL and run over the relation itself: the
    rows of the named splits, nothing written to the (read-only) catalog."""
    import duckdb

    path = str(tmp_path / "w.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create table features as select i as event_id, ['train', 'validation', 'test'][i % 3 + 1]"
                    " as split, i * 0.5 as x from range(30) r(i)")
    with duckdb.connect(path, read_only=True) as con:
        got = read(con.table("features"), con, preparation.split_rows)
        assert got.column_names == ["event_id", "split", "x"]
        assert sorted(got["event_id"].to_pylist()) == [i for i in range(30) if i % 3 != 2]
        scored = read(con.table("features"), con, lambda t: preparation.split_rows(t, ["test"]))
        assert sorted(scored["event_id"].to_pylist()) == list(range(2, 30, 3))
        assert con.sql("select count(*) from duckdb_views() where not internal").fetchall() == [(0,)]


def test_training_rows_keep_whole_requests_about_the_cap_and_every_validation_row():
    import duckdb

    con = duckdb.connect()
    # 20,000 train requests of 10 impressions (ids 0..19,999), 500 validation ones, 300 test
    con.execute("create table features as select i as event_id, i // 10 as request_id, case when i < 200000 "
                "then 'train' when i < 205000 then 'validation' else 'test' end as split from range(208000) r(i)")
    whole = read(con.table("features"), con, lambda t: preparation.training_rows(t, None)).to_pandas()
    assert len(whole) == 205_000
    assert len(read(con.table("features"), con, lambda t: preparation.training_rows(t, 200_000))) == 205_000
    got = read(con.table("features"), con, lambda t: preparation.training_rows(t, 20_000)).to_pandas()
    # by hand: a request is kept when (id * 7919) mod 1,000,003 < 1,000,003 * 20,000 / 200,000
    ids = np.arange(20_000)
    kept = ids[(ids % 1_000_003) * 7_919 % 1_000_003 < 1_000_003 * 20_000 / 200_000]
    train = got[got.split == "train"]
    assert sorted(train.request_id.unique()) == kept.tolist()
    assert (train.groupby("request_id").size() == 10).all()
    assert abs(len(train) - 20_000) < 1_000   # 20,000 expected; the spread of 2,000 requests' draws
    assert (got.split == "validation").sum() == 5_000 and not (got.split == "test").any()


def test_require_finite_names_column_count_and_first_row():
    table = pa.table({"event_id": [10, 11, 12, 13], "request_id": [1, 1, 2, 2],
                      "score": [0.1, np.nan, None, np.inf], "label": [0, 1, 0, 1]})
    with pytest.raises(ValueError, match=r"^scored: column `score` holds 2 non-finite value\(s\) \(NaN or inf\); "
                                         r"the first at row 1 \(event_id=11, request_id=1\)$"):
        require_finite(table, "scored")
    require_finite(table.filter(pa.array([True, False, True, False])), "scored")  # nulls are fine


def test_offline_mart_refuses_a_nan_score_naming_the_impression():
    table = pa.table({
        "model_id": ["m"] * 4, "task": ["click"] * 4, "split": ["test"] * 4,
        "request_id": [1, 1, 2, 2], "event_id": [1, 2, 3, 4], "user_id": [1, 1, 2, 2],
        "score": [0.8, 0.5, np.nan, 0.2], "label": [1, 0, 1, 0], "relevance": [1, 0, 1, 0],
        "impression_date": pa.array([pd.Timestamp("2026-01-01").date()] * 4),
        "device": ["ios"] * 4, "user_tenure": ["new"] * 4, "item_freshness": ["warm"] * 4,
        "item_category": ["a", "a", "b", "b"],
    })
    with pytest.raises(ValueError, match=r"int_offline__scored_impressions: column `score` .* row 2 \(event_id=3"):
        offline_metrics_table(table, baseline_model="m", ks=[1], n_bootstrap=10)


def test_policy_value_mart_refuses_an_infinite_reward():
    slots = pa.table({"policy_id": ["p", "p"], "event_id": [7, 8], "request_id": [1, 2],
                      "click": [0.0, np.inf], "p_log": [0.5, 0.5], "p_target": [0.5, 0.5]})
    with pytest.raises(ValueError, match=r"int_cf__policy_slots: column `click` holds 1 .* row 1 \(event_id=8, request_id=2\)"):
        estimate_policy_values(slots)


def test_experiment_mart_refuses_a_nan_metric_naming_the_user():
    from receval.experiments.marts import experiment_results

    metrics = pa.table({"experiment_id": ["e", "e"], "variant": ["a", "b"], "user_id": [5, 6],
                        "revenue": [1.0, np.nan]})
    with pytest.raises(ValueError, match=r"fct_experiment_user_metrics: column `revenue` .* row 1 \(user_id=6\)"):
        experiment_results(metrics, pa.table({"experiment_id": ["e"]}))
