"""ShadowComparison: every interval honours alpha, and at alpha = 0.05 the numbers are the
95% ones the shadow mart computed with the hard-coded z = 1.959963984540054."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from receval.experiments import ShadowComparison, fisher_z_interval

Z975 = 1.959963984540054  # the constant the shadow mart used before alpha was honoured


def _pairs(seed=0, n_requests=120, items=8):
    rng = np.random.default_rng(seed)
    req = np.repeat(np.arange(n_requests), items)
    prod = rng.random(req.size)
    chal = np.clip(prod + rng.normal(0, 0.1, req.size), 0, 1)
    clicked = (rng.random(req.size) < prod * 0.3).astype(int)
    lat_p = np.repeat(rng.gamma(2.0, 20.0, n_requests), items)
    lat_c = np.repeat(rng.gamma(2.0, 25.0, n_requests), items)
    return req, prod, chal, clicked, lat_p, lat_c


def _by_name(stats):
    return {s.statistic: s for s in stats}


def test_a_90_percent_interval_is_narrower_than_a_95_percent_one():
    data = _pairs()
    s95 = _by_name(ShadowComparison(top_k=5, alpha=0.05).compare(*data))
    s90 = _by_name(ShadowComparison(top_k=5, alpha=0.10).compare(*data))
    assert set(s95) == {"score_correlation", "top_k_rank_correlation", "overlap_at_k", "mean_predicted_ctr",
                        "calibration_gap", "latency_p50_ms", "latency_p99_ms"}
    for name, a in s95.items():
        b = s90[name]
        assert b.difference == a.difference and b.n == a.n and (b.alpha, a.alpha) == (0.10, 0.05)
        assert a.ci_low < b.ci_low <= b.difference <= b.ci_high < a.ci_high, name
        assert b.ci_high - b.ci_low < a.ci_high - a.ci_low, name


def test_at_alpha_005_the_numbers_are_the_old_95_percent_ones():
    req, prod, chal, clicked, lat_p, lat_c = _pairs(1)
    got = _by_name(ShadowComparison(top_k=5).compare(req, prod, chal, clicked, lat_p, lat_c))
    # score correlation: Fisher z with the hard-coded constant
    r = float(np.corrcoef(prod, chal)[0, 1])
    n = prod.size
    z, zse = math.atanh(r), 1 / math.sqrt(n - 3)
    sc = got["score_correlation"]
    assert sc.difference == pytest.approx(r, abs=1e-15)
    assert sc.std_error == pytest.approx((1 - r * r) / math.sqrt(n - 3), abs=1e-15)
    assert sc.ci_low == pytest.approx(math.tanh(z - Z975 * zse), abs=1e-15)
    assert sc.ci_high == pytest.approx(math.tanh(z + Z975 * zse), abs=1e-15)
    # mean predicted CTR: mean over requests of the per-request paired difference
    per = pd.DataFrame({"r": req, "p": prod, "c": chal}).groupby("r").mean()
    d = (per["c"] - per["p"]).to_numpy()
    dm, dse = d.mean(), d.std(ddof=1) / math.sqrt(d.size)
    mp = got["mean_predicted_ctr"]
    assert mp.difference == pytest.approx(dm, abs=1e-15) and mp.std_error == pytest.approx(dse, abs=1e-15)
    assert (mp.ci_low, mp.ci_high) == (mp.difference - Z975 * mp.std_error, mp.difference + Z975 * mp.std_error)
    # latency P99: order-statistic interval of each arm with the constant, then a normal interval
    x_p, x_c = np.sort(lat_p[::8]), np.sort(lat_c[::8])

    def order_ci(x, q):
        m = x.size
        half = Z975 * math.sqrt(m * q * (1 - q))
        lo = int(min(max(math.floor(m * q - half), 1), m)) - 1
        hi = int(min(max(math.ceil(m * q + half), 1), m)) - 1
        return x[lo], x[hi]

    (plo, phi), (clo, chi) = order_ci(x_p, 0.99), order_ci(x_c, 0.99)
    se = math.hypot((phi - plo) / (2 * Z975), (chi - clo) / (2 * Z975))
    lat = got["latency_p99_ms"]
    assert lat.production_value == np.quantile(x_p, 0.99) and lat.challenger_value == np.quantile(x_c, 0.99)
    assert lat.std_error == se
    assert (lat.ci_low, lat.ci_high) == (lat.difference - Z975 * se, lat.difference + Z975 * se)


def test_fisher_z_interval_edges():
    se, lo, hi = fisher_z_interval(1.0, 50)
    assert (se, lo, hi) == (0.0, 1.0, 1.0)
    assert all(math.isnan(x) for x in fisher_z_interval(math.nan, 50))
    _, lo95, hi95 = fisher_z_interval(0.5, 100, 0.05)
    _, lo90, hi90 = fisher_z_interval(0.5, 100, 0.10)
    assert lo95 < lo90 < 0.5 < hi90 < hi95


def test_shadow_comparison_validates():
    with pytest.raises(ValueError, match="`top_k` must be an integer >= 1"):
        ShadowComparison(top_k=0)
    with pytest.raises(ValueError, match="`alpha` must be in"):
        ShadowComparison(alpha=1.5)
    req, prod, chal, clicked, lat_p, lat_c = _pairs(2, n_requests=5)
    with pytest.raises(ValueError, match="length mismatch: `request_id` has 40, `production_score` has 39"):
        ShadowComparison().compare(req, prod[:-1], chal, clicked, lat_p, lat_c)
    with pytest.raises(ValueError, match="`challenger_score` contains 1 infinite"):
        ShadowComparison().compare(req, prod, np.where(np.arange(req.size) == 3, np.inf, chal), clicked, lat_p, lat_c)
