"""int_candidates__training_runs: one row per candidate model x task trained by this build.

Thin: point-in-time features (train + validation splits) and item content embeddings in,
one package call (receval.models.training.train_candidates: each configured candidate), the
registry rows out. Artifacts go to the model store (var model_store_path).
"""
from receval.models.registry import rows_table
from receval.models.training import train_candidates
from receval.preparation import training_rows
from receval.warehouse import read, to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    cap = int(dbt.config.get("max_train_rows"))  # 0: no cap
    # train (at most about `cap` impressions, whole requests) + validation
    features = read(dbt.ref("int_features__impressions"), session, lambda rows: training_rows(rows, cap))
    content = to_arrow(dbt.ref("int_features__item_content"))
    rows = train_candidates(
        features, content, dbt.config.get("candidates"), store=dbt.config.get("store_path"),
        mode=dbt.config.get("training_mode"), calibration_method=dbt.config.get("calibration_method"),
        conversion_labels=dbt.config.get("conversion_labels"),
        esdfm_window_hours=float(dbt.config.get("esdfm_window_hours")),
        label_window_hours=float(dbt.config.get("label_window_hours")),
        retrain=bool(dbt.config.get("retrain")), full_retrain_days=int(dbt.config.get("full_retrain_days")),
    )
    # a candidate the rows cannot train (status not_trained) has no version
    return rows_table(rows, current=[(r["model_id"], r["version"]) for r in rows if r.get("version")])
