"""Independent reference computations shared by the receval.monitoring tests."""
from __future__ import annotations

import numpy as np


def numpy_psi(r, c, eps):
    """PSI by the documented rule, written out independently."""
    r, c = np.asarray(r, float), np.asarray(c, float)
    keep = (r > 0) | (c > 0)
    r, c = r[keep] / r.sum(), c[keep] / c.sum()
    r, c = np.clip(r, eps, None), np.clip(c, eps, None)
    r, c = r / r.sum(), c / c.sum()
    return float(np.sum((c - r) * np.log(c / r)))
