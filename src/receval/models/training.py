"""Train, register and score the candidate models: what the dbt Python models call.

``train_candidate`` fits one model family on the train split of ``int_features__impressions``
(early stopping and calibration on the validation split), stores the artifact and returns
its registry rows; ``score_candidates`` scores rows (the test split) with every current
version in the registry. Rows are put in ``event_id`` order first: the engine returns them in
no particular order, and training must be deterministic.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from receval.metrics import log_loss, roc_auc
from receval.models.calibration import Calibrator, fit_calibrator
from receval.models.delayed_feedback import AuxiliaryNotIdentified, EsdfmAuxiliary, check_conversion_labels
from receval.models.features import FeatureEncoder, FeatureMatrix, feature_hash, join_content
from receval.models.gbdt import TASKS, GBDTParams, TrainedGBDT, train_gbdt
from receval.models.mmoe import MMoEParams, TrainedMMoE, train_mmoe
from receval.models.popularity import PopularityModel, fit_popularity
from receval.models.registry import previous_version, read_manifests, version_id, write_manifest
from receval.warehouse import progress
from receval.models.sampling import negative_sample

__all__ = ["FAMILIES", "InsufficientData", "attach_content", "train_candidate", "train_candidates",
           "score_candidates", "SCORES_SCHEMA"]

SCORES_SCHEMA = pa.schema([
    ("model_id", pa.string()), ("version", pa.string()), ("task", pa.string()),
    ("event_id", pa.int64()), ("request_id", pa.int64()), ("item_id", pa.int64()),
    ("raw_score", pa.float64()), ("calibrated_score", pa.float64()),
])


class InsufficientData(ValueError):
    """The rows cannot train a candidate (an empty split, clicks of one class only): a fact
    about the data, recorded in the registry, not a failure of the build."""


@dataclass(frozen=True)
class Family:
    """How one model family trains, predicts and persists (a uniform face for the registry)."""

    params: type
    train: Callable      # (params, encoder, train_matrix, valid_matrix, train_table, init_from, tasks) -> model
    predict: Callable    # (model, encoder, matrix, table) -> {task: scores}
    load: Callable       # (directory) -> model


@dataclass(frozen=True)
class PopularityParams:
    smoothing: float = 20.0


FAMILIES = {
    "xgboost": Family(
        GBDTParams,
        lambda p, enc, tr, va, table, init, tasks: train_gbdt(enc, tr, va, p, init_from=init, tasks=tasks),
        lambda model, enc, matrix, table: model.predict(enc, matrix),
        TrainedGBDT.load,
    ),
    "mmoe": Family(
        MMoEParams,
        lambda p, enc, tr, va, table, init, tasks: train_mmoe(
            tr, va, enc.cardinalities, p, init_from=init, with_conversion="conversion" in tasks),
        lambda model, enc, matrix, table: model.predict(matrix),
        TrainedMMoE.load,
    ),
    "popularity": Family(
        PopularityParams,
        # Popularity is a statistic of the window: a warm start simply refits it.
        lambda p, enc, tr, va, table, init, tasks: fit_popularity(
            table["item_id"].to_numpy(), tr.click, tr.conversion, tr.conversion_weight, p.smoothing),
        lambda model, enc, matrix, table: model.predict(table["item_id"].to_numpy()),
        PopularityModel.load,
    ),
}


def attach_content(features: pa.Table, content: pa.Table) -> pa.Table:
    """``features`` in event_id order with the item content embedding columns appended
    (zeros for an item missing from the catalog)."""
    return join_content(features.sort_by("event_id"), content)


def train_candidates(features: pa.Table, content: pa.Table, candidates: list[dict], **options) -> list[dict]:
    """Train several candidates on the same rows (content joined once): ``candidates`` holds
    ``model_id``, ``family`` and optional ``params``; ``options`` are the keyword arguments of
    :func:`train_candidate`. Returns every candidate's registry rows; a candidate the rows
    cannot train (:class:`InsufficientData`) gets rows with status ``not_trained`` and the
    reason, and the others train as usual."""
    table = attach_content(features, content)
    rows = []
    for c in candidates:
        try:
            rows += _train(table, model_id=c["model_id"], family=c["family"], params=c.get("params"), **options)
        except InsufficientData as error:
            rows += [{"model_id": c["model_id"], "family": c["family"], "task": task, "status": "not_trained",
                      "status_reason": f"{c['model_id']} not trained: {error}"} for task in TASKS]
    return rows


# The conversion loss of the MMoE under each conversion-label method (the ESMM structure in all).
_MMOE_CONVERSION_LOSS = {"observed": "esmm", "mature_only": "esmm", "fnw": "esmm_fnw", "esdfm": "esmm_esdfm"}
# Columns of int_features__impressions that the esdfm labels read beyond the feature contract.
ESDFM_COLUMNS = ("is_label_mature", "hours_click_to_purchase", "label_elapsed_hours")


def train_candidate(features: pa.Table, content: pa.Table, *, model_id: str, family: str, store: Path,
                    params: dict | None = None, mode: str = "full", calibration_method: str = "platt",
                    conversion_labels: str = "observed", esdfm_window_hours: float = 1.0,
                    label_window_hours: float = 7 * 24 + 0.5, retrain: bool = False,
                    full_retrain_days: int = 7) -> list[dict]:
    """Train one candidate, store it under ``store/<model_id>/<version>/``, return its registry rows.

    Parameters
    ----------
    features : pyarrow.Table
        Rows of ``int_features__impressions``; the ``train`` split is fitted, the
        ``validation`` split early-stops and calibrates.
    content : pyarrow.Table
        ``item_id`` and ``item_content_*`` (int_features__item_content).
    model_id, family : str
        Registry name and one of :data:`FAMILIES`.
    params : dict, optional
        Overrides of the family's parameter dataclass.
    mode : {"full", "warm_start", "auto"}
        ``warm_start`` starts from the latest earlier version in the store and trains only
        on the days after that version's window, with its feature encoder; with no earlier
        version it trains in full (and says so in ``training_mode``). ``auto`` warm-starts
        unless the last full retrain behind that version ended ``full_retrain_days`` or more
        before this window does, and then retrains in full: daily warm starts, a full
        retrain every week by default.
    conversion_labels : {"observed", "mature_only", "fnw", "esdfm"}
        How the conversion task treats labels that may still change
        (:mod:`receval.models.delayed_feedback`, docs/candidate_models.md): ``observed``
        (default) counts every label as observed at the data's end as final;
        ``mature_only`` trains and validates on mature labels only (the newest week of a
        window then carries no conversion signal); ``fnw`` (fake-negative weighting) and
        ``esdfm`` (elapsed-time sampling with importance weights) are losses of the MMoE:
        the other families train on the labels as observed under them. ``esdfm`` fits its
        auxiliary model on the whole train split, reads the columns :data:`ESDFM_COLUMNS`,
        calibrates the MMoE's conversion score on its importance-weighted validation
        samples, and a train split without mature labels cannot train the MMoE
        (:class:`InsufficientData`).
    esdfm_window_hours : float
        ES-DFM's observation window :math:`c` (hours after the impression).
    label_window_hours : float
        Hours after its impression by which a conversion label is final: attribution window
        plus click window (dbt vars ``attribution_window_days``, ``click_window_minutes``);
        the window of ES-DFM's delay curve.
    retrain : bool
        Train even where the store already holds this version. A version id hashes the
        encoded training and validation rows and the training code with everything else
        that determines the model, so by default a version already in the store is not
        trained again: its manifest's rows are returned (a rebuild of unchanged data costs
        the encoding, not the training).
    full_retrain_days : int
        See ``mode="auto"``.

    A family whose parameters carry ``negative_sample_rate`` below 1 (XGBoost, the MMoE)
    fits every clicked training row and that share of the others (at least
    ``negative_sample_min`` of them), weighted by its inverse (:mod:`receval.models.sampling`);
    validation, calibration and the registry's row counts use every row.
    """
    return _train(attach_content(features, content), model_id=model_id, family=family, store=store,
                  params=params, mode=mode, calibration_method=calibration_method,
                  conversion_labels=conversion_labels, esdfm_window_hours=esdfm_window_hours,
                  label_window_hours=label_window_hours, retrain=retrain, full_retrain_days=full_retrain_days)


def _train(table: pa.Table, *, model_id: str, family: str, store: Path, params: dict | None = None,
           mode: str = "full", calibration_method: str = "platt", conversion_labels: str = "observed",
           esdfm_window_hours: float = 1.0, label_window_hours: float = 7 * 24 + 0.5,
           retrain: bool = False, full_retrain_days: int = 7) -> list[dict]:
    """:func:`train_candidate` on rows that already carry the content columns."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; expected one of {sorted(FAMILIES)}")
    if mode not in ("full", "warm_start", "auto"):
        raise ValueError(f"training mode must be 'full', 'warm_start' or 'auto', got {mode!r}")
    check_conversion_labels(conversion_labels)
    spec = FAMILIES[family]
    hyper = spec.params(**(params or {}))
    esdfm = family == "mmoe" and conversion_labels == "esdfm"
    if family == "mmoe":
        hyper = _mmoe_conversion_loss(hyper, conversion_labels, params)
    elif conversion_labels in ("fnw", "esdfm"):
        progress(f"{model_id}: conversion_labels {conversion_labels!r} is a loss of the MMoE; {family} trains "
                  "its conversion task on the labels as observed")
    if esdfm:
        missing = [c for c in ESDFM_COLUMNS if c not in table.column_names]
        if missing:
            raise ValueError(f"conversion_labels 'esdfm' needs the columns {missing} of int_features__impressions")
    train_rows = _split(table, "train")
    valid_rows = _split(table, "validation")
    train_end = _date_bound(train_rows, "max")
    whole_train = train_rows  # the esdfm auxiliary model fits on the whole train split, even for a warm start

    parent = _parent(store, model_id, train_end, mode, full_retrain_days)
    if parent is not None:
        parent_dir = Path(parent["artifact_path"])
        encoder = FeatureEncoder.from_json((parent_dir / "encoder.json").read_text())
        init_from = spec.load(parent_dir)
        train_rows = train_rows.filter(pc.greater(train_rows["impression_date"],
                                                  pa.scalar(date.fromisoformat(str(parent["train_end"])))))
        if not train_rows.num_rows:
            raise ValueError(f"warm start of {model_id}: no training rows after the parent's window "
                             f"(train_end {parent['train_end']})")
    else:
        encoder = FeatureEncoder.fit(train_rows)
        init_from = None
    mature_only = conversion_labels == "mature_only"
    fit_rows, sample_weight, sample_rate = _negative_sample(train_rows, hyper)
    train_matrix = _encode(encoder, fit_rows, mature_only)
    train_matrix.sample_weight = sample_weight
    valid_matrix = _encode(encoder, valid_rows, mature_only)
    untrainable = {task: why for task in TASKS if (why := _untrainable(task, train_matrix, valid_matrix))}
    if "click" in untrainable:
        raise InsufficientData(untrainable["click"][1])
    tasks = [task for task in TASKS if task not in untrainable]
    if esdfm and "conversion" in tasks:
        aux_matrix = train_matrix if whole_train is fit_rows else encoder.transform(whole_train)
        try:
            aux = EsdfmAuxiliary.fit(aux_matrix.dense, *_esdfm_columns(whole_train), window_hours=esdfm_window_hours,
                                     label_window_hours=label_window_hours)
        except AuxiliaryNotIdentified as error:
            raise InsufficientData(str(error)) from None
        for matrix, rows in ((train_matrix, fit_rows), (valid_matrix, valid_rows)):
            matrix.conversion_targets = aux.targets(matrix.dense, *_esdfm_columns(rows)[:3])
        progress(f"{model_id}: esdfm auxiliary model on {aux.n_mature:,} mature rows, F(c = "
                  f"{esdfm_window_hours:g} h) = {aux.arrival_at_window:.3f} from {aux.curve.n:,} purchases")
    elif esdfm:
        hyper = replace(hyper, conversion_loss="esmm")  # no conversion task to weight

    identity = {"model_id": model_id, "family": family, "params": asdict(hyper), "features": encoder.columns,
                "train": [str(_date_bound(train_rows, "min")), str(train_end)],
                "parent": parent["version"] if parent else None, "calibration": calibration_method,
                "conversion_labels": conversion_labels,
                "data": _fingerprint(encoder, train_matrix, valid_matrix, fit_rows, valid_rows),
                "code": _CODE_DIGEST}
    if esdfm:
        identity["esdfm"] = {"window_hours": float(esdfm_window_hours), "label_window_hours": float(label_window_hours)}
    if untrainable:
        identity["tasks"] = tasks
    version = version_id(train_end, identity)
    directory = Path(store) / model_id / version
    if (directory / "manifest.json").exists() and not retrain:
        progress(f"{model_id} {version}: in the model store, not trained again")
        return json.loads((directory / "manifest.json").read_text())

    started = time.perf_counter()
    how = f"warm start from {parent['version']}" if parent else "full"
    sampled = f" (every click, {sample_rate:.3g} of the rest: {train_rows.num_rows:,} in all)" if sample_rate < 1 else ""
    progress(f"{model_id} {version}: training ({how}) on {fit_rows.num_rows:,} rows{sampled}, "
              f"validating on {valid_rows.num_rows:,}")
    model = spec.train(hyper, encoder, train_matrix, valid_matrix, fit_rows, init_from, tasks)
    valid_scores = spec.predict(model, encoder, valid_matrix, valid_rows)
    progress(f"{model_id} {version}: trained in {time.perf_counter() - started:.0f} s")
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory)
    (directory / "encoder.json").write_text(encoder.to_json())

    rows = []
    for task in TASKS:
        common = {"model_id": model_id, "version": version, "task": task, "family": family,
                  "training_mode": "warm_start" if parent else "full",
                  "parent_version": parent["version"] if parent else None,
                  "train_start": str(_date_bound(train_rows, "min")), "train_end": str(train_end),
                  "validation_start": str(_date_bound(valid_rows, "min")),
                  "validation_end": str(_date_bound(valid_rows, "max")),
                  "n_train_rows": train_rows.num_rows, "n_validation_rows": valid_rows.num_rows,
                  "feature_list": json.dumps(encoder.columns), "feature_hash": feature_hash(encoder.columns),
                  "params": json.dumps(asdict(hyper), sort_keys=True), "calibration_method": calibration_method,
                  "artifact_path": str(directory)}
        if task in untrainable:
            status, reason = untrainable[task]
            rows.append({**common, "status": status, "status_reason": f"{task} task of {model_id} not trained: {reason}"})
            continue
        labels, weights = _task_labels(valid_matrix, task)
        calibrator = _fit_calibrator(valid_scores[task], valid_matrix, task, calibration_method)
        calibrated = calibrator.apply(valid_scores[task])
        keep = weights > 0
        rows.append({
            **common, "status": "trained", "status_reason": None,
            "best_iteration": _best_iteration(model, task),
            "calibration": json.dumps(calibrator.to_dict()),
            "validation_auc": roc_auc(labels[keep], valid_scores[task][keep], n_bootstrap=0).value,
            "validation_log_loss": log_loss(labels[keep], valid_scores[task][keep]).value,
            "validation_log_loss_calibrated": log_loss(labels[keep], calibrated[keep]).value,
            "validation_label_rate": float(labels[keep].mean()),
            "validation_mean_calibrated": float(calibrated[keep].mean()),
        })
    write_manifest(directory, rows)
    return rows


