"""receval.models.gbdt: XGBoost against the oracle AUC, and its round trip."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from sklearn.metrics import roc_auc_score

from receval.models.features import FeatureEncoder
from receval.models.gbdt import GBDTParams, TrainedGBDT, train_gbdt


def test_gbdt_approaches_the_oracle_and_round_trips(world_table, tmp_path):
    _, table = world_table
    train, valid, test = (table.filter(pa.compute.equal(table["split"], s)) for s in ("train", "validation", "test"))
    encoder = FeatureEncoder.fit(train)
    model = train_gbdt(encoder, encoder.transform(train), encoder.transform(valid),
                       GBDTParams(max_depth=3, n_estimators=400, early_stopping_rounds=10))
    scores = model.predict(encoder, encoder.transform(test))
    y = test["is_clicked"].to_numpy(zero_copy_only=False)
    oracle = roc_auc_score(y, test["p_click"].to_numpy())
    assert roc_auc_score(y, scores["click"]) > oracle - 0.02
    assert model.best_iteration["click"] < 399  # early stopping fired
    model.save(tmp_path)
    again = TrainedGBDT.load(tmp_path).predict(encoder, encoder.transform(test))
    assert np.array_equal(again["click"], scores["click"])
