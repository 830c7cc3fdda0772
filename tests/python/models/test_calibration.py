"""receval.models.calibration: Platt scaling against statsmodels, isotonic by hand."""
from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from receval.models.calibration import Calibrator, fit_calibrator


def test_platt_matches_statsmodels_logit():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, 20_000)
    labels = (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype(float)
    scores = 1 / (1 + np.exp(-2.0 * z + 0.5))  # over-confident and shifted
    fitted = fit_calibrator(scores, labels, "platt")
    logit = np.log(scores / (1 - scores))
    reference = sm.Logit(labels, sm.add_constant(logit)).fit(disp=0).params
    assert fitted.params["a"] == pytest.approx(reference[1], abs=1e-4)
    assert fitted.params["b"] == pytest.approx(reference[0], abs=1e-4)
    assert fitted.params["a"] == pytest.approx(0.5, abs=0.05)  # undoes the factor 2


def test_isotonic_hand_case_and_round_trip():
    fitted = fit_calibrator(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]), "isotonic")
    # Pool-adjacent-violators merges the violating pair (0.2, 0.3) into their mean 0.5.
    assert fitted.apply(np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx([0.0, 0.5, 0.5, 1.0])
    again = Calibrator.from_dict(fitted.to_dict())
    assert again.apply(np.array([0.25, 0.9])) == pytest.approx(fitted.apply(np.array([0.25, 0.9])))


def test_calibration_errors():
    with pytest.raises(ValueError, match="one of"):
        fit_calibrator(np.array([0.1, 0.2]), np.array([0, 1]), "beta")
    with pytest.raises(ValueError, match="both classes"):
        fit_calibrator(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="equal length"):
        fit_calibrator(np.array([0.1, 0.2]), np.array([1]))
