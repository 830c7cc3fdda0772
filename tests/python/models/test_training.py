"""receval.models.training (with registry): the train -> store -> register -> score path of
the candidate models on synthetic feature tables with a known truth."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from models.synthetic import catalog, synthetic_features
from receval.models.content import item_content_embeddings
from receval.models.registry import read_manifests, registry_table
from receval.models.training import score_candidates, train_candidate, train_candidates


FAST = {"xgboost": {"n_estimators": 60, "max_depth": 3},
        "mmoe": {"max_epochs": 3, "batch_size": 2048, "embedding_dim": 8},
        "popularity": {}}


def _train_all(table, content, store, mode="full"):
    candidates = [{"model_id": family, "family": family, "params": params} for family, params in FAST.items()]
    return train_candidates(table, content, candidates, store=store, mode=mode)


def test_train_register_score_is_deterministic(world_table, tmp_path):
    world, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    rows = _train_all(table, content, tmp_path / "a")
    assert sorted((r["model_id"], r["task"]) for r in rows) == sorted(
        (f, t) for f in FAST for t in ("click", "conversion"))
    registry = registry_table(tmp_path / "a", [(r["model_id"], r["version"]) for r in rows])
    assert registry.num_rows == 6 and all(registry["is_current"].to_pylist())
    test = table.filter(pa.compute.equal(table["split"], "test"))
    scores = score_candidates(registry, test, content)
    assert scores.num_rows == 6 * test.num_rows
    # The same data and parameters give the same version ids and the same scores.
    rows_again = _train_all(table, content, tmp_path / "b")
    assert [r["version"] for r in rows_again] == [r["version"] for r in rows]
    registry_b = registry_table(tmp_path / "b", [(r["model_id"], r["version"]) for r in rows_again])
    assert score_candidates(registry_b, test, content).equals(scores)
    # Personalised models beat popularity on click; the registry's validation AUC is the real one.
    auc = {r["model_id"]: r["validation_auc"] for r in rows if r["task"] == "click"}
    assert auc["xgboost"] > auc["popularity"] + 0.05 and auc["mmoe"] > auc["popularity"] + 0.02
    valid = table.filter(pa.compute.equal(table["split"], "validation"))
    valid_scores = score_candidates(registry, valid, content).filter(
        (pa.compute.field("model_id") == "xgboost") & (pa.compute.field("task") == "click"))
    ordered = valid.sort_by("event_id")
    assert roc_auc_score(ordered["is_clicked"].to_numpy(zero_copy_only=False),
                         valid_scores["raw_score"].to_numpy()) == pytest.approx(auc["xgboost"], abs=1e-12)


def test_a_version_the_store_holds_is_reused_not_trained_again(world_table, tmp_path, monkeypatch):
    """The same rows, parameters and code give the version already stored: its manifest's rows
    come back and no family trains; other rows give another version; retrain=True trains."""
    from receval.models import training
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    first = _train_all(table, content, tmp_path)
    calls = []
    for name, spec in list(training.FAMILIES.items()):
        def counted(*args, _train=spec.train, _name=name):
            calls.append(_name)
            return _train(*args)
        monkeypatch.setitem(training.FAMILIES, name, training.Family(spec.params, counted, spec.predict, spec.load))
    again = _train_all(table, content, tmp_path)
    assert calls == [] and again == first
    # One label flipped: a different version, trained.
    clicked = table["is_clicked"].to_numpy(zero_copy_only=False).copy()
    train_row = table["split"].to_pylist().index("train")
    clicked[train_row] = not clicked[train_row]
    flipped = table.set_column(table.column_names.index("is_clicked"), "is_clicked", pa.array(clicked))
    changed = train_candidate(flipped, content, model_id="popularity", family="popularity", store=tmp_path)
    assert calls == ["popularity"] and changed[0]["version"] != first[-1]["version"]
    retrained = train_candidate(table, content, model_id="popularity", family="popularity", store=tmp_path,
                                retrain=True)
    assert calls == ["popularity"] * 2 and retrained[0]["version"] == [
        r for r in first if r["model_id"] == "popularity"][0]["version"]


def test_warm_start_records_its_parent_and_trains_on_new_days(world_table, tmp_path):
    world, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    # Week 1: days 0..9 of the fixture; day 2 adds one more training day after it.
    first = _train_all(table, content, tmp_path)
    later = synthetic_features(world, 40_000, date(2026, 10, 2), 10, first_event=10**6)
    second = _train_all(later, content, tmp_path, mode="warm_start")
    by_model = {r["model_id"]: r for r in first}
    for row in second:
        parent = by_model[row["model_id"]]
        assert row["training_mode"] == "warm_start"
        assert row["parent_version"] == parent["version"]
        assert row["train_start"] > parent["train_end"]   # only the days since the parent's window
        assert row["feature_hash"] == parent["feature_hash"]
    manifests = read_manifests(tmp_path)
    assert len(manifests) == 12  # both versions of the three models, two tasks each


def test_auto_mode_warm_starts_daily_and_retrains_in_full_once_the_last_full_retrain_is_old(world_table, tmp_path):
    world, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    train = lambda rows, store, **kw: train_candidate(  # noqa: E731
        rows, content, model_id="p", family="popularity", store=store, mode="auto", **kw)[0]
    first = train(table, tmp_path / "a")
    assert first["training_mode"] == "full"                  # a fresh store: no parent
    days = [synthetic_features(world, 8_000, date(2026, 10, 1) + timedelta(days=d), 10, first_event=d * 10**6)
            for d in (1, 2)]
    second = train(days[0], tmp_path / "a")
    third = train(days[1], tmp_path / "a", full_retrain_days=2)
    assert (second["training_mode"], second["parent_version"]) == ("warm_start", first["version"])
    # the full retrain behind the parent (first) ended 2 days before this window: retrain
    assert (third["training_mode"], third["parent_version"]) == ("full", None)
    train(table, tmp_path / "b")
    assert train(days[0], tmp_path / "b", full_retrain_days=1)["training_mode"] == "full"


def test_warm_start_without_a_parent_trains_in_full(world_table, tmp_path):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    row = train_candidate(table, content, model_id="p", family="popularity", store=tmp_path, mode="warm_start")[0]
    assert row["training_mode"] == "full" and row["parent_version"] is None


def test_training_errors(world_table, tmp_path):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    with pytest.raises(ValueError, match="unknown model family"):
        train_candidate(table, content, model_id="x", family="lightgbm", store=tmp_path)
    no_validation = table.filter(pa.compute.equal(table["split"], "train"))
    with pytest.raises(ValueError, match="no rows in the 'validation' split"):
        train_candidate(no_validation, content, model_id="x", family="popularity", store=tmp_path)


def test_click_only_data_trains_the_click_task_and_registers_the_conversion_task_as_missing(world_table, tmp_path):
    """A log without purchases: every family trains click; conversion is registered, not
    trained, and never scored. XGBoost's click booster is the one full data trains."""
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    no_purchases = table.set_column(table.column_names.index("is_converted"), "is_converted",
                                    pa.array(np.zeros(table.num_rows, bool)))
    rows = {(r["model_id"], r["task"]): r for r in _train_all(no_purchases, content, tmp_path / "click_only")}
    for family in FAST:
        assert rows[(family, "click")]["status"] == "trained"
        conversion = rows[(family, "conversion")]
        assert conversion["status"] == "no_conversion_data"
        assert conversion["status_reason"] == f"conversion task of {family} not trained: no purchase label in the train split"
        assert conversion.get("calibration") is None and conversion.get("validation_auc") is None
    full = {(r["model_id"], r["task"]): r for r in _train_all(table, content, tmp_path / "full")}
    assert rows[("xgboost", "click")]["validation_auc"] == pytest.approx(full[("xgboost", "click")]["validation_auc"], abs=1e-12)

    versions = [(r["model_id"], r["version"]) for r in rows.values()]
    registry = registry_table(tmp_path / "click_only", versions)
    assert sorted(zip(registry["task"].to_pylist(), registry["status"].to_pylist())).count(("conversion", "no_conversion_data")) == 3
    test = table.filter(pa.compute.equal(table["split"], "test"))
    scores = score_candidates(registry, test, content)
    assert set(scores["task"].to_pylist()) == {"click"} and scores.num_rows == 3 * test.num_rows


def test_a_candidate_the_rows_cannot_train_is_registered_and_the_others_train(world_table, tmp_path):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    no_clicks = table.set_column(table.column_names.index("is_clicked"), "is_clicked",
                                 pa.array(np.zeros(table.num_rows, bool)))
    rows = _train_all(no_clicks, content, tmp_path)
    assert {(r["model_id"], r["task"], r["status"]) for r in rows} == {
        (f, t, "not_trained") for f in FAST for t in ("click", "conversion")}
    assert rows[0]["status_reason"] == "xgboost not trained: the train split's click labels are all 0"
    assert read_manifests(tmp_path) == []  # nothing stored
    no_validation = table.filter(pa.compute.equal(table["split"], "train"))
    [row, _] = train_candidates(no_validation, content, [{"model_id": "p", "family": "popularity"}], store=tmp_path)
    assert row["status"] == "not_trained" and "no rows in the 'validation' split" in row["status_reason"]
