"""The one bridge between dbt Python models and the package: engine relations to Arrow.

dbt Python models stay thin (``dbt.ref`` -> one package call -> a table back). What
``dbt.ref`` returns depends on the engine: a DuckDB relation here, a Spark DataFrame on
Spark. The package only ever sees Arrow tables and numpy arrays. What a model reads of a
relation (rows, columns) is an ibis expression (receval.preparation) that ``read`` runs
inside the engine holding the relation.
"""
from __future__ import annotations

import datetime as dt
import sys
import threading
import uuid
from typing import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def to_arrow(relation) -> pa.Table:
    """Materialise what ``dbt.ref()`` / ``dbt.source()`` returned as an Arrow table.

    DuckDB 2.x: ``relation.arrow()`` is a RecordBatchReader, so use ``to_arrow_table()``.
    """
    if isinstance(relation, pa.Table):
        return relation
    if hasattr(relation, "to_arrow_table"):  # DuckDB
        return relation.to_arrow_table()
    if hasattr(relation, "toArrow"):  # PySpark >= 4
        return relation.toArrow()
    if hasattr(relation, "toPandas"):  # older PySpark
        return pa.Table.from_pandas(relation.toPandas(), preserve_index=False)
    raise TypeError(f"cannot turn a {type(relation).__name__} into an Arrow table")


def read(relation, session, prepare: Callable) -> pa.Table:
    """What ``dbt.ref()`` returned, prepared by ``prepare`` inside its own engine, as Arrow.

    ``prepare`` takes the relation as an ibis table and returns an ibis expression
    (receval.preparation). ibis compiles it to the engine's SQL (DuckDB's, or Spark's for a
    Spark DataFrame) over the relation under a name, and the engine runs it: ibis builds the
    query, the engine that holds the data executes it. (ibis 12's DuckDB backend cannot
    execute on DuckDB 2, which dropped ``fetch_arrow_table``; its compiler needs no
    connection.)
    """
    import ibis

    view = f"receval_input_{uuid.uuid4().hex}"
    if hasattr(relation, "createOrReplaceTempView"):  # a Spark DataFrame: a temporary view
        from pyspark.sql.pandas.types import to_arrow_schema

        ibis.pyspark  # loading the backend registers its compiler's options (NaN handling)
        table = ibis.table(ibis.Schema.from_pyarrow(to_arrow_schema(relation.schema)), name=view)
        relation.createOrReplaceTempView(view)
        try:
            return to_arrow(session.sql(str(ibis.to_sql(prepare(table), dialect="pyspark"))))
        finally:
            session.catalog.dropTempView(view)
    # a DuckDB relation queries itself under a name (nothing written to the catalog, which
    # may be read-only)
    table = ibis.table(ibis.Schema.from_pyarrow(relation.limit(0).to_arrow_table().schema), name=view)
    prepared = to_arrow(relation.query(view, str(ibis.to_sql(prepare(table), dialect="duckdb"))))
    release_cached_blocks(session)
    return prepared


_RELEASE = threading.Lock()      # dbt runs Python models on threads of one process
HEADROOM = 1 << 30


def release_cached_blocks(session) -> None:
    """Let DuckDB give back the table blocks its reads left cached, before a Python model
    holds what it read in its own memory.

    DuckDB keeps the blocks a scan loaded in its buffer pool, up to its memory limit, and
    evicts them only when it needs the room: a model that has copied its rows into numpy
    would hold them twice (on the large preset, 8 GB of cached blocks beside 5-9 GB of
    arrays). Lowering the limit to what everything but cached table blocks uses, plus a
    margin for a query on dbt's other thread, evicts them; the limit is then set back. The
    blocks are re-read from the file (the OS's page cache) when next needed. Safe while a
    read streams (it pins only the blocks in flight): a long read releases after each piece,
    or a scan of a table larger than the pool would fill it on the way. A no-op for
    anything but a DuckDB connection, and where a query has the blocks pinned.
    """
    import duckdb

    session = getattr(session, "_cursor", session)   # dbt-duckdb hands models a wrapper of the cursor
    if not isinstance(session, duckdb.DuckDBPyConnection):
        return
    # a cursor of its own: a read still streaming on the session's is left alone
    with _RELEASE, session.cursor() as session:
        limit = session.execute("select current_setting('memory_limit')").fetchall()[0][0]
        other, cached = session.execute(
            "select coalesce(sum(memory_usage_bytes) filter (where tag <> 'BASE_TABLE'), 0), "
            "coalesce(sum(memory_usage_bytes) filter (where tag = 'BASE_TABLE'), 0) from duckdb_memory()").fetchall()[0]
        if cached <= HEADROOM:   # the lowered limit would evict nothing
            return
        try:
            session.execute(f"set memory_limit = '{int(other) + HEADROOM}B'")
        except duckdb.OutOfMemoryException:
            pass
        finally:
            session.execute(f"set memory_limit = '{_unprinted(limit)}'")


def _unprinted(limit: str) -> str:
    """A memory limit as DuckDB prints it ("7.4 GiB", cut to one decimal, not rounded), as a
    value to set back: the middle of the range it stands for, so that setting it and reading
    it again gives the same text (setting "7.4 GiB" back would print "7.3 GiB")."""
    value, _, unit = limit.partition(" ")
    return f"{float(value) + 0.05} {unit}" if "." in value else limit


