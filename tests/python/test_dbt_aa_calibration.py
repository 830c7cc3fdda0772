"""Integration: fct_aa_calibration on the session's tiny build (seed 7).

The mart's rows for one metric are recomputed here from fct_experiment_user_metrics: the
same placebo splits (the vars' replicates and seed), statsmodels' Welch test on each, the
rejections counted and the spread of the placebo effects over the Welch standard errors.
"""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from receval.experiments.placebo import placebo_arms
from receval.experiments.registry import METRICS

pytestmark = pytest.mark.dbt
REPLICATES, RANDOM_STATE = 200, 0  # dbt_project.yml's experiment_aa_replicates / _random_state


@pytest.fixture(scope="module")
def calibration(tiny_warehouse):
    return tiny_warehouse.query("select * from main.fct_aa_calibration")


def test_every_experiment_metric_has_its_estimators(calibration, tiny_warehouse):
    registry = tiny_warehouse.query("select * from main_seeds.experiment_registry where entry = 'metric'")
    users = tiny_warehouse.query("select experiment_id, count(*) as n from main.fct_experiment_user_metrics group by 1")
    expected = {(r.experiment_id, r.name, e) for r in registry.itertuples() for e in ("raw", "cuped")} | {
        (r.experiment_id, r.name, "cuped_delay_corrected") for r in registry.itertuples()
        if METRICS[r.name].corrected_column}
    assert set(zip(calibration.experiment_id, calibration.metric, calibration.estimator)) == expected
    n = calibration.merge(users, on="experiment_id")
    assert (n["n_users"] == n["n"]).all()
    assert (calibration["n_replicates"] == REPLICATES).all() and (calibration["random_state"] == RANDOM_STATE).all()


@pytest.mark.parametrize("experiment", ["exp_aa", "exp_ranker"])
def test_false_positive_rate_and_spread_equal_a_recomputation(calibration, tiny_warehouse, experiment):
    users = tiny_warehouse.query(
        f"select user_id, sessions from main.fct_experiment_user_metrics where experiment_id = '{experiment}'")
    row = calibration[(calibration.experiment_id == experiment) & (calibration.metric == "sessions_per_user")
                      & (calibration.estimator == "raw")].iloc[0]
    arms = placebo_arms(users["user_id"].to_numpy(), REPLICATES, RANDOM_STATE)
    y = users["sessions"].to_numpy(float)
    effects, ses, rejected = [], [], 0
    for r in range(REPLICATES):
        cm = CompareMeans(DescrStatsW(y[arms[:, r]]), DescrStatsW(y[~arms[:, r]]))
        _, p, _ = cm.ttest_ind(usevar="unequal")
        effects.append(y[arms[:, r]].mean() - y[~arms[:, r]].mean())
        ses.append(cm.std_meandiff_separatevar)
        rejected += p < row["alpha"]
    assert row["n_false_positives"] == rejected
    assert row["false_positive_rate"] == rejected / REPLICATES
    spread = np.std(effects, ddof=1) / np.sqrt(np.mean(np.square(ses)))
    assert row["spread_ratio"] == pytest.approx(spread, rel=1e-9)
    assert row["mean_placebo_effect"] == pytest.approx(np.mean(effects), abs=1e-9 * np.std(effects))
    se = np.sqrt(row["alpha"] * (1 - row["alpha"]) / REPLICATES)
    assert row["status"] == ("miscalibrated" if rejected / REPLICATES > row["alpha"] + 2 * se else "ok")


def test_the_warn_test_lists_the_miscalibrated_rows(calibration, tiny_warehouse):
    result = tiny_warehouse.dbt("test", "--select", "fct_aa_calibration")
    flagged = calibration[calibration.false_positive_rate > calibration.false_positive_rate_upper_limit]
    assert (calibration.status == "miscalibrated").sum() == len(flagged)
    if len(flagged):
        assert f"WARN {len(flagged)} aa_false_positive_rate_within_binomial_error" in result.stdout
    else:
        assert "PASS aa_false_positive_rate_within_binomial_error" in result.stdout
