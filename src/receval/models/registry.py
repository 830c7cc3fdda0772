"""The artifact store behind ``dim_model_registry``.

Every trained model version lives in its own folder, ``<store>/<model_id>/<version>/``, with
its weights, the feature encoder (``encoder.json``) and ``manifest.json``: one registry row
per task (training window, feature list and hash, parameters, calibration, validation
metrics, parent version). The store is the system of record -- like an MLflow backend
store -- so the registry mart lists every version ever trained there, not only this
build's, and a warm start finds its parent in it.

A version id is ``<train_end as YYYYMMDD>-<hash>``, the hash over everything that
determines the model (family, parameters, features, training window, parent, and a digest
of the encoded rows): retraining on the same data gives the same id and the same bytes, so
``dbt build`` stays idempotent, and a version already in the store need not be trained
again (:func:`receval.models.training.train_candidate`'s ``retrain``).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pyarrow as pa

__all__ = ["REGISTRY_SCHEMA", "version_id", "write_manifest", "read_manifests", "previous_version",
           "registry_table", "rows_table"]

REGISTRY_SCHEMA = pa.schema([
    ("model_id", pa.string()), ("version", pa.string()), ("task", pa.string()),
    ("family", pa.string()), ("training_mode", pa.string()), ("parent_version", pa.string()),
    ("train_start", pa.date32()), ("train_end", pa.date32()),
    ("validation_start", pa.date32()), ("validation_end", pa.date32()),
    ("n_train_rows", pa.int64()), ("n_validation_rows", pa.int64()),
    ("feature_list", pa.string()), ("feature_hash", pa.string()), ("params", pa.string()),
    ("best_iteration", pa.int64()), ("calibration_method", pa.string()), ("calibration", pa.string()),
    ("validation_auc", pa.float64()), ("validation_log_loss", pa.float64()),
    ("validation_log_loss_calibrated", pa.float64()), ("validation_label_rate", pa.float64()),
    ("validation_mean_calibrated", pa.float64()), ("artifact_path", pa.string()),
    ("status", pa.string()), ("status_reason", pa.string()), ("is_current", pa.bool_()),
])


def version_id(train_end: date, identity: dict) -> str:
    """Deterministic version id of a model trained up to ``train_end``."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{train_end:%Y%m%d}-{digest}"


def write_manifest(directory: Path, rows: list[dict]) -> None:
    """Write a version's registry rows (one per task) beside its artifact."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps(rows, indent=2, sort_keys=True, default=str))


def read_manifests(store: Path, model_id: str | None = None) -> list[dict]:
    """Every registry row in the store (optionally of one model), oldest version first."""
    pattern = f"{model_id}/*/manifest.json" if model_id else "*/*/manifest.json"
    rows = [row for path in sorted(Path(store).glob(pattern)) for row in json.loads(path.read_text())]
    return sorted(rows, key=lambda r: (r["model_id"], r["train_end"], r["version"], r["task"]))


def previous_version(store: Path, model_id: str, before: date) -> dict | None:
    """The latest version of ``model_id`` trained on data ending before ``before`` (the parent
    of a warm start), or None."""
    earlier = [r for r in read_manifests(store, model_id) if date.fromisoformat(str(r["train_end"])) < before]
    return earlier[-1] if earlier else None


def registry_table(store: Path, current: list[tuple[str, str]]) -> pa.Table:
    """Every version in the store; ``is_current`` marks the (model_id, version) pairs of this build."""
    return rows_table(read_manifests(store), current)


def rows_table(rows: list[dict], current: list[tuple[str, str]]) -> pa.Table:
    """Registry rows (as written in manifests) as a table of :data:`REGISTRY_SCHEMA`."""
    current = set(current)
    typed = []
    for row in rows:
        row = {name: row.get(name) for name in REGISTRY_SCHEMA.names}
        for name in ("train_start", "train_end", "validation_start", "validation_end"):
            row[name] = date.fromisoformat(str(row[name])) if row[name] is not None else None
        row["status"] = row["status"] or "trained"  # manifests written before statuses existed
        # null for a candidate not trained at all (no version)
        row["is_current"] = (row["model_id"], row["version"]) in current if row["version"] is not None else None
        typed.append(row)
    return pa.Table.from_pylist(typed, schema=REGISTRY_SCHEMA)
