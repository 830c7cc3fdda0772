"""receval.ope.marts: its cells are the slices of the slots, whatever the ids look like."""
import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from receval.ope.marts import estimate_policy_values
from receval.warehouse import ColumnReader


def _slots(n_requests: int = 300, k: int = 3) -> pa.Table:
    """Two policies on the same k-slot requests over 3 days and 2 surfaces, with unsupported
    slots, exploration slots, immature and null labels."""
    rng = np.random.default_rng(1)
    n = n_requests * k
    request = np.repeat(rng.permutation(n_requests), k)   # ids not in the order of the events
    day = np.repeat(rng.integers(0, 3, n_requests), k)
    surface = np.repeat(rng.choice(["home", "search"], n_requests), k)
    explore = np.repeat(rng.random(n_requests) < 0.3, k)
    purchase = rng.integers(0, 2, n).astype(float)
    unobserved = rng.random(n) < 0.05   # null, not NaN: no conversions log
    base = {
        "event_id": np.arange(n), "request_id": request, "item_id": rng.integers(0, 50, n),
        "position": np.tile(np.arange(1, k + 1, dtype=np.int32), n_requests),
        "impression_date": [datetime.date(2026, 9, 1) + datetime.timedelta(days=int(d)) for d in day],
        "model_id": ["prod"] * n, "surface": surface, "device": rng.choice(["ios", "web"], n),
        "p_log": np.where(explore, 1.0 / k, rng.uniform(0.2, 0.9, n)),
        "propensity_source": rng.choice(["logged", "estimated"], n), "has_support": rng.random(n) < 0.9,
        "is_exploration": explore, "p_log_examined": np.full(n, 0.5),
        "click": rng.integers(0, 2, n).astype(float), "purchase": pa.array(purchase, mask=unobserved),
        "revenue": pa.array(purchase * 3.0, mask=unobserved),
        "is_click_label_mature": rng.random(n) < 0.95, "is_label_mature": rng.random(n) < 0.8,
    }
    policies = []
    for policy, p_target in (("a", rng.uniform(0, 1, n)), ("b", rng.integers(0, 2, n).astype(float))):
        policies.append(pa.table({"policy_id": [policy] * n, **base, "p_target": p_target,
                                  "p_target_examined": p_target * 0.5}))
    return pa.concat_tables(policies)


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in ("policy_id", "estimator", "reward", "day", "segment")])


def test_text_request_ids_and_shuffled_rows_give_the_same_table():
    # requests are clusters and bootstrap units by their order of appearance; the folds of the
    # reward model by their sorted order, which zero-padded text ids keep
    slots = _slots()
    text_ids = pc.utf8_lpad(pc.cast(slots["request_id"], pa.string()), 6, "0")
    relabelled = slots.set_column(slots.column_names.index("request_id"), "request_id", text_ids)
    shuffled = relabelled.take(np.random.default_rng(2).permutation(relabelled.num_rows))
    expected = estimate_policy_values(slots, n_bootstrap=50, min_requests=5)
    assert expected.num_rows > 0
    assert estimate_policy_values(shuffled, n_bootstrap=50, min_requests=5).equals(expected)


def test_a_day_cell_equals_the_overall_cell_of_that_days_slots():
    # IPS and SNIPS read no reward model: a day's cell is the estimate on that day's slots alone
    slots = _slots()
    out = estimate_policy_values(slots, n_bootstrap=0, min_requests=5).to_pylist()
    day = datetime.date(2026, 9, 2)
    alone = estimate_policy_values(slots.filter(pc.equal(slots["impression_date"], day)), n_bootstrap=0,
                                   min_requests=5).to_pylist()
    key = ("policy_id", "estimator", "reward")
    in_cell = {tuple(r[c] for c in key): r for r in out if r["day"] == day.isoformat()}
    overall = {tuple(r[c] for c in key): {**r, "day": day.isoformat()} for r in alone
               if r["day"] == "all" and r["segment"] == "all" and r["estimator"] in ("ips", "clipped_ips", "snips")}
    assert len(overall) == 2 * 3 * 3
    for k, row in overall.items():
        assert in_cell[k] == row


def test_reading_a_duckdb_relation_in_pieces_gives_the_table_of_one_read():
    # a policy at a time, its slots in pieces, the reward model a day at a time: the same
    # cells, clusters and bootstrap draws; only the reward model's sums add in another order
    import duckdb

    slots = _slots()
    shuffled = slots.take(np.random.default_rng(3).permutation(slots.num_rows))
    expected = estimate_policy_values(slots, n_bootstrap=50, min_requests=5).to_pandas()
    con = duckdb.connect()
    con.register("shuffled", shuffled)
    con.execute("create table slots as select * from shuffled")
    for read_rows in (None, 100, 700):
        got = estimate_policy_values(ColumnReader(con.query("select * from slots")), n_bootstrap=50,
                                     min_requests=5, read_rows=read_rows).to_pandas()
        pd.testing.assert_frame_equal(got, expected, rtol=1e-12, atol=0)
