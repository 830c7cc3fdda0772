"""receval.experiments.marts: the wiring of the experiment marts."""
import pyarrow as pa
import pytest

from receval.experiments.marts import interleaving_results


def test_interleaving_mart_outcome_without_events_is_null_not_nan():
    """A log with clicks but no purchases: the purchases row has no defined preference,
    and a NaN would pass as a number in SQL (DuckDB sorts NaN above every value)."""
    requests = pa.table({"user_id": [1, 2, 3, 4], "clicks_a": [1, 0, 2, 1], "clicks_b": [0, 1, 0, 1],
                         "purchases_a": [0, 0, 0, 0], "purchases_b": [0, 0, 0, 0], "clicks_immature": [0, 0, 0, 0],
                         "purchases_a_corrected": [0.0] * 4, "purchases_b_corrected": [0.0] * 4})
    rows = {r["outcome"]: r for r in interleaving_results(requests, "a", "b", n_bootstrap=200).to_pylist()}
    assert rows["clicks"]["preference"] == pytest.approx((2 + 0.5 * 1) / 4 - 0.5)
    assert rows["purchases"]["wins"] == 0
    for column in ("preference", "std_error", "ci_low", "ci_high", "user_preference", "expected_share_to_come"):
        assert rows["purchases"][column] is None, column
