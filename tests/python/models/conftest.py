"""Fixtures of the receval.models tests."""
from __future__ import annotations

from datetime import date

import pytest

from models.synthetic import synthetic_features, synthetic_world


@pytest.fixture(scope="module")
def world_table():
    world = synthetic_world()
    return world, synthetic_features(world, 40_000, date(2026, 10, 1), 10)
