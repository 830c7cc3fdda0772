"""receval.experiments.registry: the registry seed read and checked."""
import pyarrow as pa
import pytest

from receval.experiments.registry import METRICS, read_registry


def _registry(rows):
    base = dict(experiment_id="e1", is_control=False, role=None, expected_share=None)
    return pa.Table.from_pylist([{**base, **r} for r in rows])


def test_reads_variants_metrics_and_guardrails_per_experiment():
    reg = read_registry(_registry([
        dict(entry="variant", name="treatment", expected_share=50),
        dict(entry="variant", name="control", is_control=True),
        dict(entry="metric", name="ctr", role="primary"),
        dict(entry="metric", name="revenue_per_user", role="secondary"),
        dict(entry="guardrail", name="p99_latency_ms"),
    ]))
    assert [v["name"] for v in reg.variants["e1"]] == ["control", "treatment"]
    assert reg.control("e1") == "control"
    assert [m["name"] for m in reg.metrics["e1"]] == ["ctr", "revenue_per_user"] and METRICS["ctr"].kind == "ratio"
    assert [g["name"] for g in reg.guardrails["e1"]] == ["p99_latency_ms"]


@pytest.mark.parametrize("rows, match", [
    ([dict(entry="variant", name="a"), dict(entry="variant", name="b")], "exactly one control variant"),
    ([dict(entry="metric", name="ctr", role="secondary")], "exactly one primary metric"),
    ([dict(entry="metric", name="ctr", role="primary"), dict(entry="metric", name="dau", role="secondary")],
     r"unknown metrics \['dau'\]"),
    ([dict(entry="guardrail", name="p95_latency_ms")], r"unknown guardrails \['p95_latency_ms'\]"),
])
def test_registry_errors(rows, match):
    with pytest.raises(ValueError, match=match):
        read_registry(_registry(rows))
