"""The receval simulator: a seeded world of recommendation logs with known ground truth.

``simulate(config, seed, out)`` writes the raw landing zone (``out/raw``, see
:mod:`receval.contract`) and the ground truth (``out/truth``, layout in
:mod:`receval.simulate.truth`). Presets live in :mod:`receval.simulate.config`.
"""
from receval.simulate.config import PRESETS, SimConfig, get_preset
from receval.simulate.run import simulate

__all__ = ["PRESETS", "SimConfig", "get_preset", "simulate"]
