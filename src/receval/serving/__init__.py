"""Online serving: HNSW retrieval, snapshot feature assembly, MMoE ranking with a
popularity fallback, shadow scoring, and the serving benchmark (docs/serving.md)."""
from receval.serving.encoding import ColumnEncoder
from receval.serving.ranker import MMoERanker, StoredRanker, latest_version, load_popularity
from receval.serving.retrieval import Factors, HNSWIndex, content_to_factors, fit_factors, recall_at_k
from receval.serving.scorer import STAGES, Request, Response, TwoStageScorer
from receval.serving.shadow import ShadowJob, ShadowRecord, ShadowWorker
from receval.serving.snapshot import SCORING_POSITION, Snapshot, load_snapshot_tables

__all__ = [
    "ColumnEncoder", "MMoERanker", "StoredRanker", "latest_version", "load_popularity", "Factors", "HNSWIndex",
    "content_to_factors", "fit_factors", "recall_at_k", "STAGES", "Request", "Response", "TwoStageScorer",
    "ShadowJob", "ShadowRecord", "ShadowWorker", "SCORING_POSITION", "Snapshot", "load_snapshot_tables",
]
