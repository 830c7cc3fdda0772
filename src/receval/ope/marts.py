"""Every estimator for every target policy, reward and slice of a logged-slot table.

The kernel behind the ``fct_policy_value_estimates`` mart: it takes the rows of
``int_cf__policy_slots`` (one per target policy x logged slot) as an Arrow table and
returns one row per (policy_id, estimator, reward, day, segment) with the estimate, its
standard error, analytic and bootstrap ``1 - alpha`` intervals, n and the weight diagnostics.

The unit of a value is one impression slot (the per-slot rate: a list's value is K times
it); the rounds are slots and the clusters of the interval are requests (the list).

Replay and position-based IPS (``pbm_ips``) use only the slots of the uniform-random
exploration slice (``is_exploration``): replay for deterministic targets (every target
probability there 0 or 1: the logged item at the logged position, or not), PBM with the
examination-weighted propensities ``p_log_examined`` / ``p_target_examined`` (its
per-list value divided by the list's slots, to stay per slot).

Reward model (DM, DR, SNDR): a cross-fitted :class:`receval.ope.RewardModel` of the reward
on the slot's position (the action) and the request's context (surface, device), fitted once
per reward on the distinct logged slots. It does not depend on the item, so for a target
that fills every position of the list, ``q_hat(x, pi) = q_hat(x, position)`` exactly at each
slot (the target's mass at a position sums to 1 whatever items it puts there): DR stays
unbiased with the logged propensities, and DM shows what ignoring the items costs.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from receval.ope.direct import DirectMethod, RewardModel
from receval.ope.doubly_robust import DoublyRobust, SelfNormalizedDoublyRobust
from receval.ope.ips import IPS, SNIPS
from receval.ope.ranking import PositionBasedIPS
from receval.ope.replay import Replay
from receval.warehouse import require_finite

REWARDS = ("click", "purchase", "revenue")
#: estimators on every supported slot (a cell without any gets a row of nulls for each)
SLOT_ESTIMATORS = ("ips", "clipped_ips", "snips", "dm", "dr", "sndr")
#: label maturity column each reward needs (immature labels are excluded)
MATURITY = {"click": "is_click_label_mature", "purchase": "is_label_mature", "revenue": "is_label_mature"}
CONTEXT = ("surface", "device")
FLAGS = ("has_support", "is_exploration", "is_click_label_mature", "is_label_mature")
INPUT_COLUMNS = ("policy_id", "event_id", "request_id", "position", "impression_date", *CONTEXT, "p_log",
                 "propensity_source", "p_target", *FLAGS, "p_log_examined", "p_target_examined", *REWARDS)
_TEXT = ("policy_id", "estimator", "reward", "day", "segment")
_COUNTS = ("n_bootstrap", "n_slots", "n_requests", "n_slots_unsupported")
OUTPUT_COLUMNS = (
    *_TEXT, "estimate", "std_error", "ci_low", "ci_high",
    "bootstrap_ci_low", "bootstrap_ci_high", "n_bootstrap", "alpha", "n_slots", "n_requests",
    "n_slots_unsupported", "unsupported_mass", "share_estimated_propensity", "effective_sample_size",
    "max_weight", "mean_weight", "clip",
)
# Typed even when empty (a landing zone without propensities): the mart keeps its column types.
OUTPUT_SCHEMA = pa.schema([(c, pa.string() if c in _TEXT else pa.int64() if c in _COUNTS else pa.float64())
                           for c in OUTPUT_COLUMNS])


def _context_features(frame: pd.DataFrame) -> np.ndarray:
    cols = [pd.get_dummies(frame[c].fillna("unknown"), prefix=c, dtype=float) for c in CONTEXT]
    x = pd.concat(cols, axis=1).to_numpy()
    return x if x.shape[1] else np.zeros((len(frame), 1))


def _cell_means(keys: np.ndarray, reward: np.ndarray, fold: np.ndarray, n_folds: int,
                prior: float = 20.0) -> np.ndarray:
    """Cross-fitted cell means: each round gets the mean of its cell over the other folds,
    shrunk towards the other folds' overall mean with ``prior`` pseudo-rounds."""
    n_cells = int(keys.max()) + 1
    tot_s = np.bincount(keys, weights=reward, minlength=n_cells)
    tot_n = np.bincount(keys, minlength=n_cells).astype(float)
    out = np.empty(reward.size)
    for f in range(n_folds):
        te = fold == f
        s_f = tot_s - np.bincount(keys[te], weights=reward[te], minlength=n_cells)
        n_f = tot_n - np.bincount(keys[te], minlength=n_cells)
        grand = s_f.sum() / max(n_f.sum(), 1.0)
        out[te] = ((s_f + prior * grand) / (n_f + prior))[keys[te]]
    return out


