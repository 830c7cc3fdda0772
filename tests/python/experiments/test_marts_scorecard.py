"""receval.experiments.marts.experiment_scorecard: which test decides - the always-valid
mSPRT while the experiment runs (before first exposure + the registry's planned_days), the
fixed-horizon CUPED test once its planned end is reached, always-valid when no planned
duration is registered."""
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from receval.experiments import DECISIONS, DecisionRule, difference_in_means
from receval.experiments.marts import _RESULTS_SCHEMA, experiment_scorecard
from receval.experiments.registry import read_registry

SEED_CSV = Path(__file__).parents[3] / "seeds" / "experiment_registry.csv"
START = date(2026, 9, 15)


def _registry(planned_days=28, column=True) -> pa.Table:
    """exp_ranker's variants and primary metric (ctr) from the seed, planned_days replaced."""
    rows = [r for r in pacsv.read_csv(SEED_CSV).to_pylist()
            if r["experiment_id"] == "exp_ranker" and (r["entry"] == "variant" or r["role"] == "primary")]
    for r in rows:
        if column:
            r["planned_days"] = planned_days if r["role"] == "primary" else None
        else:
            r.pop("planned_days")
    return pa.Table.from_pylist(rows)


def _results(cuped_p=0.01, msprt_p=0.30, effect=0.01) -> pa.Table:
    """One fct_experiment_results row for exp_ranker's ctr: the fixed-horizon (CUPED) and the
    always-valid (mSPRT) tests disagree when cuped_p < 0.05 <= msprt_p."""
    row = dict(
        experiment_id="exp_ranker", variant="treatment", control_variant="control", metric="ctr",
        metric_type="ratio", role="primary", higher_is_better=True, alpha=0.05, n_control=1000,
        n_treatment=1010, control_mean=0.10, treatment_mean=0.10 + effect, effect=effect,
        relative_effect=effect / 0.10, std_error=0.006, ci_low=effect - 0.012, ci_high=effect + 0.012,
        relative_std_error=0.06, relative_ci_low=-0.02, relative_ci_high=0.22, p_value=0.09, df=float("inf"),
        method="delta_ratio", cuped_control_mean=0.10, cuped_treatment_mean=0.10 + effect, cuped_effect=effect,
        cuped_relative_effect=effect / 0.10, cuped_std_error=0.004, cuped_ci_low=effect - 0.008,
        cuped_ci_high=effect + 0.008, cuped_relative_std_error=0.04, cuped_relative_ci_low=0.02,
        cuped_relative_ci_high=0.18, cuped_p_value=cuped_p, cuped_df=float("inf"),
        msprt_p_value=msprt_p, msprt_cs_low=effect - 0.02, msprt_cs_high=effect + 0.02, msprt_n_looks=14,
    )
    return pa.Table.from_pylist([row], schema=_RESULTS_SCHEMA)


EMPTY_SRM = pa.table({"experiment_id": pa.array([], pa.string())})
EMPTY_GUARDRAILS = pa.table({"experiment_id": pa.array([], pa.string())})
EXPOSURES = pa.table({"experiment_id": ["exp_ranker", "exp_ranker", "exp_aa"],
                      "first_exposure_date": pa.array([date(2026, 9, 16), START, date(2026, 9, 1)])})


def _card(results, registry, as_of) -> dict:
    data_end = pa.table({"as_of": pa.array([as_of], pa.timestamp("us"))})
    (row,) = experiment_scorecard(results, EMPTY_SRM, EMPTY_GUARDRAILS, registry, EXPOSURES, data_end).to_pylist()
    return row


RUNNING = datetime(2026, 10, 1)        # day 16 of 28
ENDED = datetime(2026, 10, 15)         # after 2026-10-13 = 2026-09-15 + 28 days


