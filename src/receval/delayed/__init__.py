"""Delayed conversion feedback: purchases arrive hours to days after the click.

==================================  ==================================================
:class:`DelayDistribution`          click-to-purchase delay curve from right-truncated
                                    data (reverse-time Lynden-Bell product-limit)
:func:`kaplan_meier`                Kaplan-Meier curve of right-censored times
:class:`SurvivalReweighting`        eventual conversion rate of an immature cohort
:class:`DelayedFeedbackModel`       Chapelle's delayed feedback model: conversion and
                                    delay fitted jointly by maximum likelihood (per-row
                                    eventual probability, per-cohort rates)
==================================  ==================================================

Delays and elapsed times are in hours. See docs/delayed_feedback.md for the formulas, the
assumptions and the references.
"""
from receval.delayed.dfm import CohortRates, DelayedFeedbackFit, DelayedFeedbackModel
from receval.delayed.reweighting import EventualRate, SurvivalReweighting
from receval.delayed.survival import (
    DAY,
    DEFAULT_HORIZONS,
    HOUR,
    CdfPoints,
    DelayCurve,
    DelayDistribution,
    DelayQuantiles,
    SurvivalCurve,
    kaplan_meier,
)

__all__ = [
    "DAY", "DEFAULT_HORIZONS", "HOUR", "CdfPoints", "CohortRates", "DelayCurve", "DelayDistribution",
    "DelayQuantiles", "DelayedFeedbackFit", "DelayedFeedbackModel", "EventualRate", "SurvivalCurve",
    "SurvivalReweighting", "kaplan_meier",
]
