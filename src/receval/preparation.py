"""What each dbt Python model reads of its inputs, as ibis expressions: the rows and
columns it needs, selected inside the engine that holds them (DuckDB here, Spark on a
cluster) before the package's numeric core receives Arrow (receval.warehouse.read).

Each function takes its input relation as an ibis table and returns an ibis table;
`make test-spark` runs every one through DuckDB and through Spark on the tiny world and
compares both with the SQL it stands for (tests/python/test_spark_build.py).
"""
from __future__ import annotations

from typing import Iterable

import ibis

#: the splits the candidates train on (the rest are scored only)
TRAINING_SPLITS = ("train", "validation")
#: the modulus and multiplier of the requests' training buckets (training_rows): a prime, and a
#: multiplier that spreads consecutive request ids over it
_BUCKETS, _SPREAD = 1_000_003, 7_919
#: what the arrival correction reads of a click (receval.delayed.corrections)
ARRIVAL_COLUMNS = ("event_id", "click_date", "user_id", "device", "item_category", "user_tenure",
                   "is_converted", "delay_hours", "elapsed_hours")


def split_rows(features: ibis.Table, splits: Iterable[str] = TRAINING_SPLITS) -> ibis.Table:
    """The impressions of the named splits (int_features__impressions): the candidates'
    training rows, or the rows they score."""
    return features.filter(features.split.isin(list(splits)))


def training_rows(features: ibis.Table, max_train_rows: int | None = None) -> ibis.Table:
    """The candidates' training rows: the validation split whole and, where the train split
    holds more than ``max_train_rows`` impressions (None or 0: no cap), its impressions of a
    fixed pseudo-random subset of requests, about that many: what training holds in memory is
    bounded whatever the window's traffic. A request's bucket is its id times a constant
    modulo a prime, in integer arithmetic every engine computes alike, so a rebuild keeps the
    same requests."""
    rows = split_rows(features)
    if not max_train_rows:
        return rows
    n_train = features.filter(features.split == "train").count()
    bucket = (rows.request_id.abs() % _BUCKETS) * _SPREAD % _BUCKETS
    return rows.filter((rows.split != "train") | (bucket < _BUCKETS * max_train_rows / ibis.greatest(n_train, 1)))


def catalog_items(items: ibis.Table) -> ibis.Table:
    """What the content embeddings read of each catalog item (int_core__items)."""
    return items.select("item_id", "category", "brand", "title", "price")


def model_versions(runs: ibis.Table) -> ibis.Table:
    """The model versions this build trained (int_candidates__training_runs)."""
    return runs.select("model_id", "version")


def click_scores(scores: ibis.Table) -> ibis.Table:
    """The candidates' calibrated click scores of the logged candidate sets
    (int_cf__candidate_scores)."""
    return scores.filter(scores.task == "click").select("model_id", "request_id", "item_id", "calibrated_score")


def shown_items(propensities: ibis.Table) -> ibis.Table:
    """The (request, item) pairs the logging policy showed (int_propensities)."""
    return propensities.select("request_id", "item_id")


def arrival_clicks(clicks: ibis.Table) -> ibis.Table:
    """What the purchase-arrival correction reads of each clicked impression
    (int_delayed__clicks)."""
    return clicks.select(*ARRIVAL_COLUMNS)


def served_scores(served: ibis.Table, segments: Iterable[str]) -> ibis.Table:
    """The served scores by day, model and segment (int_monitoring__served_impressions)."""
    return served.select("impression_date", "model_id", "score", *segments)