def test_running_experiment_does_not_ship_on_a_fixed_horizon_p_value():
    card = _card(_results(cuped_p=0.01, msprt_p=0.30), _registry(28), RUNNING)
    assert card["decision"] == "continue" and card["decision_test"] == "always_valid"
    assert card["is_running"] is True
    assert card["first_exposure_date"] == START and card["planned_end_date"] == date(2026, 10, 13)
    assert card["estimator"] == "msprt"
    assert (card["p_value"], card["fixed_horizon_p_value"], card["msprt_p_value"]) == (0.30, 0.01, 0.30)
    assert (card["ci_low"], card["ci_high"]) == pytest.approx((0.01 - 0.02, 0.01 + 0.02))
    assert card["effect"] == pytest.approx(0.01)  # the raw effect, the confidence sequence's centre
    assert "always-valid" in card["reason"] and "not significant yet" in card["reason"]
    assert "running" in card["decision_test_reason"] and "2026-10-13" in card["decision_test_reason"]


def test_after_the_planned_end_the_fixed_horizon_test_ships():
    card = _card(_results(cuped_p=0.01, msprt_p=0.30), _registry(28), ENDED)
    assert card["decision"] == "ship" and card["decision_test"] == "fixed_horizon"
    assert card["is_running"] is False and card["estimator"] == "cuped"
    assert card["p_value"] == card["fixed_horizon_p_value"] == 0.01
    assert (card["ci_low"], card["ci_high"]) == pytest.approx((0.01 - 0.008, 0.01 + 0.008))
    # not significant at the planned end is final: inconclusive, not continue
    assert _card(_results(cuped_p=0.2, msprt_p=0.6), _registry(28), ENDED)["decision"] == "inconclusive"


def test_the_planned_end_starts_at_midnight_of_its_date():
    assert _card(_results(), _registry(28), datetime(2026, 10, 12, 23, 59))["decision_test"] == "always_valid"
    assert _card(_results(), _registry(28), datetime(2026, 10, 13))["decision_test"] == "fixed_horizon"


def test_running_experiment_ships_on_the_always_valid_test():
    card = _card(_results(cuped_p=0.001, msprt_p=0.01), _registry(28), RUNNING)
    assert card["decision"] == "ship" and card["decision_test"] == "always_valid" and card["p_value"] == 0.01
    harm = _card(_results(cuped_p=0.001, msprt_p=0.01, effect=-0.01), _registry(28), RUNNING)
    assert harm["decision"] == "dont_ship" and harm["decision_test"] == "always_valid"


@pytest.mark.parametrize("registry", [_registry(None), _registry(column=False)], ids=["empty_cell", "no_column"])
def test_missing_planned_duration_is_always_valid_throughout(registry):
    for as_of in (RUNNING, datetime(2027, 6, 1)):
        card = _card(_results(cuped_p=0.01, msprt_p=0.30), registry, as_of)
        assert card["decision"] == "continue" and card["decision_test"] == "always_valid"
        assert card["planned_end_date"] is None and card["is_running"] is True
        assert "no planned duration" in card["decision_test_reason"]


def test_registry_planned_days():
    assert read_registry(_registry(28)).planned_days("exp_ranker") == 28
    assert read_registry(_registry(None)).planned_days("exp_ranker") is None
    assert read_registry(_registry(column=False)).planned_days("exp_ranker") is None
    with pytest.raises(ValueError, match="whole number of days >= 1"):
        read_registry(_registry(0))
    with pytest.raises(ValueError, match="whole number of days >= 1"):
        read_registry(_registry(2.5))
    rows = _registry(28).to_pylist()
    rows[0]["planned_days"] = 14  # a variant row
    with pytest.raises(ValueError, match="primary metric's row only"):
        read_registry(pa.Table.from_pylist(rows))


def test_data_end_must_be_one_row():
    two = pa.table({"as_of": pa.array([RUNNING, ENDED], pa.timestamp("us"))})
    with pytest.raises(ValueError, match="exactly one non-null as_of"):
        experiment_scorecard(_results(), EMPTY_SRM, EMPTY_GUARDRAILS, _registry(), EXPOSURES, two)


def test_decision_rule_continue_while_running():
    assert "continue" in DECISIONS
    est = difference_in_means([0.0, 1.0, 0.5, 0.2] * 50, [0.1, 1.0, 0.4, 0.3] * 50, metric="m")
    assert DecisionRule().decide(est, p_value=0.4, is_running=True).decision == "continue"
    assert DecisionRule().decide(est, p_value=0.4).decision == "inconclusive"
    with pytest.raises(ValueError, match="is_running"):
        DecisionRule().decide(est, is_running="yes")
