"""int_features__item_content: one row per catalog item, its content embedding.

Thin: dim_items in, one package call (receval.models.content), Arrow out.
"""
from receval.models.content import item_content_embeddings
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    items = dbt.ref("int_core__items").select("item_id", "category", "brand", "title", "price")
    return item_content_embeddings(to_arrow(items), n_components=int(dbt.config.get("dimensions")),
                                   seed=int(dbt.config.get("seed")))
