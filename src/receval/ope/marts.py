r"""Every estimator for every target policy, reward and slice of a logged-slot table.

The kernel behind the ``fct_policy_value_estimates`` mart: it takes the rows of
``int_cf__policy_slots`` (one per target policy x logged slot), as a column reader or an
Arrow table, and returns one row per (policy_id, estimator, reward, day, segment) with the
estimate, its standard error and skewness, analytic (skewness-corrected) and bootstrap
``1 - alpha`` intervals, n and the weight diagnostics.

Where a row's weights hold fewer than :data:`MIN_EXPECTED_REWARDED_SLOTS` expected rewarded
slots, its standard error is at least :func:`std_error_floor` (the reward's spread priced at
every weight) and its interval is built from that.

The unit of a value is one impression slot (the per-slot rate: a list's value is K times
it); the rounds are slots and the clusters of the interval are requests (the list).

Replay and position-based IPS (``pbm_ips``) use only the slots of the uniform-random
exploration slice (``is_exploration``): replay for deterministic targets (every target
probability there 0 or 1: the logged item at the logged position, or not), PBM with the
examination-weighted propensities ``p_log_examined`` / ``p_target_examined`` (its
per-list value divided by the list's slots, to stay per slot).

Rewards: ``click`` (mature click labels), ``purchase`` and ``revenue`` (mature conversion
labels only: a purchase still to come would count as none), and the delay-corrected
``purchase_corrected`` and ``revenue_corrected`` on every slot whose conversions have landed,
mature or not. A corrected reward weights each purchase seen by the inverse of the
probability that it has arrived by the data's end (``arrival_probability`` =
:math:`\hat F(e_i)` of its click, ``int_delayed__click_arrival``):
:math:`\tilde y_i = y_i / \hat F(e_i)` where :math:`y_i > 0`, else 0, and :math:`\tilde y_i = y_i`
on a mature slot (its label is final). Given the curve, :math:`E[\tilde y_i] = \pi_i`, the
slot's eventual reward, whatever the slot (Horvitz-Thompson), so every estimator that is
unbiased for a policy's value with the eventual rewards (IPS, DR, and SNIPS / SNDR up to
their usual ratio bias) stays so with :math:`\tilde y`. They are estimated only on cells
with at least one immature slot (on a mature cell they equal the plain rows exactly).
The overall cell of a corrected reward has no bootstrap (the analytic interval only: a
bootstrap of every policy's corrected rewards costs about a third of the node on the
default world). A cell with a slot whose corrected reward is unknown -- an immature clicked slot without an
arrival probability (the curve is not identified; ``int_delayed__click_arrival`` says why)
or a purchase whose arrival probability is 0 -- gets one row of nulls per slot estimator
(``n_slots`` 0), not an estimate; those slots are left out of the reward model.
Their standard errors add the delay curve's own error as a bound: if every slot's
:math:`\hat F` moved by its standard error :math:`s_i` together (errors perfectly
correlated, the worst case, Cauchy-Schwarz), :math:`\tilde y_i` would move by
:math:`\tilde y_i s_i / \hat F_i` and an IPS estimate by :math:`|\hat V| \rho`,
:math:`\rho = \sum w_i \tilde y_i s_i / \hat F_i \,/\, \sum w_i \tilde y_i` over the cell's
supported slots (:math:`w_i = p_{target} / p_{log}`); :math:`(\hat V \rho)^2` is added to the
squared standard error of every estimator of the cell (exact to first order for IPS and
SNIPS, the same relative shift for DM / DR / SNDR) and the interval rebuilt from it.
``label_maturity`` (``receval.delayed.marts.label_maturity`` of the
cell's slots that the reward reads: mature for the plain rewards, which read mature labels
only) and ``expected_share_to_come`` (corrected rows: :math:`1 - \sum y / \sum \tilde y`
over the cell's supported slots) go with every row.

The slots are read a policy at a time, the reward model (DM, DR, SNDR) fitted first on the
distinct logged slots (:mod:`receval.ope.slots`); ``read_rows`` bounds the rows of each read.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from receval.delayed.marts import label_maturity, share_to_come
from receval.metrics.uncertainty import skew_corrected_interval
from receval.ope.direct import DirectMethod
from receval.ope.doubly_robust import DoublyRobust, SelfNormalizedDoublyRobust
from receval.ope.ips import IPS, SNIPS
from receval.ope.ranking import PositionBasedIPS
from receval.ope.replay import Replay
from receval.ope.slots import CORRECTED, MATURITY, NAME, PolicySlots, RewardCells, SlotCodes, n_distinct
from receval.warehouse import ColumnReader, progress, require_finite

#: fewest rewarded slots expected in a cell's effective sample for its interval to be read
#: without the ``few_expected_rewards`` caveat (the n p >= 10 rule of a binomial count's
#: normal approximation; docs/ope.md, "What the intervals mean")
MIN_EXPECTED_REWARDED_SLOTS = 10.0
#: estimators on every supported slot (a cell without any gets a row of nulls for each)
SLOT_ESTIMATORS = ("ips", "clipped_ips", "snips", "dm", "dr", "sndr")
_TEXT = ("policy_id", "estimator", "reward", "day", "segment")
_COUNTS = ("n_bootstrap", "n_slots", "n_requests", "n_slots_unsupported")
OUTPUT_COLUMNS = (
    *_TEXT, "estimate", "std_error", "skewness", "ci_low", "ci_high",
    "bootstrap_ci_low", "bootstrap_ci_high", "n_bootstrap", "alpha", "n_slots", "n_requests",
    "n_slots_unsupported", "unsupported_mass", "share_estimated_propensity", "effective_sample_size",
    "max_weight", "mean_weight", "clip", "label_maturity", "expected_share_to_come",
    "expected_rewarded_slots", "std_error_floor", "interval_caveat",
)
# Typed even when empty (a landing zone without propensities): the mart keeps its column types.
OUTPUT_SCHEMA = pa.schema([(c, pa.string() if c in (*_TEXT, "label_maturity", "interval_caveat") else pa.int64() if c in _COUNTS else pa.float64())
                           for c in OUTPUT_COLUMNS])


def _nan_row(policy, name, reward, day, segment, alpha, clip) -> dict[str, Any]:
    row = dict.fromkeys(OUTPUT_COLUMNS, math.nan)
    row.update(policy_id=policy, estimator=name, reward=reward, day=day, segment=segment, alpha=alpha,
               n_bootstrap=0, clip=clip, interval_caveat=None)
    return row


def _exploration_results(s: PolicySlots, cell: np.ndarray, reward: str, min_requests: int, kw: dict,
                         unsupported: float, spread: float) -> tuple[list, float]:
    """Replay (deterministic targets) and position-based IPS on the cell's exploration slots,
    each with its :func:`std_error_floor` priced at ``spread`` (the cell's rewards': the
    slice alone often holds no rare reward at all, and a spread of 0), and the share of those
    slots rewarded."""
    explore = cell[s.flags["is_exploration"][cell]]
    g = s.request[explore]
    if n_distinct(g) < max(min_requests, 1):
        return [], math.nan
    r = s.values[reward][explore]
    pt = s.values["p_target"][explore]
    out = []
    if np.isin(pt, (0.0, 1.0)).all():
        # a slot's logged action is "item at position"; the target's equals it where pt is 1
        matched = (pt == 1.0).astype(np.float64)
        replay = Replay(**kw).estimate_policy_value(
            r, logged_action=np.ones(r.size, np.int8), target_action=matched.astype(np.int8),
            p_log=s.values["p_log"][explore], group_ids=g)
        out.append((replay, std_error_floor(matched / max(matched.sum(), 1.0), spread)))
    slots_per_list = np.bincount(g)[g].astype(np.float64)
    p_log, p_target = s.values["p_log_examined"][explore], np.minimum(s.values["p_target_examined"][explore], 1.0)
    # the mean over lists of each list's weighted rewards per slot
    coefficient = p_target / p_log / slots_per_list / n_distinct(g)
    out.append((PositionBasedIPS(**kw).estimate_policy_value(
        r / slots_per_list, p_log, p_target, group_ids=g, unsupported_mass=unsupported),
        std_error_floor(coefficient, spread)))
    return out, float(np.count_nonzero(r)) / r.size


def std_error_floor(coefficient: np.ndarray, spread: float) -> float:
    r"""The standard error of an estimate :math:`\sum_i a_i r_i` if the rewards did not depend
    on the coefficients: :math:`\hat\sigma_r \sqrt{\sum_i a_i^2}`, ``spread`` being
    :math:`\hat\sigma_r`, the :func:`_spread` of the rewards of the estimator's cell.

    The sample standard error sees only the rewards that happened. Where an estimate rests on
    rare rewards (purchases) at rare large weights (items the logging policy shows only when
    it explores), a sample that saw no rewarded high-weight slot has a small estimate and a
    small standard error together, and its interval misses the value above it. The floor
    prices every slot's weight at the reward's spread over all slots; with :math:`\lambda`
    rewarded slots expected in the weights' effective sample, it is the value over
    :math:`\sqrt\lambda` (a Poisson count's error), so a sample that saw none of them still
    covers while :math:`1.96 \sqrt\lambda \ge \lambda`, up to about 3.8 expected.
    """
    return spread * math.sqrt(float(np.dot(coefficient, coefficient)))


def _spread(values: np.ndarray) -> float:
    """Sample standard deviation (NaN under 2 values)."""
    return float(np.std(values, ddof=1)) if values.size >= 2 else math.nan


def _widened(row: dict[str, Any], se: float, alpha: float) -> dict[str, Any]:
    """The row with ``std_error`` raised to ``se`` and its interval rebuilt: what raises it adds
    variance but no third moment, so the skewness shrinks by ``(std_error / se)^3``."""
    skew = row["skewness"] * (row["std_error"] / se) ** 3
    lo, hi = skew_corrected_interval(row["estimate"], se, skew, alpha)
    return {**row, "std_error": se, "skewness": skew, "ci_low": lo, "ci_high": hi}


def _with_floor(row: dict[str, Any], floor: float, alpha: float) -> dict[str, Any]:
    """The row with its ``std_error_floor``, :func:`_widened` to it where its sample's
    standard error cannot be read (under :data:`MIN_EXPECTED_REWARDED_SLOTS` expected
    rewarded slots) and the floor is above it. Above the threshold the sample's own is kept:
    the floor prices the large weights at the reward's spread over every slot, which
    overstates the error of a target that shows fewer rewarded items than the logging
    policy does."""
    row = {**row, "std_error_floor": floor}
    se = row["std_error"]
    if (not row["expected_rewarded_slots"] >= MIN_EXPECTED_REWARDED_SLOTS and math.isfinite(floor)
            and math.isfinite(row["estimate"]) and math.isfinite(se) and floor > se):
        row = _widened(row, floor, alpha)
    return row


def _interval_caveat(estimator: str, max_weight: float, clip: float, expected_rewarded: float) -> str | None:
    """Why the row's interval may not cover the policy's value, or None: DM's interval is its
    reward model's sampling error, not its bias; clipped IPS is biased once a weight reaches
    the clip; and a normal interval (even skewness-corrected) undercovers when the effective
    sample holds fewer than :data:`MIN_EXPECTED_REWARDED_SLOTS` rewarded slots: a sample that
    saw none of the rare high-weight rewards has an estimate and a standard error both too
    small."""
    if estimator == "dm":
        return "reward_model_bias"
    if estimator == "clipped_ips" and max_weight >= clip:
        return "clipping_bias"
    if not expected_rewarded >= MIN_EXPECTED_REWARDED_SLOTS:
        return "few_expected_rewards"
    return None


def _cell_rows(s: PolicySlots, cell: np.ndarray, policy: str, reward: str, day: str, segment: str, *,
               clip: float, alpha: float, n_bootstrap: int, random_state: int,
               min_requests: int) -> list[dict[str, Any]]:
    """The output rows of every estimator on one cell (``cell``: its rows of ``s``)."""
    support = s.flags["has_support"][cell]
    sup = cell[support]
    p_target = s.values["p_target"][cell]   # nansum: a null probability counts as 0
    common = dict(policy_id=policy, reward=reward, day=day, segment=segment,
                  n_slots_unsupported=int((~support).sum()),
                  share_estimated_propensity=float(s.flags["estimated"][sup].mean()) if sup.size else math.nan)
    total = np.nansum(p_target)
    unsupported = float(np.nansum(p_target[~support]) / max(total, 1e-300)) if total > 0 \
        else float((~support).mean())
    if sup.size == 0:
        rows = []
        for name in SLOT_ESTIMATORS:
            row = _nan_row(policy, name, reward, day, segment, alpha, clip if name == "clipped_ips" else None)
            row.update(common, unsupported_mass=unsupported, n_slots=0, n_requests=0)
            rows.append(row)
        return rows
    g = s.request[sup]
    qh = s.q(reward, sup)
    kw = dict(alpha=alpha, n_bootstrap=n_bootstrap, random_state=random_state)
    data = dict(reward=s.values[reward][sup], p_log=s.values["p_log"][sup], p_target=s.values["p_target"][sup],
                group_ids=g, unsupported_mass=unsupported)
    results = [est.estimate_policy_value(**data) for est in (IPS(**kw), IPS(clip=clip, **kw), SNIPS(**kw))]
    if np.isfinite(qh).all():
        results.append(DirectMethod(**kw).estimate_policy_value(
            q_hat_target=qh, group_ids=g, unsupported_mass=unsupported))
        results += [est.estimate_policy_value(**data, q_hat_logged=qh, q_hat_target=qh)
                    for est in (DoublyRobust(**kw), SelfNormalizedDoublyRobust(**kw))]
    spread = _spread(data["reward"])
    explored, explored_rewarded = _exploration_results(s, cell, reward, min_requests, kw, unsupported, spread)
    # each estimator's coefficients of the slots' rewards and the spread its floor takes (DR,
    # SNDR: the reward model's residuals'); DM reads no reward
    w = data["p_target"] / data["p_log"]
    residual_spread = _spread(data["reward"] - qh)
    floor_terms = {"ips": (w / w.size, spread), "clipped_ips": (np.minimum(w, clip) / w.size, spread),
                   "snips": (w / max(w.sum(), 1e-300), spread), "dr": (w / w.size, residual_spread),
                   "sndr": (w / max(w.sum(), 1e-300), residual_spread)}
    floors = [(res, std_error_floor(*floor_terms[res.estimator]) if res.estimator in floor_terms else math.nan)
              for res in results]
    # the share of the estimator's slots rewarded, times its weights' effective sample size:
    # how many rewarded slots the estimate rests on if rewards do not depend on the weights
    rewarded = float(np.count_nonzero(data["reward"])) / data["reward"].size
    rows = []
    for (res, floor), share in [(f, rewarded) for f in floors] + [(f, explored_rewarded) for f in explored]:
        expected = share * res.effective_sample_size
        row = {k: getattr(res, k) for k in OUTPUT_COLUMNS if hasattr(res, k)}   # not to_dict: it deep-copies
        row.update(common, estimator=res.estimator, n_slots=int(res.n),
                   n_requests=int(res.n_groups or 0), unsupported_mass=unsupported, expected_rewarded_slots=expected,
                   interval_caveat=_interval_caveat(res.estimator, res.max_weight, clip, expected))
        rows.append(_with_floor(row, floor, alpha))
    return rows


def _with_curve_error(s: PolicySlots, cell: np.ndarray, reward: str, rows: list[dict], alpha: float) -> list[dict]:
    """The cell's corrected-reward rows with the delay curve's error bound added to their
    standard errors (module docstring), :func:`_widened`."""
    sup = cell[s.flags["has_support"][cell]]
    wy = s.values["p_target"][sup] / s.values["p_log"][sup] * s.values[reward][sup]
    total = float(wy.sum())
    rho = float((wy * s.values["arrival_relative_error"][sup]).sum()) / total if total > 0 else 0.0
    out = []
    for row in rows:
        if rho > 0 and row["estimate"] != 0 and np.isfinite(row["estimate"]) and np.isfinite(row["std_error"]):
            row = _widened(row, math.sqrt(row["std_error"] ** 2 + (row["estimate"] * rho) ** 2), alpha)
        out.append(row)
    return out


def _share_to_come(s: PolicySlots, cell: np.ndarray, reward: str) -> float | None:
    """1 - (reward seen) / (corrected reward) over the cell's supported slots: the expected
    share of their eventual reward still to come (None when the corrected total is 0)."""
    sup = cell[s.flags["has_support"][cell]]
    return share_to_come(s.values[CORRECTED[reward]][sup].sum(), s.values[reward][sup].sum())


def estimate_policy_values(
    slots: ColumnReader | pa.Table | pd.DataFrame,
    *,
    clip: float = 20.0,
    alpha: float = 0.05,
    n_bootstrap: int = 200,
    random_state: int = 0,
    min_requests: int = 20,
    n_folds: int = 5,
    read_rows: int | None = None,
) -> pa.Table:
    """Estimate each target policy's per-slot value with every estimator.

    Parameters
    ----------
    slots : ColumnReader, Arrow table or DataFrame
        ``int_cf__policy_slots``: policy_id, event_id, request_id, position,
        impression_date, surface, device, p_log, propensity_source, p_target, has_support,
        is_exploration, p_log_examined, p_target_examined, click, purchase, revenue,
        is_click_label_mature, is_label_mature, and optionally arrival_probability (the
        click's, null for an unclicked slot; without the column there are no corrected rows).
        A reader's relation is read a policy at a time (:mod:`receval.ope.slots`).
    clip : float
        Threshold of clipped IPS.
    alpha : float
        Intervals have coverage ``1 - alpha``.
    n_bootstrap : int
        Bootstrap replicates (request-clustered), for the overall cell of each policy and
        reward only (the per-day and per-segment cells carry the analytic interval).
    random_state : int
        Seed of the bootstrap and of the reward model's folds.
    min_requests : int
        Smallest day or segment cell estimated, in requests.
    n_folds : int
        Cross-fitting folds of the reward model.
    read_rows : int, optional
        Most rows of one read: the reward model's reads take runs of days of at most this
        many slots, a policy's slots arrive in pieces of about this many. None: all at once.
        The estimates do not depend on it.

    Returns
    -------
    pyarrow.Table
        One row per (policy_id, estimator, reward, day, segment); columns OUTPUT_COLUMNS.
        The corrected rewards have rows only on cells with an immature slot.
    """
    if not isinstance(slots, ColumnReader):
        table = slots if isinstance(slots, pa.Table) else pa.Table.from_pandas(slots, preserve_index=False)
        require_finite(table, NAME)   # in memory already: checked whole, before any column is read
        slots = ColumnReader(table)
    counts = slots.counts("policy_id")
    policies = sorted(p for p in counts if p is not None)
    if not policies:
        return OUTPUT_SCHEMA.empty_table()
    codes = SlotCodes.read(slots, n_folds, random_state)
    model = RewardCells.fit(slots, codes, n_folds, read_rows)
    rows: list[dict[str, Any]] = []
    for policy in policies:
        progress(f"fct_policy_value_estimates: policy {policy} ({counts[policy]:,} slots)")
        rows += _policy_rows(PolicySlots.read(slots, policy, codes, model, read_rows), policy, clip=clip,
                             alpha=alpha, n_bootstrap=n_bootstrap, random_state=random_state,
                             min_requests=min_requests)
    out = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))
    for col in _COUNTS:
        out[col] = out[col].fillna(0).astype(np.int64)
    return pa.Table.from_pandas(out, schema=OUTPUT_SCHEMA, preserve_index=False)


def _policy_rows(s: PolicySlots, policy: str, *, clip: float, alpha: float, n_bootstrap: int,
                 random_state: int, min_requests: int) -> list[dict[str, Any]]:
    """The rows of every reward and cell of one policy's slots."""
    rows: list[dict[str, Any]] = []
    for reward in s.rewards:
        labelled = np.flatnonzero(s.flags[f"has_{reward}"])
        if labelled.size == 0:
            continue
        mature = s.flags[MATURITY[CORRECTED.get(reward, reward)]]
        for day, segment, cell in s.cells(labelled, min_requests):
            kw = dict(clip=clip, alpha=alpha, n_bootstrap=n_bootstrap if (day == "all" and segment == "all") else 0,
                      random_state=random_state, min_requests=min_requests)
            extra: dict[str, Any] = {"label_maturity": label_maturity(mature[cell]), "expected_share_to_come": None}
            if reward not in CORRECTED:
                cell_rows = _cell_rows(s, cell, policy, reward, day, segment, **kw)
            elif mature[cell].all():   # the plain row says it: corrected = naive exactly
                continue
            elif s.flags["corrected_unknown"][cell].any():
                cell_rows = [{**_nan_row(policy, name, reward, day, segment, alpha,
                                         clip if name == "clipped_ips" else None), "n_slots": 0, "n_requests": 0}
                             for name in SLOT_ESTIMATORS]
            else:
                cell_rows = _with_curve_error(s, cell, reward, _cell_rows(
                    s, cell, policy, reward, day, segment, **{**kw, "n_bootstrap": 0}), alpha)
                extra["expected_share_to_come"] = _share_to_come(s, cell, reward)
            rows += [{**row, **extra} for row in cell_rows]
    return rows