def score_candidates(registry: pa.Table, features: pa.Table, content: pa.Table) -> pa.Table:
    """Score every row of ``features`` with every current (model_id, version) of ``registry``:
    one output row per model x task x row, raw and calibrated."""
    table = attach_content(features, content)
    current = [r for r in registry.filter(registry["is_current"]).to_pylist() if r["status"] == "trained"]
    versions = sorted({(r["model_id"], r["version"], r["family"], r["artifact_path"]) for r in current})
    trained = {(r["model_id"], r["version"], r["task"]) for r in current}
    calibrators = {(r["model_id"], r["version"], r["task"]): Calibrator.from_dict(json.loads(r["calibration"]))
                   for r in current}
    parts = []
    for model_id, version, family, path in versions:
        spec = FAMILIES[family]
        encoder = FeatureEncoder.from_json((Path(path) / "encoder.json").read_text())
        scores = spec.predict(spec.load(Path(path)), encoder, encoder.transform(table), table)
        for task in (t for t in TASKS if (model_id, version, t) in trained):
            n = table.num_rows
            parts.append(pa.table({
                "model_id": pa.array([model_id] * n, pa.string()), "version": pa.array([version] * n, pa.string()),
                "task": pa.array([task] * n, pa.string()), "event_id": table["event_id"],
                "request_id": table["request_id"], "item_id": table["item_id"],
                "raw_score": pa.array(scores[task], pa.float64()),
                "calibrated_score": pa.array(calibrators[(model_id, version, task)].apply(scores[task]), pa.float64()),
            }, schema=SCORES_SCHEMA))
    return pa.concat_tables(parts) if parts else SCORES_SCHEMA.empty_table()


