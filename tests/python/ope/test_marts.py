"""receval.ope.marts: the table fct_policy_value_estimates is built from."""
import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from receval.ope.marts import OUTPUT_SCHEMA, estimate_policy_values


def _slots(n: int) -> pa.Table:
    """n one-slot requests of int_cf__policy_slots: logged at 0.5, the target at 0.25."""
    rng = np.random.default_rng(0)
    click = rng.integers(0, 2, n).astype(float)
    return pa.table({
        "policy_id": ["p"] * n, "event_id": np.arange(n), "request_id": np.arange(n), "item_id": np.arange(n),
        "position": np.ones(n, np.int32), "impression_date": [datetime.date(2026, 9, 7)] * n,
        "model_id": ["prod"] * n, "surface": ["home"] * n, "device": ["ios"] * n,
        "p_log": np.full(n, 0.5), "propensity_source": ["logged"] * n, "p_target": np.full(n, 0.25),
        "has_support": [True] * n, "is_exploration": [False] * n,
        "p_log_examined": np.full(n, 0.5), "p_target_examined": np.full(n, 0.25),
        "click": click, "purchase": np.zeros(n), "revenue": np.zeros(n),
        "is_click_label_mature": [True] * n, "is_label_mature": [True] * n,
    })


def test_no_slots_give_an_empty_table_with_the_marts_types():
    # A landing zone without propensities has no slots: the mart keeps its column types (its
    # yml schema check compares them) instead of coming back as untyped nulls.
    out = estimate_policy_values(_slots(1).slice(0, 0))
    assert out.num_rows == 0
    assert out.schema == OUTPUT_SCHEMA
    assert out.schema.field("n_slots").type == pa.int64() and out.schema.field("day").type == pa.string()


def test_a_result_table_has_the_same_types_and_the_ips_value_by_hand():
    slots = _slots(40)
    out = estimate_policy_values(slots, n_bootstrap=0, min_requests=1)
    assert out.schema == OUTPUT_SCHEMA
    ips = out.filter(pc.and_(pc.equal(out["estimator"], "ips"), pc.equal(out["reward"], "click")))
    overall = [r for r in ips.to_pylist() if r["day"] == "all" and r["segment"] == "all"]
    # IPS by hand: mean of click x p_target / p_log = mean(click) / 2
    assert np.isclose(overall[0]["estimate"], np.mean(slots["click"].to_numpy()) / 2)