class ColumnReader:
    """A relation read a few columns at a time, for a mart that needs some wide columns of
    many rows: only the columns of the read at hand are in memory (51M rows x 18 float
    features would be 7 GB at once). Each read is a query of its own, so two reads need not
    return the rows in the same order (DuckDB's ``preserve_insertion_order`` is off here):
    a read holds its keys with its values.

    ``relation``: what ``dbt.ref()`` returned (a DuckDB relation or a Spark DataFrame), or
    an Arrow table; ``session``: the model's session, whose DuckDB gives back the blocks
    each read left cached (``release_cached_blocks``).
    """

    def __init__(self, relation, session=None):
        self.relation = relation
        self.session = session
        is_table = isinstance(relation, pa.Table)
        self.column_names = list(relation.column_names if is_table else relation.columns)

    def num_rows(self) -> int:
        if isinstance(self.relation, pa.Table):
            return self.relation.num_rows
        if hasattr(self.relation, "to_arrow_table"):  # DuckDB: a count, not a read
            return int(self.relation.aggregate("count(*)").fetchall()[0][0])
        return int(self.relation.count())           # Spark

    def read(self, columns, where: Sequence[tuple[str, list]] = ()) -> pa.Table:
        """The named columns, as an Arrow table; with ``where``, pairs ``(column, values)``,
        only the rows whose every such column holds one of its values (booleans, dates, strings or
        integers). The filter runs in the engine: only those rows are ever materialised."""
        if isinstance(self.relation, pa.Table):
            return self._where(where).select(list(columns))
        return self._released(to_arrow(self._where(where).select(*columns)))

    def distinct(self, columns, where: Sequence[tuple[str, list]] = ()) -> pa.Table:
        """The distinct rows of the named columns (among the rows ``where`` keeps)."""
        kept = self._where(where)
        if isinstance(kept, pa.Table):
            return kept.group_by(list(columns)).aggregate([])
        return self._released(to_arrow(kept.select(*columns).distinct()))

    def batches(self, columns, where: Sequence[tuple[str, list]] = (), *, order_by: Sequence[str] = (),
                rows: int | None = None) -> Iterator[pa.Table]:
        """The named columns of the rows ``where`` keeps, sorted by the columns ``order_by``
        (among them; in no set order without) in the engine, as Arrow tables of about
        ``rows`` rows each (all at once when None; one empty table when no row is kept):
        what a reader converts a piece at a time never sits in memory whole as Arrow. (An
        engine's sort holds every row in its own memory until the last piece is read.)"""
        kept = self._where(where)
        if hasattr(kept, "to_arrow_reader"):   # DuckDB: streamed in its own (small) batches
            kept = kept.select(*columns)
            stream = (kept.order(", ".join(order_by)) if order_by else kept).to_arrow_reader()
        else:   # an Arrow table, or Spark's rows collected by the driver
            if isinstance(kept, pa.Table):
                table = kept.select(list(columns))
                table = table.sort_by([(c, "ascending") for c in order_by]) if order_by else table
            else:
                kept = kept.select(*columns)
                table = to_arrow(kept.orderBy(*order_by) if order_by else kept)
            stream = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        pending: list[pa.RecordBatch] = []
        held, given = 0, 0
        for batch in stream:
            pending.append(batch)
            held += batch.num_rows
            if rows is not None and held >= rows:
                yield self._released(pa.Table.from_batches(pending, stream.schema))
                pending, held, given = [], 0, given + 1
        self._released(None)
        if pending or not given:
            yield pa.Table.from_batches(pending, stream.schema)

    def counts(self, column: str) -> dict:
        """The number of rows per value of ``column`` (a group-by in the engine)."""
        if isinstance(self.relation, pa.Table):
            counted = self.relation.group_by(column).aggregate([([], "count_all")])
            return dict(zip(counted[column].to_pylist(), counted["count_all"].to_pylist()))
        if hasattr(self.relation, "to_arrow_table"):  # DuckDB
            return self._released(dict(self.relation.aggregate(f"{column}, count(*)", column).fetchall()))
        return {r[0]: r[1] for r in self.relation.groupBy(column).count().collect()}  # Spark

    def _released(self, result):
        """``result``, once the engine has given back what the read left cached."""
        release_cached_blocks(self.session)
        return result

    def _where(self, where: Sequence[tuple[str, list]]):
        kept = self.relation
        for column, values in where:
            if isinstance(kept, pa.Table):
                col = kept[column]
                kept = kept.filter(pc.is_in(col, value_set=pa.array(values, type=col.type)))
            else:  # DuckDB and Spark SQL read the same IN list
                kept = kept.filter(f"{column} IN ({', '.join(map(_sql_literal, values))})")
        return kept


def _sql_literal(value) -> str:
    """A boolean, date, string or integer as a SQL literal both DuckDB and Spark parse."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    raise TypeError(f"cannot filter on a {type(value).__name__} value: {value!r}")


def progress(message: str) -> None:
    """One line on stderr, which dbt shows between its node lines: for the stages of a
    Python model that takes minutes."""
    print(f"receval: {message}", file=sys.stderr, flush=True)


ROW_IDS = ("event_id", "request_id", "user_id")


def require_finite(table: pa.Table, name: str) -> None:
    """Raise if a floating-point column of ``table`` holds NaN or +-inf (nulls are fine).

    Staging rejects non-finite numbers (reason ``non_finite_number``), so one that reaches a
    mart's input came from a model in between; the message names the input ``name``, the
    column, how many values, and the first offending row with its id.
    """
    for field in table.schema:
        if not pa.types.is_floating(field.type):
            continue
        values = table[field.name].to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(~np.isfinite(values) & ~table[field.name].is_null().to_numpy(zero_copy_only=False))
        if bad.size:
            first = int(bad[0])
            ids = ", ".join(f"{c}={table[c][first].as_py()}" for c in ROW_IDS if c in table.column_names)
            raise ValueError(f"{name}: column `{field.name}` holds {bad.size} non-finite value(s) (NaN or inf); "
                             f"the first at row {first}" + (f" ({ids})" if ids else ""))
