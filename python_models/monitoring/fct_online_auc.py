"""One row per serving model x label x grain (day, or hour of the last day) x segment: the
online AUC, log-loss and calibration ratio of the served score against the mature labels,
with cluster-robust intervals, against the reference window
(receval.monitoring.online.online_auc_table)."""
from receval.monitoring.online import online_auc_table
from receval.warehouse import ColumnReader, to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    segments = dbt.config.get("segments")  # a call of its own: dbt only ships the keys it sees
    read_rows = int(dbt.config.get("read_rows"))  # 0: every day at once
    return online_auc_table(
        ColumnReader(dbt.ref("int_monitoring__served_impressions"), session),
        to_arrow(dbt.ref("int_monitoring__reference_windows")),
        segments=list(segments or []),
        alpha=float(dbt.config.get("alpha")),
        auc_drop=float(dbt.config.get("auc_drop")),
        calibration_tolerance=float(dbt.config.get("calibration_tolerance")),
        min_class_count=int(dbt.config.get("min_class_count")),
        read_rows=read_rows or None,
    )
