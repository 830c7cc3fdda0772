"""receval.models.popularity: smoothed click and conversion rates, by hand."""
from __future__ import annotations

import numpy as np
import pytest

from receval.models.popularity import fit_popularity


def test_popularity_hand_case():
    model = fit_popularity(np.array([1, 1, 2, 2, 2, 3]), np.array([1, 0, 1, 1, 0, 0]),
                           np.array([1, 0, 0, 1, 0, 0]), np.array([1, 1, 1, 1, 1, 0]), smoothing=2.0)
    prior = 3 / 6
    assert model.predict(np.array([1, 2, 3]))["click"] == pytest.approx(
        [(1 + 2 * prior) / 4, (2 + 2 * prior) / 5, (0 + 2 * prior) / 3])
    # Conversion over mature rows only: item 3's single row does not count.
    conv_prior = 2 / 5
    assert model.predict(np.array([3, 99]))["conversion"] == pytest.approx([conv_prior, conv_prior])
