"""The raw log contract: what lands in the landing zone, entity by entity.

This module is the single source of truth for the landing-zone schema. The simulator
writes exactly these columns and types; the dbt sources and the README describe the same.
Partitioning is by *arrival* (the hour Kafka Connect wrote the file), not by event time:
``<raw_path>/<entity>/date=YYYY-MM-DD/hour=HH/*.parquet``. All timestamps are UTC and stored
without a zone (``timestamp[us]``). Ids are 64-bit integers.
"""
from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us")

ENTITY_SCHEMAS: dict[str, pa.Schema] = {
    "requests": pa.schema([
        ("event_id", pa.int64()),
        ("request_id", pa.int64()),
        ("user_id", pa.int64()),
        ("ts", TS),
        ("surface", pa.string()),          # home / search / pdp
        ("device", pa.string()),           # ios / android / web
        ("model_id", pa.string()),         # the policy that served the list
        ("latency_ms", pa.float64()),
        ("status", pa.string()),           # ok / fallback / error
        ("experiment_id", pa.string()),    # null when the user is in no experiment
        ("variant", pa.string()),
    ]),
    "impressions": pa.schema([
        ("event_id", pa.int64()),
        ("request_id", pa.int64()),
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("position", pa.int32()),          # 1-based
        ("ts", TS),
        ("model_id", pa.string()),
        ("score", pa.float64()),           # as served
        ("propensity", pa.float64()),      # P(logging policy puts this item at this position); null = unknown
        ("team", pa.string()),             # 'A' / 'B' for interleaved requests, else null
    ]),
    "clicks": pa.schema([
        ("event_id", pa.int64()),
        ("request_id", pa.int64()),
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("ts", TS),
    ]),
    "conversions": pa.schema([
        ("event_id", pa.int64()),
        ("order_id", pa.int64()),
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("ts", TS),
        ("revenue", pa.float64()),
        ("currency", pa.string()),
    ]),
    "assignments": pa.schema([
        ("event_id", pa.int64()),
        ("experiment_id", pa.string()),
        ("variant", pa.string()),
        ("user_id", pa.int64()),
        ("ts", TS),
    ]),
    "served_features": pa.schema([          # long format: one row per feature value served
        ("event_id", pa.int64()),
        ("request_id", pa.int64()),
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("ts", TS),
        ("feature_name", pa.string()),
        ("feature_value", pa.float64()),
    ]),
    "shadow_scores": pa.schema([
        ("event_id", pa.int64()),
        ("request_id", pa.int64()),
        ("item_id", pa.int64()),
        ("model_id", pa.string()),         # the challenger
        ("score", pa.float64()),
        ("latency_ms", pa.float64()),
        ("ts", TS),
    ]),
    "candidates": pa.schema([               # the retrieval stage's candidate set of a logged request
        ("event_id", pa.int64()),
        ("request_id", pa.int64()),
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("retrieval_rank", pa.int32()),    # 1-based rank in the candidate set
        ("retrieval_score", pa.float64()),
        ("ts", TS),                        # the request's time
    ]),
    "items": pa.schema([                    # dimension change events; latest ts per item_id wins
        ("event_id", pa.int64()),
        ("item_id", pa.int64()),
        ("ts", TS),
        ("category", pa.string()),
        ("price", pa.float64()),
        ("created_at", TS),
        ("brand", pa.string()),
        ("title", pa.string()),
    ]),
    "users": pa.schema([
        ("event_id", pa.int64()),
        ("user_id", pa.int64()),
        ("ts", TS),
        ("signup_at", TS),
        ("country", pa.string()),
        ("device", pa.string()),
    ]),
}

ENTITIES = tuple(ENTITY_SCHEMAS)

# The entities every landing zone must hold; any other may be absent or empty (the marts
# that need it are then empty, and the build says which).
REQUIRED_ENTITIES: tuple[str, ...] = ("impressions", "clicks")

# Keys that may never be null, per entity (a null here is rejected as `null_key`).
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "requests": ("event_id", "request_id", "user_id", "ts"),
    "impressions": ("event_id", "request_id", "user_id", "item_id", "position", "ts"),
    "clicks": ("event_id", "request_id", "user_id", "item_id", "ts"),
    "conversions": ("event_id", "order_id", "user_id", "item_id", "ts", "revenue"),
    "assignments": ("event_id", "experiment_id", "variant", "user_id", "ts"),
    "served_features": ("event_id", "request_id", "user_id", "ts", "feature_name"),
    "shadow_scores": ("event_id", "request_id", "item_id", "model_id", "ts"),
    "candidates": ("event_id", "request_id", "user_id", "item_id", "ts"),
    "items": ("event_id", "item_id", "ts"),
    "users": ("event_id", "user_id", "ts"),
}

# Reason codes of the rejected-events model, checked in this order (first match wins).
REJECT_REASONS: tuple[str, ...] = (
    "schema_mismatch",     # the row's file does not carry the contract's columns and types
    "null_key",            # a KEY_COLUMNS value is null
    "future_timestamp",    # ts later than the end of its arrival hour + clock-skew tolerance
    "non_finite_number",   # a DOUBLE column holds NaN or +-infinity
    "invalid_propensity",  # impressions: propensity not null and outside (0, 1]
    "invalid_position",    # impressions: position < 1
    "negative_revenue",    # conversions: revenue < 0
    "unknown_user",        # user_id not in the users dimension
    "unknown_item",        # item_id not in the items dimension
)

# Future-timestamp rule: an event cannot be stamped later than it arrived, beyond this skew.
CLOCK_SKEW_TOLERANCE_MINUTES = 60
