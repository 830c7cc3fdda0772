r"""Target ranking policies as position marginals.

A request :math:`r` has :math:`C` retrieval candidates with model scores
:math:`s_{r1}, \dots, s_{rC}`; a target policy shows a list of :math:`K` of them. What the
position-aware estimators (:mod:`receval.ope.ranking`) and the warehouse's target-policy
contract need of a policy is its *position marginals*

.. math::

    \pi_{rck} = P(\text{candidate } c \text{ of request } r \text{ is shown at position } k),

an array ``(n, C, K)`` (0-based ``k`` in arrays, 1-based ``position`` in tables). For a
policy that fills every position, :math:`\sum_c \pi_{rck} = 1` for each position and
:math:`\sum_k \pi_{rck} \le 1` for each candidate.

==========================================  ================================================
:func:`top_k_marginals`                     deterministic top-K by score
:func:`plackett_luce_marginals`             Plackett-Luce (softmax without replacement),
                                            Rao-Blackwellised Monte Carlo
:func:`plackett_luce_marginals_exact`       the same by enumeration (small C; the reference)
:func:`slot_marginals_table`                marginals -> long target-policy table
==========================================  ================================================
"""
from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from receval import _validation as v

__all__ = [
    "plackett_luce_marginals",
    "plackett_luce_marginals_exact",
    "slot_marginals_table",
    "top_k_marginals",
]

#: enumeration visits C!/(C-K)! ordered prefixes per request (40,320 at C = 8)
_MAX_EXACT_CANDIDATES = 8
#: floats in one chunk's (rows, n_samples, C) array when ``chunk_size`` is not given
_CHUNK_FLOATS = 4_000_000


# -- validation ----------------------------------------------------------------------------


def _check_scores(scores: Any, name: str = "scores") -> np.ndarray:
    if isinstance(scores, pd.DataFrame):
        scores = scores.to_numpy(dtype=float, na_value=np.nan)
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be a 2-D array of numbers") from exc
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be 2-dimensional (n_requests, n_candidates), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape}): at least one request and one candidate are needed")
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        kind = "NaN/null" if np.isnan(arr[r, c]) else "infinite"
        raise ValueError(
            f"`{name}` contains {int(bad.sum())} NaN/null or infinite value(s) (first at "
            f"[{r}, {c}]: {kind}); drop the candidate or impute its score first"
        )
    return arr


def _check_k(k: Any, n_candidates: int) -> int:
    k = v.check_int(k, "k", minimum=1)
    if k > n_candidates:
        raise ValueError(f"`k` (the list length) must be <= the number of candidates {n_candidates}, got {k}")
    return k


def _check_temperature(temperature: Any) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, Real) or not math.isfinite(temperature):
        raise ValueError(f"`temperature` must be a finite real number > 0, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature}")
    return float(temperature)


def _check_marginals(marginals: Any, name: str = "marginals") -> np.ndarray:
    arr = np.asarray(marginals, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"`{name}` must be 3-dimensional (n_requests, n_candidates, k), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape})")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"`{name}` must hold probabilities in [0, 1] (no NaN)")
    return arr


def _log_weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    """log w = (s - max s) / T per request: the max-subtraction keeps exp() in range."""
    with np.errstate(over="ignore"):
        logw = (scores - scores.max(axis=1, keepdims=True)) / temperature
    if not np.isfinite(logw).all():
        raise ValueError(
            f"`temperature` = {temperature} is too small for the range of `scores`: "
            "(score - max score) / temperature overflows"
        )
    return logw


