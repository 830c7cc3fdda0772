"""The XGBoost baseline: one gradient-boosted tree model per task.

Trees take the dense features as the SQL computed them (missing values stay ``nan``, which
XGBoost routes by learned default directions) and the low-cardinality categoricals as native
categorical splits. ``user_id`` and ``item_id`` are left out: a tree cannot generalise over
tens of thousands of arbitrary codes, and their leak-free target encodings
(``user_id_te_ctr``, ``item_id_te_ctr``, ``item_id_te_cvr``) carry their signal instead.

Tasks match the MMoE's outputs so both are evaluated on the same target:
``click`` is P(click | impression); ``conversion`` is P(purchase | impression), trained on
all impressions whose conversion label is mature.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import xgboost as xgb

from receval.models.features import FeatureEncoder, FeatureMatrix

__all__ = ["GBDTParams", "TrainedGBDT", "train_gbdt", "TASKS"]

TASKS = ("click", "conversion")
# High-cardinality ids enter through their target encodings only.
_EXCLUDED_CATEGORICAL = frozenset({"user_id", "item_id"})


@dataclass(frozen=True)
class GBDTParams:
    """Hyperparameters of the XGBoost baseline (validated on construction)."""

    max_depth: int = 6
    learning_rate: float = 0.1
    n_estimators: int = 300
    early_stopping_rounds: int = 20
    min_child_weight: float = 1.0
    subsample: float = 1.0
    colsample_bytree: float = 1.0
    reg_lambda: float = 1.0
    max_bin: int = 256
    seed: int = 0
    threads: int = 2
    # Share of the unclicked training rows fitted, each weighted by its inverse, keeping at
    # least negative_sample_min of them (receval.models.sampling; read by
    # receval.models.training). 1 fits every row.
    negative_sample_rate: float = 1.0
    negative_sample_min: int = 200_000

    def __post_init__(self):
        for name in ("max_depth", "n_estimators", "early_stopping_rounds", "max_bin", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"GBDTParams.{name} must be >= 1, got {getattr(self, name)}")
        if self.negative_sample_min < 0:
            raise ValueError(f"GBDTParams.negative_sample_min must be >= 0, got {self.negative_sample_min}")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"GBDTParams.learning_rate must be in (0, 1], got {self.learning_rate}")
        for name in ("subsample", "colsample_bytree", "negative_sample_rate"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"GBDTParams.{name} must be in (0, 1], got {getattr(self, name)}")

    def booster_params(self) -> dict:
        return {
            "objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
            "max_depth": self.max_depth, "eta": self.learning_rate,
            "min_child_weight": self.min_child_weight, "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree, "lambda": self.reg_lambda,
            "max_bin": self.max_bin, "seed": self.seed, "nthread": self.threads,
        }


@dataclass
class TrainedGBDT:
    """One booster per task over the columns ``feature_names``."""

    boosters: dict[str, xgb.Booster]
    feature_names: list[str]
    feature_types: list[str]
    params: GBDTParams
    best_iteration: dict[str, int] = field(default_factory=dict)

    def predict(self, encoder: FeatureEncoder, matrix: FeatureMatrix) -> dict[str, np.ndarray]:
        """P(click) and P(purchase) per row of ``matrix`` (encoded by ``encoder``)."""
        data = _dmatrix(encoder, matrix, self.feature_names, self.feature_types)
        return {task: booster.predict(data, iteration_range=(0, self.best_iteration[task] + 1)).astype(np.float64)
                for task, booster in self.boosters.items()}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for task, booster in self.boosters.items():
            booster.save_model(directory / f"xgboost_{task}.json")
        (directory / "gbdt.json").write_text(json.dumps({
            "feature_names": self.feature_names, "feature_types": self.feature_types,
            "params": asdict(self.params), "best_iteration": self.best_iteration,
        }, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "TrainedGBDT":
        directory = Path(directory)
        spec = json.loads((directory / "gbdt.json").read_text())
        boosters = {}
        for task in spec["best_iteration"]:
            boosters[task] = xgb.Booster()
            boosters[task].load_model(directory / f"xgboost_{task}.json")
        return cls(boosters, spec["feature_names"], spec["feature_types"], GBDTParams(**spec["params"]),
                   spec["best_iteration"])


def train_gbdt(encoder: FeatureEncoder, train: FeatureMatrix, valid: FeatureMatrix,
               params: GBDTParams = GBDTParams(), init_from: TrainedGBDT | None = None,
               tasks: tuple[str, ...] | list[str] = TASKS) -> TrainedGBDT:
    """Train a booster per task (click and conversion by default; click only for data
    without purchases) with early stopping on the validation log-loss.

    ``init_from`` warm-starts each task from a previous version's booster: new trees are
    added to the old ones (its feature list must match).
    """
    names, types = _columns(encoder)
    if init_from is not None and init_from.feature_names != names:
        raise ValueError("warm start needs the same feature list as the previous version: "
                         f"{init_from.feature_names} != {names}")
    boosters, best = {}, {}
    for task in tasks:
        dtrain = _dmatrix(encoder, train, names, types, _label(train, task), _weight(train, task))
        dvalid = _dmatrix(encoder, valid, names, types, _label(valid, task), _weight(valid, task))
        booster = xgb.train(
            params.booster_params(), dtrain, num_boost_round=params.n_estimators,
            evals=[(dvalid, "validation")], early_stopping_rounds=params.early_stopping_rounds,
            xgb_model=init_from.boosters[task] if init_from is not None else None, verbose_eval=False,
        )
        boosters[task], best[task] = booster, int(booster.best_iteration)
    return TrainedGBDT(boosters, names, types, params, best)


def _columns(encoder: FeatureEncoder) -> tuple[list[str], list[str]]:
    categorical = [c for c in encoder.categorical if c not in _EXCLUDED_CATEGORICAL]
    return [*categorical, *encoder.dense], ["c"] * len(categorical) + ["q"] * len(encoder.dense)


def _dmatrix(encoder, matrix, names, types, label=None, weight=None) -> xgb.DMatrix:
    n_categorical = types.count("c")
    index = [encoder.categorical.index(c) for c in names[:n_categorical]]
    # Code 0 (unseen) becomes missing, so it follows the learned default direction.
    codes = matrix.categorical[:, index].astype(np.float32)
    codes[codes == 0] = np.nan
    data = np.hstack([codes - 1, matrix.raw_dense])
    return xgb.DMatrix(data, label=label, weight=weight, feature_names=names, feature_types=types,
                       enable_categorical=True, nthread=-1)


def _weight(matrix: FeatureMatrix, task: str) -> np.ndarray | None:
    """The rows' weights in ``task``'s loss: the sample weight, times the conversion weight
    (0 for an immature label) for the conversion task; None where every row counts once."""
    weights = [w for w in (matrix.sample_weight, matrix.conversion_weight if task == "conversion" else None)
               if w is not None]
    return np.prod(weights, axis=0) if weights else None


def _label(matrix: FeatureMatrix, task: str) -> np.ndarray:
    label = matrix.click if task == "click" else matrix.conversion
    if label is None:
        raise ValueError(f"training rows carry no {task} label")
    return label
