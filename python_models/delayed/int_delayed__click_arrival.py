"""int_delayed__click_arrival: one row per clicked impression, the probability that its
purchase (if it comes) has arrived by the data's end.

Thin: the clicked impressions in, one package call (receval.delayed.corrections), Arrow out.
Read by int_experiments__user_metrics for the inverse-arrival corrected purchases and revenue.
"""
from receval.delayed.corrections import click_arrival_table
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return click_arrival_table(
        to_arrow(dbt.ref("int_delayed__clicks").select("event_id, click_date, user_id, device, item_category, "
                                                       "user_tenure, is_converted, delay_hours, elapsed_hours")),
        window_hours=float(dbt.config.get("window_hours")),
        alpha=float(dbt.config.get("alpha")),
    )
