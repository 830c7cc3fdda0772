"""Rankers a server calls: the MMoE on pre-encoded rows, and any stored model behind one face.

:class:`MMoERanker` runs the network directly under ``torch.inference_mode`` with a fixed
thread count -- :meth:`TrainedMMoE.predict` re-validates its input and toggles torch's
global settings per call, which costs more than scoring a request's 1000 rows. The scores
are the same: pCTR = sigmoid(click logit), in float64.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from receval.models.features import FeatureEncoder, FeatureMatrix
from receval.models.gbdt import TrainedGBDT
from receval.models.mmoe import TrainedMMoE
from receval.models.popularity import PopularityModel
from receval.models.registry import read_manifests
from receval.models.training import FAMILIES

__all__ = ["MMoERanker", "StoredRanker", "latest_version", "load_popularity"]


class MMoERanker:
    """Click scores of a :class:`TrainedMMoE` for encoded rows.

    Parameters
    ----------
    model : TrainedMMoE
    threads : int, default 2
        Torch intra-op threads, set once for the process (a server owns its cores).
    model_id : str, default "mmoe"
        Logged with its scores when it runs as a shadow challenger.
    """

    def __init__(self, model: TrainedMMoE, threads: int = 2, model_id: str = "mmoe"):
        self.model = model
        self.model_id = model_id
        self.network = model.network.eval()
        torch.set_num_threads(threads)

    def score(self, matrix: FeatureMatrix, item_ids: np.ndarray | None = None) -> np.ndarray:
        """pCTR per row (float64); ``item_ids`` is unused (the shadow interface passes it)."""
        with torch.inference_mode():
            a, _ = self.network(torch.from_numpy(matrix.categorical), torch.from_numpy(matrix.dense))
        return torch.sigmoid(a.double()).numpy()


@dataclass
class StoredRanker:
    """A model of any family in the store, scoring click like ``score_candidates`` does."""

    model_id: str
    version: str
    family: str
    encoder: FeatureEncoder
    model: object

    @classmethod
    def load(cls, store: Path, model_id: str, version: str | None = None, threads: int = 1) -> "StoredRanker":
        """Load ``model_id`` (its newest version unless ``version``); an XGBoost model predicts
        with ``threads`` threads (a challenger must not take the champion's cores)."""
        rows = read_manifests(store, model_id)
        row = latest_version(store, model_id) if version is None else \
            next((r for r in rows if r["version"] == version), None)
        if row is None:
            raise FileNotFoundError(f"version {version!r} of {model_id!r} is not in the model store {store}")
        path = Path(store) / model_id / row["version"]
        encoder = FeatureEncoder.from_json((path / "encoder.json").read_text())
        model = FAMILIES[row["family"]].load(path)
        if isinstance(model, TrainedGBDT):
            for booster in model.boosters.values():
                booster.set_param({"nthread": threads})
        return cls(model_id, row["version"], row["family"], encoder, model)

    def score(self, matrix: FeatureMatrix, item_ids: np.ndarray) -> np.ndarray:
        """pCTR per row of ``matrix`` (encoded with :attr:`encoder`)."""
        table = pa.table({"item_id": pa.array(np.asarray(item_ids, np.int64))})
        return FAMILIES[self.family].predict(self.model, self.encoder, matrix, table)["click"]


def latest_version(store: Path, model_id: str) -> dict:
    """The newest registry row (by training end, then version) of ``model_id`` in the store."""
    rows = read_manifests(store, model_id)
    if not rows:
        raise FileNotFoundError(f"no version of {model_id!r} in the model store {store}")
    return rows[-1]


def load_popularity(store: Path, model_id: str = "popularity") -> PopularityModel:
    """The newest stored popularity model (the fallback ranking)."""
    row = latest_version(store, model_id)
    if row["family"] != "popularity":
        raise ValueError(f"{model_id!r} is a {row['family']} model, not popularity")
    return PopularityModel.load(Path(store) / model_id / row["version"])
