"""Benjamini-Hochberg false-discovery-rate control across a family of tests."""
from __future__ import annotations

import numpy as np

from receval import _validation as v
from receval.experiments.results import MultipleTestingResult


class BenjaminiHochberg:
    r"""Benjamini-Hochberg step-up procedure.

    Sort the :math:`m` p-values :math:`p_{(1)} \le \dots \le p_{(m)}`, reject
    :math:`H_{(1)}, \dots, H_{(k)}` for the largest :math:`k` with
    :math:`p_{(k)} \le k\alpha/m`. The adjusted p-values are

    .. math::

        \tilde p_{(i)} = \min_{j \ge i} \min\!\left(1, \frac{m\, p_{(j)}}{j}\right),

    and :math:`H_i` is rejected iff :math:`\tilde p_i \le \alpha`. Controls the false
    discovery rate at :math:`\alpha` for independent or positively dependent tests.

    Parameters
    ----------
    alpha : float, default 0.05
        Target false discovery rate, in (0, 1).

    References
    ----------
    Benjamini, Y., Hochberg, Y. (1995). Controlling the False Discovery Rate: A Practical
    and Powerful Approach to Multiple Testing. JRSS B 57(1), 289-300.
    """

    def __init__(self, alpha: float = 0.05) -> None:
        self.alpha = v.check_alpha(alpha)

    def __repr__(self) -> str:
        return f"BenjaminiHochberg(alpha={self.alpha})"

    def adjust(self, p_values, labels=None) -> MultipleTestingResult:
        """Adjust a family of p-values; the input order is kept.

        Parameters
        ----------
        p_values : array-like of float
            p-values in [0, 1] (no NaN).
        labels : sequence of str, optional
            Names of the tests (metrics or experiments), carried into the result.
        """
        p = v.check_finite(p_values, "p_values")
        if ((p < 0) | (p > 1)).any():
            bad = np.flatnonzero((p < 0) | (p > 1))
            raise ValueError(
                f"`p_values` must lie in [0, 1]; index {int(bad[0])} is {p[bad[0]]}"
            )
        if labels is not None:
            labels = tuple(str(x) for x in labels)
            if len(labels) != p.size:
                raise ValueError(f"`labels` has {len(labels)} names for {p.size} p-values")
        m = p.size
        order = np.argsort(p, kind="mergesort")
        ranked = p[order] * m / np.arange(1, m + 1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
        adj = np.empty(m)
        adj[order] = adj_sorted
        rej = adj <= self.alpha
        return MultipleTestingResult(
            p_values=tuple(float(x) for x in p),
            adjusted_p_values=tuple(float(x) for x in adj),
            rejected=tuple(bool(x) for x in rej),
            alpha=self.alpha,
            n_tests=int(m),
            n_rejected=int(rej.sum()),
            labels=labels,
        )


def benjamini_hochberg(p_values, alpha: float = 0.05, labels=None) -> MultipleTestingResult:
    """Functional shortcut for ``BenjaminiHochberg(alpha).adjust(p_values, labels)``."""
    return BenjaminiHochberg(alpha).adjust(p_values, labels)