def fit_reward_models(slots: pd.DataFrame, *, n_folds: int = 5, random_state: int = 0,
                      model: str = "cell") -> pd.DataFrame:
    """Cross-fitted q_hat(x, position) per distinct logged slot and reward.

    ``model="cell"`` (default): the saturated model of the reward on (position, surface,
    device) -- cross-fitted cell means, shrunk towards the fold mean -- which is what a
    regression on those one-hot features converges to, in one pass over the data.
    Otherwise a :class:`receval.ope.RewardModel` of that kind ("ridge", "logistic",
    "gbm", "auto") on the same features. Folds keep whole requests together.

    Returns a frame indexed by event_id with one column ``q_<reward>`` per reward (NaN where
    the reward's label is immature).
    """
    distinct = slots.drop_duplicates("event_id").reset_index(drop=True)
    out = pd.DataFrame(index=pd.Index(distinct["event_id"], name="event_id"))
    n_actions = int(distinct["position"].max())
    ctx_codes = pd.MultiIndex.from_frame(distinct[list(CONTEXT)].fillna("unknown")).factorize()[0]
    cell = ctx_codes.astype(np.int64) * n_actions + (distinct["position"].to_numpy(np.int64) - 1)
    # sorted codes: the folds depend on the requests, not on the order rows arrive in
    req_codes = pd.factorize(distinct["request_id"], sort=True)[0]
    fold = np.random.default_rng(random_state).integers(0, n_folds, req_codes.max() + 1)[req_codes]
    x = _context_features(distinct) if model != "cell" else None
    for reward in REWARDS:
        q = np.full(len(distinct), np.nan)
        # a null reward is unobserved (no conversions log): left out like an immature one
        mature = distinct[MATURITY[reward]].fillna(False).to_numpy(bool) & distinct[reward].notna().to_numpy()
        if mature.sum() >= 2 * n_folds and distinct.loc[mature, "request_id"].nunique() >= n_folds:
            sub = distinct[mature]
            r = sub[reward].to_numpy(np.float64)
            a = sub["position"].to_numpy(np.int64) - 1
            if np.ptp(r) == 0:
                q[mature] = r[0]
            elif model == "cell":
                q[mature] = _cell_means(cell[mature], r, fold[mature], n_folds)
            else:
                pred = RewardModel(model, n_folds=n_folds, random_state=random_state).fit_predict(
                    x[mature], a, r, n_actions, group_ids=sub["request_id"].to_numpy())
                q[mature] = pred[np.arange(len(sub)), a]
        out[f"q_{reward}"] = q
    return out


def _cells(frame: pd.DataFrame, min_requests: int):
    """(day, segment, row mask) for the overall cell, each day and each surface."""
    yield "all", "all", np.ones(len(frame), bool)
    days = frame["impression_date"].astype(str).to_numpy()
    for day in sorted(set(days)):
        mask = days == day
        if frame.loc[mask, "request_id"].nunique() >= min_requests:
            yield day, "all", mask
    surfaces = frame["surface"].fillna("unknown").to_numpy()
    for surface in sorted(set(surfaces)):
        mask = surfaces == surface
        if frame.loc[mask, "request_id"].nunique() >= min_requests:
            yield "all", f"surface={surface}", mask