def _softmax(logw: np.ndarray) -> np.ndarray:
    e = np.exp(logw - logw.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- policies ------------------------------------------------------------------------------


def top_k_marginals(scores: Any, k: int) -> np.ndarray:
    r"""Position marginals of the deterministic top-K policy.

    Position :math:`k` shows the candidate of rank :math:`k` by descending score, ties
    broken by the lower column index (a stable sort of :math:`-s`):
    :math:`\pi_{rck} = 1[\operatorname{rank}_r(c) = k]`. It is the
    :math:`T \to 0` limit of :func:`plackett_luce_marginals` when scores are distinct.

    Parameters
    ----------
    scores : array-like of float, shape (n_requests, n_candidates)
        Model score of each candidate (finite; no NaN).
    k : int
        List length, ``1 <= k <= n_candidates``.

    Returns
    -------
    numpy.ndarray of float64, shape (n_requests, n_candidates, k)
        0/1 marginals: each position holds exactly one candidate, each candidate is shown
        at most once.
    """
    s = _check_scores(scores)
    k = _check_k(k, s.shape[1])
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    out = np.zeros(s.shape + (k,))
    out[np.arange(s.shape[0])[:, None], order, np.arange(k)] = 1.0
    return out


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _root_seed(random_state: Any) -> int:
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValueError(
            f"`random_state` must be None, an int seed >= 0 or a numpy Generator, got {random_state!r}"
        )
    return int(random_state)


def _logaddexp(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """log(e^a + e^b) for finite ``a`` (``b`` may be -inf); several times faster than
    np.logaddexp, which dominated the run time."""
    hi = np.maximum(a, b)
    return np.add(hi, np.log1p(np.exp(np.minimum(a, b) - hi)), out=out)


def _pl_chunk(logw: np.ndarray, k: int, n_samples: int, root: int, row0: int) -> np.ndarray:
    """Rao-Blackwellised PL marginals of positions 1..k-1 for one chunk of requests."""
    m, c = logw.shape
    # One stream per request row (child ``row`` of the root SeedSequence): the draws, and
    # so the result, do not depend on the chunking or the threads.
    keys = np.empty((m, n_samples, c))
    for i in range(m):
        rng = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(row0 + i,)))
        rng.standard_exponential(out=keys[i])
    # Gumbel-top-k: -log E is Gumbel, so the k smallest log E - log w are a PL ranking.
    np.log(keys, out=keys)
    keys -= logw[:, None, :]
    drawn = np.ascontiguousarray(np.argsort(keys, axis=-1)[..., :k])  # (m, S, k), in drawn order
    lw_drawn = np.moveaxis(np.take_along_axis(logw[:, None, :], drawn, -1), -1, 0).copy()  # (k, m, S)

    # Masses in log space, relative to per-sample maxima: for a peaked policy the mass left
    # after the first draws is far below w_max, and 1 / (total - drawn) would cancel or overflow.
    if k < c:
        undrawn = keys  # reuse: w_c / max of the undrawn w for the candidates never drawn, else 0
        undrawn[...] = logw[:, None, :]
        np.put_along_axis(undrawn, drawn, -np.inf, -1)
        top = undrawn.max(axis=-1, keepdims=True)
        undrawn -= top
        np.exp(undrawn, out=undrawn)
        log_undrawn = top[..., 0] + np.log(undrawn.sum(axis=-1))
    else:
        log_undrawn = np.full((m, n_samples), -np.inf)
    # log_rest[j] = log of the mass not yet drawn before position j: undrawn + drawn[j:]
    log_rest = np.empty_like(lw_drawn)
    log_rest[-1] = _logaddexp(lw_drawn[-1], log_undrawn)
    for j in range(k - 2, 0, -1):
        _logaddexp(lw_drawn[j], log_rest[j + 1], out=log_rest[j])

    # P(c at j | prefix) = w_c / rest_j for c not in the prefix. The undrawn candidates: a
    # sum over samples of (w_c / top_s) (top_s / rest_sj), both factors <= 1 ...
    if k < c:
        out = np.einsum("msc,jms->mcj", undrawn, np.exp(top[..., 0] - log_rest[1:]))
    else:
        out = np.zeros((m, c, k - 1))
    # ... and drawn[i] at each position j <= i: a scatter-add of terms <= 1.
    flat = np.moveaxis(drawn, -1, 0) + (np.arange(m) * c)[:, None]  # (k, m, S): row * c + item
    for j in range(1, k):
        cond = np.exp(lw_drawn[j:] - log_rest[j])
        out[:, :, j - 1] += np.bincount(flat[j:].ravel(), cond.ravel(), minlength=m * c).reshape(m, c)
    return out / n_samples


