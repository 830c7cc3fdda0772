"""drift_table on a frame with a known shift in one segment from day 15 on."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from receval.monitoring import drift_schema, drift_table, feature_drift


def shifted_frame(seed=0, per_cell=2000):
    """30 days x 3 segments; x1 shifts by +1 sd in segment 'b' from day 15 on; 'cat'
    changes its mix in segment 'c' from day 15 on; 'x2' never moves."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(1, 31), 3 * per_cell)
    seg = np.tile(np.repeat(np.array(["a", "b", "c"]), per_cell), 30)
    n = day.size
    x1 = rng.normal(size=n) + np.where((seg == "b") & (day >= 15), 1.0, 0.0)
    x2 = rng.normal(size=n)
    x2[rng.random(n) < 0.02] = np.nan
    late_c = (seg == "c") & (day >= 15)
    cat = np.where(rng.random(n) < np.where(late_c, 0.8, 0.3), "u", "v").astype(object)
    cat[rng.random(n) < 0.01] = None
    return pa.table({"day": pa.array(day, pa.int32()), "segment": seg, "x1": x1, "x2": x2,
                     "cat": pa.array(cat, pa.string())})


def test_drift_table_alerts_exactly_on_the_shifted_cells():
    cur = shifted_frame()
    ref = cur.filter(pa.compute.less(cur["day"], 8))
    feats = {"x1": "numeric", "x2": "numeric", "cat": "categorical"}
    out = drift_table(ref, cur, feats, by=["day", "segment"], reference_by=["segment"])
    assert out.schema == drift_schema([cur.schema.field("day"), cur.schema.field("segment")])
    df = out.to_pandas()
    assert len(df) == 30 * 3 * 3
    shifted = (((df.feature == "x1") & (df.segment == "b")) | ((df.feature == "cat") & (df.segment == "c"))) \
        & (df.day >= 15)
    assert (df.status[shifted] == "alert").all()
    assert (df.status[~shifted] == "ok").all()
    assert df.sort_values(["day", "segment"], kind="stable").index.equals(df.index)
    # every row equals feature_drift on the same rows (one cell checked per feature)
    cell = cur.filter(pa.compute.and_(pa.compute.equal(cur["day"], 20),
                                      pa.compute.equal(cur["segment"], "b")))
    ref_b = ref.filter(pa.compute.equal(ref["segment"], "b"))
    for name, kind in feats.items():
        one = feature_drift(ref_b[name].to_numpy(zero_copy_only=False),
                            cell[name].to_numpy(zero_copy_only=False), kind=kind)
        row = df[(df.day == 20) & (df.segment == "b") & (df.feature == name)].iloc[0]
        for key in ("psi", "js_distance", "statistic", "p_value"):
            assert row[key] == pytest.approx(getattr(one, key), abs=1e-12), (name, key)
        assert (row.n_reference, row.n_current, row.n_missing_current, row.n_bins) == \
            (one.n_reference, one.n_current, one.n_missing_current, one.n_bins)


def test_drift_table_one_reference_pandas_and_empty():
    cur = shifted_frame(per_cell=300)
    ref = cur.filter(pa.compute.less(cur["day"], 8)).drop_columns(["day", "segment"])
    out = drift_table(ref.to_pandas(), cur.to_pandas(), {"x2": "numeric"}, by=["segment"])
    assert out.column("segment").to_pylist() == ["a", "b", "c"]
    seg_a = cur.filter(pa.compute.equal(cur["segment"], "a"))["x2"].to_numpy()
    one = feature_drift(ref["x2"].to_numpy(), seg_a)
    assert out.column("psi")[0].as_py() == pytest.approx(one.psi, abs=1e-12)
    empty = drift_table(ref, cur.slice(0, 0), {"x2": "numeric"}, by=["day"])
    assert empty.num_rows == 0 and empty.schema.field("day").type == pa.int32()
    with pytest.raises(ValueError, match="feature `nope`"):
        drift_table(ref, cur, {"nope": "numeric"})
    with pytest.raises(ValueError, match="`reference_by`"):
        drift_table(ref, cur, {"x2": "numeric"}, by=["day"], reference_by=["segment"])


def test_drift_table_reference_segment_without_rows_is_no_data():
    cur = shifted_frame(per_cell=200)
    ref = cur.filter(pa.compute.and_(pa.compute.less(cur["day"], 8),
                                     pa.compute.not_equal(cur["segment"], "c")))
    out = drift_table(ref, cur, {"x1": "numeric", "cat": "categorical"}, by=["segment"],
                      reference_by=["segment"]).to_pandas()
    assert (out.status[out.segment == "c"] == "no_data").all()
    assert (out.n_reference[out.segment == "c"] == 0).all()
    assert out.psi[out.segment == "c"].isna().all()