def _to_frame(table: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """The slots as a DataFrame of the columns the estimators read, its text columns
    categoricals: tens of millions of rows with a Python string per cell would take several
    times the memory of the numbers. Missing context is 'unknown', dates are ISO strings
    and a missing flag is false before the conversion."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    table = table.select([c for c in table.column_names if c in INPUT_COLUMNS])
    for name in FLAGS:
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, pc.fill_null(table[name], False))
    for name in (*CONTEXT, "impression_date"):
        if name in table.column_names:
            column = pc.cast(table[name], pa.string())
            table = table.set_column(table.column_names.index(name), name, pc.fill_null(column, "unknown"))
    frame = table.to_pandas(strings_to_categorical=True)
    for name in frame.select_dtypes("category"):   # sorted categories: row order of no consequence
        frame[name] = frame[name].cat.reorder_categories(sorted(frame[name].cat.categories))
    return frame


def _nan_row(policy, name, reward, day, segment, alpha, clip) -> dict[str, Any]:
    row = dict.fromkeys(OUTPUT_COLUMNS, math.nan)
    row.update(policy_id=policy, estimator=name, reward=reward, day=day, segment=segment, alpha=alpha,
               n_bootstrap=0, clip=clip)
    return row


def _exploration_results(cell: pd.DataFrame, reward: str, min_requests: int, kw: dict,
                         unsupported: float) -> list:
    """Replay (deterministic targets) and position-based IPS on the cell's exploration slots."""
    explore = cell[cell["is_exploration"].to_numpy(bool)]
    if explore["request_id"].nunique() < max(min_requests, 1):
        return []
    r = explore[reward].to_numpy(np.float64)
    g = explore["request_id"].to_numpy()
    pt = explore["p_target"].to_numpy(np.float64)
    out = []
    if np.isin(pt, (0.0, 1.0)).all():
        # a slot's logged action is "item at position"; the target's equals it where pt is 1
        out.append(Replay(**kw).estimate_policy_value(
            r, logged_action=np.ones(r.size, np.int8), target_action=(pt == 1.0).astype(np.int8),
            p_log=explore["p_log"].to_numpy(np.float64), group_ids=g))
    slots_per_list = explore.groupby("request_id")["request_id"].transform("size").to_numpy(np.float64)
    out.append(PositionBasedIPS(**kw).estimate_policy_value(
        r / slots_per_list, explore["p_log_examined"].to_numpy(np.float64),
        np.minimum(explore["p_target_examined"].to_numpy(np.float64), 1.0), group_ids=g,
        unsupported_mass=unsupported))
    return out


def estimate_policy_values(
    table: pa.Table | pd.DataFrame,
    *,
    clip: float = 20.0,
    alpha: float = 0.05,
    n_bootstrap: int = 200,
    random_state: int = 0,
    min_requests: int = 20,
    n_folds: int = 5,
    reward_model: str = "cell",
) -> pa.Table:
    """Estimate each target policy's per-slot value with every estimator.

    Parameters
    ----------
    table : Arrow table or DataFrame
        ``int_cf__policy_slots``: policy_id, event_id, request_id, position,
        impression_date, surface, device, p_log, propensity_source, p_target, has_support,
        is_exploration, p_log_examined, p_target_examined, click, purchase, revenue,
        is_click_label_mature, is_label_mature.
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
    reward_model : {"cell", "ridge", "logistic", "gbm", "auto"}
        The reward model behind DM / DR / SNDR (see :func:`fit_reward_models`).

    Returns
    -------
    pyarrow.Table
        One row per (policy_id, estimator, reward, day, segment); columns OUTPUT_COLUMNS.
    """
    require_finite(table, "int_cf__policy_slots")
    frame = _to_frame(table)
    # The engine returns rows in no set order; bootstrap draws and folds must not depend on it.
    frame = frame.sort_values(["policy_id", "event_id"], kind="stable").reset_index(drop=True)
    if frame.empty:
        return OUTPUT_SCHEMA.empty_table()
    q = fit_reward_models(frame[frame["has_support"]], n_folds=n_folds, random_state=random_state,
                          model=reward_model)
    frame = frame.join(q, on="event_id")
    rows: list[dict[str, Any]] = []
    for policy, pframe in frame.groupby("policy_id", sort=True, observed=True):
        for reward in REWARDS:
            rframe = pframe[pframe[MATURITY[reward]] & pframe[reward].notna()].reset_index(drop=True)
            if rframe.empty:
                continue
            for day, segment, mask in _cells(rframe, min_requests):
                cell = rframe if mask.all() else rframe[mask]
                support = cell["has_support"].to_numpy(bool)
                sup = cell[support]
                boot = n_bootstrap if (day == "all" and segment == "all") else 0
                common = dict(policy_id=policy, reward=reward, day=day, segment=segment,
                              n_slots_unsupported=int((~support).sum()),
                              share_estimated_propensity=float((sup["propensity_source"] == "estimated").mean())
                              if len(sup) else math.nan)
                unsupported = float(cell.loc[~support, "p_target"].sum() / max(cell["p_target"].sum(), 1e-300)) \
                    if cell["p_target"].sum() > 0 else float((~support).mean())
                if sup.empty:
                    for name in SLOT_ESTIMATORS:
                        row = _nan_row(policy, name, reward, day, segment, alpha, clip if name == "clipped_ips" else None)
                        row.update(common, unsupported_mass=unsupported, n_slots=0, n_requests=0)
                        rows.append(row)
                    continue
                r = sup[reward].to_numpy(np.float64)
                pl = sup["p_log"].to_numpy(np.float64)
                pt = sup["p_target"].to_numpy(np.float64)
                g = sup["request_id"].to_numpy()
                qh = sup[f"q_{reward}"].to_numpy(np.float64)
                kw = dict(alpha=alpha, n_bootstrap=boot, random_state=random_state)
                data = dict(reward=r, p_log=pl, p_target=pt, group_ids=g, unsupported_mass=unsupported)
                results = [est.estimate_policy_value(**data)
                           for est in (IPS(**kw), IPS(clip=clip, **kw), SNIPS(**kw))]
                if np.isfinite(qh).all():
                    results.append(DirectMethod(**kw).estimate_policy_value(
                        q_hat_target=qh, group_ids=g, unsupported_mass=unsupported))
                    results += [est.estimate_policy_value(**data, q_hat_logged=qh, q_hat_target=qh)
                                for est in (DoublyRobust(**kw), SelfNormalizedDoublyRobust(**kw))]
                results += _exploration_results(cell, reward, min_requests, kw, unsupported)
                for res in results:
                    d = res.to_dict()
                    row = {k: d.get(k) for k in OUTPUT_COLUMNS if k in d}
                    row.update(common, estimator=res.estimator, n_slots=int(res.n),
                               n_requests=int(res.n_groups or 0), unsupported_mass=unsupported)
                    rows.append(row)
    out = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))
    for col in _COUNTS:
        out[col] = out[col].fillna(0).astype(np.int64)
    return pa.Table.from_pandas(out, schema=OUTPUT_SCHEMA, preserve_index=False)
