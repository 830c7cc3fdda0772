"""receval.models.training (with registry): the train -> store -> register -> score path of
the candidate models on synthetic feature tables with a known truth."""
from __future__ import annotations

import json
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


# --- conversion labels under delayed feedback (docs/candidate_models.md) ---------------------

LABEL_WINDOW_H = 72.0   # the fixture's mature rows are at least 3 days old


def _with_delays(table: pa.Table, seed: int = 0) -> pa.Table:
    """The fixture as a snapshot at the end of its last day: each purchase comes a delay
    (exponential, mean 24 h, within the label window) after the impression, and is labelled
    only if it has arrived; adds hours_click_to_purchase and label_elapsed_hours."""
    rng = np.random.default_rng(seed)
    n = table.num_rows
    day = np.array([(d - date(2026, 10, 1)).days for d in table["impression_date"].to_pylist()])
    elapsed = (10 - day) * 24.0 - rng.uniform(0.0, 24.0, n)
    delay = rng.exponential(24.0, n)
    converts = table["is_converted"].to_numpy(zero_copy_only=False) & (delay <= LABEL_WINDOW_H)
    seen = converts & (delay <= elapsed)
    columns = {"is_converted": pa.array(seen), "hours_click_to_purchase": pa.array(np.where(seen, delay, np.nan),
                                                                                  from_pandas=True),
               "label_elapsed_hours": pa.array(elapsed), "is_label_mature": pa.array(elapsed >= LABEL_WINDOW_H)}
    for name, values in columns.items():
        table = (table.set_column(table.column_names.index(name), name, values) if name in table.column_names
                 else table.append_column(name, values))
    return table


def test_conversion_labels_default_to_observed_and_each_method_is_its_own_version(world_table, tmp_path):
    _, table = world_table
    table = _with_delays(table)
    content = item_content_embeddings(catalog(), n_components=4)
    train = lambda labels=None, **kw: {r["task"]: r for r in train_candidate(  # noqa: E731
        table, content, model_id="m", family="mmoe", store=tmp_path, params=FAST["mmoe"],
        label_window_hours=LABEL_WINDOW_H, **({} if labels is None else {"conversion_labels": labels}), **kw)}
    default, observed = train(), train("observed")
    assert default == observed   # the same version, stored once: the default is `observed`
    runs = {labels: train(labels) for labels in ("fnw", "esdfm")}
    versions = {default["conversion"]["version"]} | {r["conversion"]["version"] for r in runs.values()}
    assert len(versions) == 3
    assert json.loads(default["conversion"]["params"])["conversion_loss"] == "esmm"
    assert json.loads(runs["fnw"]["conversion"]["params"])["conversion_loss"] == "esmm_fnw"
    assert json.loads(runs["esdfm"]["conversion"]["params"])["conversion_loss"] == "esmm_esdfm"
    # ES-DFM calibrates on its importance-weighted validation samples: its calibrated mean
    # aims at the eventual rate, above the immature validation day's observed rate
    valid_rate = default["conversion"]["validation_label_rate"]
    assert default["conversion"]["validation_mean_calibrated"] == pytest.approx(valid_rate, rel=0.05)
    assert runs["esdfm"]["conversion"]["validation_mean_calibrated"] > 1.1 * valid_rate
    for run in runs.values():
        assert run["conversion"]["status"] == "trained" and run["click"]["status"] == "trained"


def test_fnw_and_esdfm_leave_the_other_families_on_the_observed_labels(world_table, tmp_path):
    _, table = world_table
    table = _with_delays(table)
    content = item_content_embeddings(catalog(), n_components=4)
    rows = {labels: train_candidate(table, content, model_id="p", family="popularity", store=tmp_path,
                                    conversion_labels=labels, label_window_hours=LABEL_WINDOW_H)[1]
            for labels in ("observed", "fnw", "esdfm")}
    for labels in ("fnw", "esdfm"):
        assert rows[labels]["calibration"] == rows["observed"]["calibration"]
        assert rows[labels]["version"] != rows["observed"]["version"]


def test_conversion_label_errors(world_table, tmp_path):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    with pytest.raises(ValueError, match=r"conversion_labels must be one of \('observed', 'mature_only', 'fnw', "
                                         r"'esdfm'\), got 'delayed'"):
        train_candidate(table, content, model_id="p", family="popularity", store=tmp_path, conversion_labels="delayed")
    with pytest.raises(ValueError, match=r"needs the columns \['hours_click_to_purchase', 'label_elapsed_hours'\]"):
        train_candidate(table, content, model_id="m", family="mmoe", store=tmp_path, conversion_labels="esdfm")
    with pytest.raises(ValueError, match="the MMoE's conversion_loss follows conversion_labels"):
        train_candidate(table, content, model_id="m", family="mmoe", store=tmp_path, conversion_labels="fnw",
                        params={"conversion_loss": "esmm"})
    # no mature row: ES-DFM's auxiliary model cannot be fitted, the MMoE is registered untrained
    young = _with_delays(table).set_column(table.column_names.index("is_label_mature"), "is_label_mature",
                                           pa.array(np.zeros(table.num_rows, bool)))
    [row, _] = train_candidates(young, content, [{"model_id": "m", "family": "mmoe", "params": FAST["mmoe"]}],
                                store=tmp_path, conversion_labels="esdfm", label_window_hours=LABEL_WINDOW_H)
    assert row["status"] == "not_trained"
    assert row["status_reason"] == ("m not trained: esdfm needs mature conversion labels in the train split to fit "
                                    "its auxiliary model; none is mature")
