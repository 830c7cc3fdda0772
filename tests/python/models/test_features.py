"""receval.models.features: id lookup."""
from __future__ import annotations

import numpy as np

from receval.models.features import lookup_sorted


def test_lookup_sorted_hand_case():
    pos, found = lookup_sorted(np.array([2, 5, 9]), [5, 1, 9, 10, 2])
    assert found.tolist() == [True, False, True, False, True]
    assert pos[found].tolist() == [1, 2, 0]
    pos, found = lookup_sorted(np.array([], np.int64), [3])
    assert found.tolist() == [False]
