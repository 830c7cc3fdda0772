"""int_features__item_content: one row per catalog item, its content embedding.

Thin: dim_items in, one package call (receval.models.content), Arrow out.
"""
from receval.models.content import item_content_embeddings
from receval.preparation import catalog_items
from receval.warehouse import read


def model(dbt, session):
    dbt.config(materialized="table")
    items = read(dbt.ref("int_core__items"), session, catalog_items)
    return item_content_embeddings(items, n_components=int(dbt.config.get("dimensions")),
                                   seed=int(dbt.config.get("seed")))
