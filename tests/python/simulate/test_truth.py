"""Hand-made cases of the attribution rule (receval.simulate.truth)."""
from __future__ import annotations

import pandas as pd
import pytest

from receval.simulate.truth import label_impressions

W = pd.Timedelta(minutes=30)
A = pd.Timedelta(days=7)
T0 = pd.Timestamp("2026-09-01 10:00:00")


def frame(rows, columns):
    out = pd.DataFrame(rows, columns=columns)
    types = {c: "int64" for c in columns if c.endswith("id")}
    return out.astype({**types, "ts": "datetime64[us]"} | ({"revenue": float} if "revenue" in columns else {}))


def impressions(*rows):
    return frame(rows, ["event_id", "request_id", "user_id", "item_id", "ts"])


def clicks(*rows):
    return frame(rows, ["event_id", "request_id", "user_id", "item_id", "ts"])


def conversions(*rows):
    return frame(rows, ["event_id", "user_id", "item_id", "ts", "revenue"])


def labels(imps, clks, convs):
    out = label_impressions(imps, clks, convs, W, A).set_index("event_id")
    return out[["clicked", "converted", "revenue"]]


def test_click_window_is_inclusive_at_both_ends():
    imps = impressions((1, 10, 1, 5, T0), (2, 11, 1, 5, T0), (3, 12, 1, 5, T0))
    clks = clicks((101, 10, 1, 5, T0), (102, 11, 1, 5, T0 + W), (103, 12, 1, 5, T0 + W + pd.Timedelta(microseconds=1)))
    out = labels(imps, clks, conversions())
    assert out["clicked"].tolist() == [True, True, False]


def test_click_before_impression_or_from_another_request_does_not_count():
    imps = impressions((1, 10, 1, 5, T0), (2, 11, 1, 6, T0))
    clks = clicks((101, 10, 1, 5, T0 - pd.Timedelta(seconds=1)), (102, 99, 1, 6, T0 + pd.Timedelta(seconds=5)))
    out = labels(imps, clks, conversions())
    assert not out["clicked"].any()


def test_attribution_window_is_inclusive_and_later_click_wins():
    imps = impressions((1, 10, 1, 5, T0), (2, 11, 1, 5, T0 + pd.Timedelta(hours=1)))
    c1, c2 = T0 + pd.Timedelta(seconds=10), T0 + pd.Timedelta(hours=1, seconds=10)
    clks = clicks((101, 10, 1, 5, c1), (102, 11, 1, 5, c2))
    convs = conversions((201, 1, 5, c2 + A, 30.0))       # exactly A after the later click
    out = labels(imps, clks, convs)
    assert out.loc[1].tolist() == [True, False, 0.0]
    assert out.loc[2].tolist() == [True, True, 30.0]


def test_purchase_outside_window_or_before_any_click_is_unattributed():
    imps = impressions((1, 10, 1, 5, T0))
    c1 = T0 + pd.Timedelta(seconds=10)
    clks = clicks((101, 10, 1, 5, c1))
    convs = conversions((201, 1, 5, c1 + A + pd.Timedelta(microseconds=1), 9.0),
                        (202, 1, 5, c1 - pd.Timedelta(seconds=1), 8.0))
    assert labels(imps, clks, convs).loc[1].tolist() == [True, False, 0.0]


def test_tie_on_click_ts_goes_to_larger_click_event_id_and_revenue_sums():
    imps = impressions((1, 10, 1, 5, T0), (2, 11, 1, 5, T0))
    c = T0 + pd.Timedelta(seconds=10)
    clks = clicks((101, 10, 1, 5, c), (102, 11, 1, 5, c))
    convs = conversions((201, 1, 5, c + pd.Timedelta(hours=2), 10.0), (202, 1, 5, c + pd.Timedelta(days=1), 5.0))
    out = labels(imps, clks, convs)
    assert out.loc[1].tolist() == [True, False, 0.0]
    assert out.loc[2].tolist() == [True, True, 15.0]


def test_click_not_counted_cannot_take_a_purchase():
    """A late click (beyond W) is not a counted click, so the purchase falls to the earlier one."""
    imps = impressions((1, 10, 1, 5, T0), (2, 11, 1, 5, T0 + pd.Timedelta(hours=1)))
    clks = clicks((101, 10, 1, 5, T0 + pd.Timedelta(seconds=5)),
                  (102, 11, 1, 5, T0 + pd.Timedelta(hours=2)))        # 60 min after impression 2
    convs = conversions((201, 1, 5, T0 + pd.Timedelta(hours=3), 7.0))
    out = labels(imps, clks, convs)
    assert out.loc[1].tolist() == [True, True, 7.0]
    assert out.loc[2].tolist() == [False, False, 0.0]


@pytest.mark.parametrize("user,item", [(2, 5), (1, 6)])
def test_purchase_of_other_user_or_item_is_not_attributed(user, item):
    imps = impressions((1, 10, 1, 5, T0))
    clks = clicks((101, 10, 1, 5, T0 + pd.Timedelta(seconds=5)))
    convs = conversions((201, user, item, T0 + pd.Timedelta(hours=1), 7.0))
    assert labels(imps, clks, convs).loc[1].tolist() == [True, False, 0.0]
