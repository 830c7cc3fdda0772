"""receval._validation: the input checks metrics, ope and experiments share (one message
per kind of mistake, naming the argument)."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from receval import _validation as v


def test_arrays_of_every_kind_convert_alike():
    for x in ([1.0, 2.0], np.array([1.0, 2.0]), pd.Series([1.0, 2.0]), pa.array([1.0, 2.0]),
              pa.chunked_array([[1.0], [2.0]]), np.array([[1.0], [2.0]])):
        assert v.check_finite(x, "x").tolist() == [1.0, 2.0]
    assert np.isnan(v.to_float_array(pa.array([1.0, None]), "x")[1])
    with pytest.raises(ValueError, match="`x` contains 1 null value"):
        v.as_1d(pa.array([1, None]), "x")
    with pytest.raises(ValueError, match=r"`x` must be 1-dimensional, got shape \(2, 2\)"):
        v.check_finite(np.ones((2, 2)), "x")


def test_check_finite_messages():
    with pytest.raises(ValueError, match="`x` is empty: at least 1 observation"):
        v.check_finite([], "x")
    with pytest.raises(ValueError, match="`x` has 1 observation"):
        v.check_finite([1.0], "x", min_size=2)
    with pytest.raises(ValueError, match=r"`x` contains 1 NaN/null and 1 infinite value\(s\) \(first at index 1"):
        v.check_finite([0.0, np.nan, np.inf], "x")
    assert np.isnan(v.check_finite([0.0, np.nan], "x", allow_nan=True)[1])
    with pytest.raises(ValueError, match=r"`x` contains 1 infinite value\(s\)"):
        v.check_finite([np.nan, np.inf], "x", allow_nan=True)
    with pytest.raises(ValueError, match="`x` contains 1 negative value"):
        v.check_finite([1.0, -1.0], "x", nonnegative=True)
    assert v.check_finite([], "x", min_size=0).size == 0


def test_probabilities_lengths_and_labels():
    with pytest.raises(ValueError, match=r"`p_log` must be in \(0, 1\] \(the probability that the logging"):
        v.check_propensity([0.5, 0.0])
    with pytest.raises(ValueError, match=r"`p` must be in \[0, 1\]; 1 value\(s\) are outside"):
        v.check_probability([0.5, 1.5], "p")
    with pytest.raises(ValueError, match="length mismatch: `a` has 2, `b` has 1; they must have the same length"):
        v.check_lengths(a=[1, 2], b=[1], c=None)
    assert v.check_lengths(a=[1, 2], c=None) == 2
    assert v.check_binary([0, 1, True], "y").tolist() == [False, True, True]
    with pytest.raises(ValueError, match=r"`y` must contain only 0 and 1, found \[2\]"):
        v.check_binary([0, 2], "y")


def test_group_codes_keep_each_callers_order():
    ids = ["b", "a", "b", "c"]
    assert v.group_codes(ids)[0].tolist() == [0, 1, 0, 2]             # first appearance (OPE)
    assert v.group_codes(ids, sort=True)[0].tolist() == [1, 0, 1, 2]  # sorted (metrics)
    assert v.group_codes(np.array([7, 3, 7]), sort=True)[0].tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="length mismatch: `group_ids` has 4, expected 3"):
        v.group_codes(ids, n=3)
    for sort in (False, True):
        with pytest.raises(ValueError, match="`group_ids` contains 1 NaN/null id"):
            v.group_codes(np.array([1.0, np.nan]), sort=sort)


def test_hyperparameters():
    assert v.check_alpha(0.05) == 0.05
    for bad in (0, 1, 95, True, float("nan"), "0.05"):
        with pytest.raises(ValueError, match="`alpha` must be"):
            v.check_alpha(bad)
    with pytest.raises(ValueError, match="`n_bootstrap` must be an integer >= 0, got -1"):
        v.check_int(-1, "n_bootstrap", minimum=0)
    with pytest.raises(ValueError, match="`random_state` must be None, an int seed or a numpy Generator"):
        v.check_random_state("seed")
    g = np.random.default_rng(0)
    assert v.check_random_state(g) is g
    assert v.check_random_state(3).random() == np.random.default_rng(3).random()
    assert v.check_clip(float("inf")) is None and v.check_clip(5) == 5.0
    with pytest.raises(ValueError, match="`clip` must be > 0"):
        v.check_clip(0)