def _mmoe_conversion_loss(hyper: MMoEParams, conversion_labels: str, params: dict | None) -> MMoEParams:
    """The MMoE's parameters with the conversion loss of ``conversion_labels``."""
    loss = _MMOE_CONVERSION_LOSS[conversion_labels]
    if params and "conversion_loss" in params and params["conversion_loss"] != loss:
        raise ValueError(f"the MMoE's conversion_loss follows conversion_labels ({conversion_labels!r} -> "
                         f"{loss!r}; var model_conversion_labels), not its params ({params['conversion_loss']!r})")
    return replace(hyper, conversion_loss=loss)


def _esdfm_columns(rows: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """converted, hours_click_to_purchase (nan where none), label_elapsed_hours, is_label_mature."""
    def column(name: str, fill) -> np.ndarray:
        return pc.fill_null(pc.cast(rows[name], pa.float64()), fill).to_numpy(zero_copy_only=False)

    return (column("is_converted", 0.0), column("hours_click_to_purchase", np.nan),
            column("label_elapsed_hours", np.nan), column("is_label_mature", 0.0) > 0)


def _fit_calibrator(scores: np.ndarray, matrix: FeatureMatrix, task: str, method: str) -> Calibrator:
    """The task's calibration map on the validation rows: on ES-DFM's importance-weighted
    samples (each row a positive and a negative with its weights) where the matrix carries
    them, else on the labels with their weights."""
    targets = matrix.conversion_targets if task == "conversion" else None
    if targets is None:
        labels, weights = _task_labels(matrix, task)
        return fit_calibrator(scores, labels, method, weights)
    n = len(scores)
    return fit_calibrator(np.concatenate([scores, scores]), np.concatenate([np.ones(n), np.zeros(n)]), method,
                          np.concatenate([targets.positive, targets.negative]).astype(np.float64))


def _parent(store: Path, model_id: str, train_end: date, mode: str, full_retrain_days: int) -> dict | None:
    """The version a warm start continues (a registry row), or None for a full retrain."""
    parent = previous_version(store, model_id, before=train_end) if mode != "full" else None
    if parent is None or mode == "warm_start":
        return parent
    versions = {row["version"]: row for row in read_manifests(store, model_id)}
    full = parent
    while full["training_mode"] == "warm_start" and full["parent_version"] in versions:
        full = versions[full["parent_version"]]
    return parent if (train_end - date.fromisoformat(str(full["train_end"]))).days < full_retrain_days else None


def _split(table: pa.Table, split: str) -> pa.Table:
    rows = table.filter(pc.equal(table["split"], split))
    if not rows.num_rows:
        raise InsufficientData(f"int_features__impressions has no rows in the {split!r} split; "
                         "check the split vars (split_train_days / split_validation_days)")
    return rows


def _code_digest() -> str:
    """A digest of the training code (this package's model modules): a version trained by
    other code is not reused."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


_CODE_DIGEST = _code_digest()


def _fingerprint(encoder: FeatureEncoder, train: FeatureMatrix, valid: FeatureMatrix,
                 train_rows: pa.Table, valid_rows: pa.Table) -> str:
    """A digest of everything a model sees: the encoder's vocabularies, every encoded array
    and the item ids (popularity counts by item)."""
    digest = hashlib.blake2b(encoder.to_json().encode(), digest_size=16)
    for matrix, rows in ((train, train_rows), (valid, valid_rows)):
        for array in (matrix.categorical, matrix.raw_dense, matrix.click, matrix.conversion,
                      matrix.conversion_weight, matrix.sample_weight, rows["item_id"].to_numpy()):
            digest.update(b"-" if array is None else np.ascontiguousarray(array).tobytes())
        if matrix.conversion_targets is not None:
            for array in (matrix.conversion_targets.positive, matrix.conversion_targets.negative,
                          matrix.conversion_targets.count):
                digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _negative_sample(rows: pa.Table, hyper) -> tuple[pa.Table, np.ndarray | None, float]:
    """The rows a model fits on, their sample weights (None: every row, once) and the rate
    applied, from the family's ``negative_sample_rate`` and ``negative_sample_min`` (none:
    every row)."""
    rate = getattr(hyper, "negative_sample_rate", 1.0)
    if rate >= 1:
        return rows, None, 1.0
    clicked = pc.fill_null(pc.cast(rows["is_clicked"], pa.int8()), 0).to_numpy(zero_copy_only=False)
    keep, weight, rate = negative_sample(rows["event_id"].to_numpy(), clicked, rate, hyper.negative_sample_min)
    return (rows, None, 1.0) if rate >= 1 else (rows.filter(pa.array(keep)), weight, rate)


def _date_bound(table: pa.Table, how: str) -> date:
    return getattr(pc, how)(table["impression_date"]).as_py()


def _encode(encoder: FeatureEncoder, table: pa.Table, conversion_mature_only: bool) -> FeatureMatrix:
    matrix = encoder.transform(table)
    if not conversion_mature_only:
        matrix.conversion_weight = np.ones(len(matrix), np.float32)
    return matrix


def _untrainable(task: str, train: FeatureMatrix, valid: FeatureMatrix) -> tuple[str, str] | None:
    """(status, reason) where ``task``'s labels cannot fit or calibrate a model: no purchase
    at all (click-only data), or one class only in a split; None where they can."""
    for split, matrix in (("train", train), ("validation", valid)):
        labels, weights = _task_labels(matrix, task)
        counted = labels[weights > 0]
        if task == "conversion" and not counted.any():
            return "no_conversion_data", f"no purchase label in the {split} split"
        if counted.min(initial=1) == counted.max(initial=0):
            return "one_class", f"the {split} split's {task} labels are all {int(counted.max(initial=0))}"
    return None


def _task_labels(matrix: FeatureMatrix, task: str) -> tuple[np.ndarray, np.ndarray]:
    if task == "click":
        return matrix.click, np.ones(len(matrix), np.float32)
    return matrix.conversion, matrix.conversion_weight


def _best_iteration(model, task: str) -> int | None:
    if isinstance(model, TrainedGBDT):
        return model.best_iteration[task]
    return getattr(model, "best_epoch", None)
