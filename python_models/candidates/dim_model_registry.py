"""dim_model_registry: one row per model x version x task in the model store.

Thin: the store's manifests (receval.models.registry), with is_current marking the versions
this build trained (int_candidates__training_runs).
"""
from receval.models.registry import registry_table
from receval.preparation import model_versions
from receval.warehouse import read


def model(dbt, session):
    dbt.config(materialized="table")
    runs = read(dbt.ref("int_candidates__training_runs"), session, model_versions)
    current = list(zip(runs["model_id"].to_pylist(), runs["version"].to_pylist()))
    return registry_table(dbt.config.get("store_path"), current)
