"""DecisionRule: ship / dont_ship / inconclusive / invalid from the primary metric, SRM and
guardrails."""
import numpy as np
import pytest

from receval.experiments import DecisionRule, MeanNonInferiority, SampleRatioMismatch, difference_in_means


def _primary(effect, seed=0):
    rng = np.random.default_rng(seed)
    return difference_in_means(rng.normal(0, 1, 4000), rng.normal(effect, 1, 4000), metric="rpu")


def test_decisions():
    rule = DecisionRule()
    srm_ok = SampleRatioMismatch().test([5000, 5010], [1, 1])
    srm_bad = SampleRatioMismatch().test([5000, 5600], [1, 1])
    rng = np.random.default_rng(9)
    c = rng.binomial(1, 0.02, 10000)
    g_ok = MeanNonInferiority(margin=0.01).test(c, rng.binomial(1, 0.02, 10000), metric="error_rate")
    g_bad = MeanNonInferiority(margin=0.001).test(c, rng.binomial(1, 0.04, 10000), metric="error_rate")
    assert rule.decide(_primary(0.2), srm_ok, [g_ok]).decision == "ship"
    assert rule.decide(_primary(-0.2), srm_ok, [g_ok]).decision == "dont_ship"
    assert rule.decide(_primary(0.0), srm_ok, [g_ok]).decision == "inconclusive"
    d = rule.decide(_primary(0.2), srm_bad, [g_ok], experiment_id="exp1")
    assert d.decision == "invalid" and "sample ratio mismatch" in d.reason and d.experiment_id == "exp1"
    d = rule.decide(_primary(0.2), srm_ok, [g_ok, g_bad])
    assert d.decision == "invalid" and d.failed_guardrails == ("error_rate",) and "guardrail" in d.reason
    assert DecisionRule(minimum_effect=0.5).decide(_primary(0.2)).decision == "dont_ship"
    assert DecisionRule(higher_is_better=False).decide(_primary(-0.2)).decision == "ship"
    assert rule.decide(_primary(0.2), p_value=0.2).decision == "inconclusive"
    with pytest.raises(ValueError, match="EffectEstimate"):
        rule.decide(srm_ok)
    with pytest.raises(ValueError, match="minimum_effect"):
        DecisionRule(minimum_effect=-1)