def plackett_luce_marginals(
    scores: Any,
    k: int,
    *,
    temperature: float = 1.0,
    n_samples: int = 256,
    random_state: Any = 0,
    chunk_size: int | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    r"""Position marginals of the Plackett-Luce policy, by Rao-Blackwellised Monte Carlo.

    The Plackett-Luce (softmax without replacement) policy fills positions in turn, each
    with a candidate not yet shown, with probability proportional to
    :math:`w_c = \exp(s_c / T)`:

    .. math::

        P(\text{list} = (d_0, \dots, d_{K-1})) = \prod_{j=0}^{K-1}
            \frac{w_{d_j}}{\sum_{c \notin \{d_0, \dots, d_{j-1}\}} w_c}.

    Its position marginals have no closed form beyond position 0 (the softmax). They are
    estimated from :math:`S` = ``n_samples`` rankings per request, drawn with the
    Gumbel-top-k trick (the :math:`K` largest :math:`\log w_c + G_c`, :math:`G_c` i.i.d.
    Gumbel, are a PL ranking; Kool et al. 2019), by averaging the *exact conditional*
    probabilities given each sampled prefix instead of the sampled indicators:

    .. math::

        \hat\pi_{ck} = \frac{1}{S}\sum_{s=1}^S
            \frac{w_c\, 1[c \notin d^{(s)}_{<k}]}{\sum_{c' \notin d^{(s)}_{<k}} w_{c'}}.

    Each term is :math:`E[1[d_k = c] \mid d_{<k}]`, so the estimate is unbiased, its
    variance is at most that of the sampled indicators (Rao-Blackwell), position 0 is exact,
    and every position sums to 1 over the candidates in every sample. A candidate's sum over
    positions is at most 1 only in expectation (it can exceed 1 by the Monte Carlo error).
    Computed in log space, so it stays finite and accurate for peaked policies (small
    ``temperature``).

    Parameters
    ----------
    scores : array-like of float, shape (n_requests, n_candidates)
        Model score of each candidate (finite).
    k : int
        List length, ``1 <= k <= n_candidates``.
    temperature : float > 0, default 1.0
        :math:`T`: towards 0 the policy tends to the top-K (for distinct scores), towards
        infinity to a uniformly random list.
    n_samples : int >= 1, default 256
        Rankings drawn per request. The error of an entry is at most
        :math:`1 / (2\sqrt{S})` in standard deviation (each term lies in [0, 1]), usually
        far less. Not used when ``k == 1`` (exact).
    random_state : int >= 0, numpy Generator or None, default 0
        Root seed (a Generator gives one draw to it; None takes fresh entropy). Request row
        ``r`` draws from child ``r`` of ``SeedSequence(random_state)`` (as ``.spawn`` would
        make it), so a row's marginals depend only on the seed, the row index and its
        scores -- not on ``chunk_size``, ``n_jobs`` or the other rows.
    chunk_size : int >= 1, optional
        Requests processed at once. Each thread holds two or three
        ``(chunk_size, n_samples, n_candidates)`` float64 arrays; by default they have
        about 4 million entries (32 MB) each, a size that also keeps the run fast.
    n_jobs : int >= 1, optional
        Threads that process chunks in parallel (numpy releases the GIL); by default as
        many as the CPUs available to the process. Does not change the result.

    Returns
    -------
    numpy.ndarray of float64, shape (n_requests, n_candidates, k)

    See Also
    --------
    plackett_luce_marginals_exact : the exact marginals by enumeration, for small C.

    References
    ----------
    Plackett, R. L. (1975). The analysis of permutations. Applied Statistics 24(2), 193-202.
    Luce, R. D. (1959). Individual Choice Behavior. Wiley.
    Kool, W., van Hoof, H., Welling, M. (2019). Stochastic beams and where to find them:
    the Gumbel-top-k trick for sampling sequences without replacement. ICML 2019.
    Casella, G., Robert, C. P. (1996). Rao-Blackwellisation of sampling schemes.
    Biometrika 83(1), 81-94.
    """
    s = _check_scores(scores)
    n, c = s.shape
    k = _check_k(k, c)
    logw = _log_weights(s, _check_temperature(temperature))
    n_samples = v.check_int(n_samples, "n_samples", minimum=1)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_FLOATS // (n_samples * c))
    chunk_size = v.check_int(chunk_size, "chunk_size", minimum=1)
    n_jobs = _available_cpus() if n_jobs is None else v.check_int(n_jobs, "n_jobs", minimum=1)
    root = _root_seed(random_state)

    out = np.empty((n, c, k))
    out[:, :, 0] = _softmax(logw)
    if k > 1:
        def run(start: int) -> None:
            stop = min(start + chunk_size, n)
            out[start:stop, :, 1:] = _pl_chunk(logw[start:stop], k, n_samples, root, start)

        starts = range(0, n, chunk_size)
        if n_jobs == 1 or len(starts) == 1:
            for start in starts:
                run(start)
        else:
            with ThreadPoolExecutor(min(n_jobs, len(starts))) as pool:
                list(pool.map(run, starts))
        # each sample's conditionals sum to 1 exactly; this removes the rounding of the sums
        out[:, :, 1:] /= out[:, :, 1:].sum(axis=1, keepdims=True)
    return out


def plackett_luce_marginals_exact(scores: Any, k: int, *, temperature: float = 1.0) -> np.ndarray:
    r"""Exact Plackett-Luce position marginals, by enumerating every ordered K-prefix.

    Sums the probability (see :func:`plackett_luce_marginals`) of each of the
    :math:`C!/(C-K)!` ordered prefixes into the marginals of its items. Exponential in
    :math:`C`: only for ``n_candidates <= 8`` -- the reference of the Monte Carlo estimate
    in tests.

    Parameters
    ----------
    scores, k, temperature
        As in :func:`plackett_luce_marginals`.

    Returns
    -------
    numpy.ndarray of float64, shape (n_requests, n_candidates, k)
    """
    s = _check_scores(scores)
    n, c = s.shape
    if c > _MAX_EXACT_CANDIDATES:
        raise ValueError(
            f"exact enumeration is for at most {_MAX_EXACT_CANDIDATES} candidates (C!/(C-k)! "
            f"prefixes per request), `scores` has {c}; use plackett_luce_marginals"
        )
    k = _check_k(k, c)
    logw = _log_weights(s, _check_temperature(temperature))

    prefixes = np.array(list(itertools.permutations(range(c), k)))  # (P, k)
    onehot = prefixes[..., None] == np.arange(c)  # (P, k, c)
    available = np.cumsum(onehot, axis=1) - onehot == 0  # not drawn before position j
    out = np.empty((n, c, k))
    for r in range(n):
        lw = np.where(available, logw[r], -np.inf)
        top = lw.max(axis=-1)
        log_rest = top + np.log(np.exp(lw - top[..., None]).sum(axis=-1))
        p = np.exp((logw[r][prefixes] - log_rest).sum(axis=1))  # (P,)
        out[r] = np.einsum("p,pjc->cj", p, onehot)
    return out


# -- table -----------------------------------------------------------------------


def slot_marginals_table(
    request_ids: Any,
    item_ids: Any,
    marginals: Any,
    *,
    min_probability: float = 0.0,
) -> pd.DataFrame:
    """Long target-policy table from position marginals.

    The warehouse's target-policy contract (``int_cf__target_policies``) less
    ``policy_id``, which the caller adds: one row per (request, item, position) with
    ``target_probability > min_probability``.

    Parameters
    ----------
    request_ids : array-like, shape (n_requests,) or (n_requests, n_candidates)
        Request id of each row (2-D: the same id across a row). Unique across rows.
    item_ids : array-like, shape (n_requests, n_candidates)
        Item id of each candidate; unique within a request, no nulls.
    marginals : array-like of float in [0, 1], shape (n_requests, n_candidates, k)
        Position marginals, e.g. from :func:`top_k_marginals` or
        :func:`plackett_luce_marginals`.
    min_probability : float in [0, 1), default 0.0
        Rows with a probability at or below it are dropped. Above 0 the kept mass at a
        position can fall below 1, which the DM / DR reward model of the warehouse
        assumes it does not.

    Returns
    -------
    pandas.DataFrame
        Columns ``request_id``, ``item_id``, ``position`` (int64, 1-based) and
        ``target_probability`` (float64); ordered by request row, position, candidate.
    """
    p = _check_marginals(marginals)
    n, c, _ = p.shape
    items = np.asarray(item_ids)
    if items.shape != (n, c):
        raise ValueError(
            f"`item_ids` must have shape (n_requests, n_candidates) = {(n, c)} like `marginals`, "
            f"got {items.shape}"
        )
    reqs = np.asarray(request_ids)
    if reqs.shape == (n, c):
        if not (reqs == reqs[:, :1]).all():
            raise ValueError("`request_ids` is 2-D but not constant along a row (one request per row)")
        reqs = reqs[:, 0]
    elif reqs.shape != (n,):
        raise ValueError(
            f"`request_ids` must have shape ({n},) or {(n, c)} to match `marginals`, got {reqs.shape}"
        )
    for name, ids in (("request_ids", reqs), ("item_ids", items)):
        if pd.isna(ids).any():
            raise ValueError(f"`{name}` contains null id(s)")
    if not pd.Index(reqs).is_unique:
        raise ValueError("`request_ids` has a request on more than one row")
    sorted_items = np.sort(items, axis=1)
    if (sorted_items[:, 1:] == sorted_items[:, :-1]).any():
        raise ValueError("`item_ids` repeats an item within a request (a row)")
    if isinstance(min_probability, bool) or not isinstance(min_probability, Real) or not 0 <= min_probability < 1:
        raise ValueError(f"`min_probability` must be a real number in [0, 1), got {min_probability!r}")

    r, pos, cand = np.nonzero(p.transpose(0, 2, 1) > min_probability)
    return pd.DataFrame({
        "request_id": reqs[r],
        "item_id": items[r, cand],
        "position": (pos + 1).astype(np.int64),
        "target_probability": p[r, cand, pos],
    })
