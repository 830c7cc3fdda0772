"""The one bridge between dbt Python models and the package: engine relations to Arrow.

dbt Python models stay thin (``dbt.ref`` -> one package call -> a table back). What
``dbt.ref`` returns depends on the engine: a DuckDB relation here, a Spark DataFrame on
Spark. The package only ever sees Arrow tables and numpy arrays.
"""
from __future__ import annotations

import pyarrow as pa


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
