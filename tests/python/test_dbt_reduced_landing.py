"""Integration: the whole project builds on landing zones that hold only part of the contract.

Only impressions and clicks are required. A landing zone with impressions (propensities, no
served score) and clicks, and one with conversions added, each build with `dbt build`
exiting 0; the families that lack their inputs are empty and named in the build log, and
the estimates that need only what is there equal those of the full tiny world.
"""
from __future__ import annotations

import pandas as pd
import pytest

from dbt_runner import TINY_VARS, Warehouse
from landing_zones import reduced_landing_zone
from receval.monitoring.online import ONLINE_AUC_SCHEMA

pytestmark = pytest.mark.dbt

LOGGED_POLICY_ESTIMATES = """
    select policy_id, estimator, reward, estimate, std_error, n_requests
    from main.fct_policy_value_estimates
    where day = 'all' and segment = 'all' and estimator in ('ips', 'snips')
      and policy_id in ('uniform_random', 'prod_v1') and reward = 'click'
    order by all
"""


def build(tiny_world, tmp_path_factory, name, entities, drop_columns=None):
    out = tmp_path_factory.mktemp(name)
    raw = reduced_landing_zone(tiny_world, out, entities, drop_columns)
    warehouse = Warehouse(out / "warehouse", raw, TINY_VARS)
    return warehouse, warehouse.dbt("build").stdout


@pytest.fixture(scope="module")
def minimal(tiny_world, tmp_path_factory):
    """Impressions with propensities and no served score, and clicks: nothing else."""
    return build(tiny_world, tmp_path_factory, "minimal", {"impressions", "clicks"}, {"impressions": ["score"]})


@pytest.fixture(scope="module")
def with_conversions(tiny_world, tmp_path_factory):
    """Impressions, clicks and conversions."""
    return build(tiny_world, tmp_path_factory, "with_conversions", {"impressions", "clicks", "conversions"})


def rows(warehouse, table, where="true"):
    return int(warehouse.query(f"select count(*) as n from main.{table} where {where}").n.iloc[0])


def notices(log: str) -> list[str]:
    return [line.split("receval: ", 1)[1] for line in log.splitlines() if "receval: " in line]


def test_minimal_landing_zone_names_every_family_it_cannot_feed(minimal):
    _, log = minimal
    said = notices(log)
    expected = {
        "experiments": "the landing zone has no assignments files",
        "purchase labels and conversion metrics": "the landing zone has no conversions files",
        "delayed conversion feedback": "the landing zone has no conversions files",
        "served-score offline metrics": "no row populates impressions.score",
        "shadow comparison": "the landing zone has no shadow_scores files",
        "training/serving skew": "the landing zone has no served_features files",
        "item content and freshness": "the landing zone has no items files",
        "user attributes": "the landing zone has no users files",
    }
    for family, reason in expected.items():
        assert any(line.startswith(family + " empty or partial") and reason in line for line in said), (family, said)
    # what the zone does hold is not reported
    assert not any(line.startswith(("interleaving", "off-policy estimates")) for line in said), said


def test_minimal_landing_zone_builds_labels_ope_and_diagnostics(minimal, tiny_world):
    warehouse, _ = minimal
    truth = pd.read_parquet(tiny_world / "truth" / "impressions.parquet")
    labels = warehouse.query("select event_id, is_clicked, is_converted from main.fct_impression_labels")
    merged = truth.merge(labels, on="event_id", validate="one_to_one")
    assert len(merged) == len(truth) == len(labels)
    assert (merged["clicked"] == merged["is_clicked"]).all()
    assert not merged["is_converted"].any()  # no conversions landed
    assert rows(warehouse, "fct_propensity_diagnostics") > 0
    assert rows(warehouse, "fct_policy_value_estimates", "estimator in ('ips', 'snips') and reward = 'click'") > 0
    # purchases are unobserved, not zero: no purchase or revenue value is estimated
    assert rows(warehouse, "fct_policy_value_estimates", "reward in ('purchase', 'revenue')") == 0
    # derived dimensions: one row per id of the impressions, attributes unknown
    assert rows(warehouse, "dim_users") == truth["user_id"].nunique() == rows(warehouse, "dim_users", "is_derived")
    assert rows(warehouse, "dim_items", "category is null and is_derived") == rows(warehouse, "dim_items") > 0
    for empty in ("fct_experiment_exposures", "fct_experiment_results", "fct_srm_checks", "fct_shadow_comparison",
                  "fct_feature_skew", "fct_conversion_delay", "fct_cvr_by_day", "fct_delayed_feedback_backtest"):
        assert rows(warehouse, empty) == 0, empty
    # no served score: the production model has no served-score rows to evaluate
    assert rows(warehouse, "fct_offline_metrics", "model_id = 'prod_v1'") == 0


def test_minimal_landing_zone_monitors_its_features_only(minimal):
    """No served score, served features or requests: the score and serving marts are empty
    (their data tests passed in the build), the warehouse's features are monitored."""
    warehouse, _ = minimal
    for empty in ("fct_online_auc", "fct_prediction_drift", "fct_performance_estimate", "fct_serving_health",
                  "int_monitoring__served_feature_values", "fct_aa_calibration"):
        assert rows(warehouse, empty) == 0, empty
    columns = warehouse.query("select column_name from (describe main.fct_online_auc)").column_name
    assert list(columns) == ONLINE_AUC_SCHEMA.names
    sources = warehouse.query("select distinct source, segment from main.fct_feature_drift order by all")
    assert set(sources.source) == {"warehouse"} and set(sources.segment) == {"all", "unknown"}
    assert rows(warehouse, "rpt_alerts", "alert_type not in ('feature_drift')") == 0


def test_logged_policy_estimates_do_not_depend_on_missing_entities(minimal, tiny_warehouse):
    warehouse, _ = minimal
    reduced = warehouse.query(LOGGED_POLICY_ESTIMATES)
    full = tiny_warehouse.query(LOGGED_POLICY_ESTIMATES)
    assert len(reduced) == 4  # uniform_random and the logging policy, IPS and SNIPS
    pd.testing.assert_frame_equal(reduced, full, check_exact=False, rtol=1e-12)


def test_landing_zone_with_conversions_gives_the_full_worlds_labels(with_conversions, tiny_warehouse):
    warehouse, log = with_conversions
    query = ("select event_id, is_clicked, is_converted, revenue, is_label_mature "
             "from main.fct_impression_labels order by event_id")
    pd.testing.assert_frame_equal(warehouse.query(query), tiny_warehouse.query(query))
    said = notices(log)
    assert not any(line.startswith("purchase labels") for line in said), said
    assert rows(warehouse, "fct_policy_value_estimates", "reward = 'purchase' and estimator = 'ips'") > 0
    assert any(line.startswith("experiments empty or partial") for line in said), said
    # the served score is there: the production model is evaluated on both tasks (the tiny
    # world's conversion cells are null for immature labels, with that reason)
    assert rows(warehouse, "fct_offline_metrics", "model_id = 'prod_v1' and task = 'click' and value is not null") > 0
    assert rows(warehouse, "fct_offline_metrics", "model_id = 'prod_v1' and task = 'conversion'") > 0
