"""int_delayed__click_arrival: one row per clicked impression, the probability that its
purchase (if it comes) has arrived by the data's end.

Thin: the clicked impressions in, one package call (receval.delayed.corrections), Arrow out.
Read by int_experiments__user_metrics for the inverse-arrival corrected purchases and revenue.
"""
from receval.delayed.corrections import click_arrival_table
from receval.preparation import arrival_clicks
from receval.warehouse import read


def model(dbt, session):
    dbt.config(materialized="table")
    return click_arrival_table(
        read(dbt.ref("int_delayed__clicks"), session, arrival_clicks),
        window_hours=float(dbt.config.get("window_hours")),
        alpha=float(dbt.config.get("alpha")),
    )
