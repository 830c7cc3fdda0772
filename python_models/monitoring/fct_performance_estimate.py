"""One row per serving model x day x segment: the label-free (CBPE) estimate of the served
score's AUC, log-loss and click rate next to the realised figures
(receval.monitoring.estimates.performance_estimate_table)."""
from receval.monitoring.estimates import performance_estimate_table
from receval.warehouse import ColumnReader, to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    segments = dbt.config.get("segments")  # a call of its own: dbt only ships the keys it sees
    read_rows = int(dbt.config.get("read_rows"))  # 0: every day at once
    return performance_estimate_table(
        ColumnReader(dbt.ref("int_monitoring__served_impressions"), session),
        to_arrow(dbt.ref("int_monitoring__reference_windows")),
        segments=list(segments or []),
        calibration=dbt.config.get("calibration"),
        max_position=int(dbt.config.get("max_position")),
        logit_bin_width=float(dbt.config.get("logit_bin_width")),
        alpha=float(dbt.config.get("alpha")),
        read_rows=read_rows or None,
    )
