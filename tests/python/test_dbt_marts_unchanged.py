"""Every mart of the tiny world equals the digest of the build before the issue-17
restructuring (commit 3de0f39): moving logic between layers and modules changes no number.

A change that means to change a mart regenerates the digest, saying why in its commit:
    python tests/python/mart_digest.py <built tiny warehouse> > tests/python/golden/tiny_marts.json
(the warehouse of `python -m pytest` is under pytest's basetemp; benchmarks/compare_marts.py
shows which rows differ between two builds).
"""
import json
from pathlib import Path

from mart_digest import differences, digest

GOLDEN = Path(__file__).parent / "golden" / "tiny_marts.json"
# The interval level these marts' intervals now honour (var experiment_alpha), stated beside them.
ADDED = {"fct_srm_checks": ["alpha"], "fct_bandit_allocations": ["alpha"], "fct_shadow_comparison": ["alpha"]}


def test_every_mart_equals_the_golden_digest(tiny_warehouse):
    expected = json.loads(GOLDEN.read_text())
    actual = json.loads(json.dumps(digest(tiny_warehouse.database)))
    assert differences(expected, actual, ADDED) == []


def test_the_digest_sees_a_changed_number(tiny_warehouse):
    expected = json.loads(GOLDEN.read_text())
    changed = json.loads(json.dumps(digest(tiny_warehouse.database)))
    changed["fct_offline_metrics"]["summary"]["value"][1] *= 1 + 1e-6
    assert differences(expected, changed, ADDED) == [
        f"fct_offline_metrics.value: {changed['fct_offline_metrics']['summary']['value']} "
        f"!= {expected['fct_offline_metrics']['summary']['value']}"]
