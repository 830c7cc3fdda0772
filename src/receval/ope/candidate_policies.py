"""Target-policy tables of the candidate models: top-K and Plackett-Luce over a request's
logged candidate set.

The kernel behind ``int_cf__candidate_target_policies``. Each candidate model that scored
the logged candidates (``int_cf__candidate_scores``, click task) defines two target
policies over every request's candidate set:

``<model_id>_top_k``
    Deterministic: the K candidates with the highest calibrated click score, in order
    (:func:`receval.ope.target_policies.top_k_marginals`).
``<model_id>_softmax``
    Stochastic: Plackett-Luce (softmax sampling without replacement) with weights
    ``exp(logit(score) / temperature)`` -- so the temperature is on the log-odds scale the
    models are fitted on -- and position marginals by Rao-Blackwellised Monte Carlo
    (:func:`receval.ope.target_policies.plackett_luce_marginals`). Every candidate has
    positive probability at every position, so importance weighting has support wherever
    the logging policy explored.

Output rows follow the target-policy contract (policy_id, request_id, item_id, position,
target_probability). ``rows="shown"`` lists the candidates the logging policy showed at
every position (all that the slot-level and position-based estimators read) plus, for a
deterministic policy, its whole list; ``rows="all"`` lists every candidate at every
position with positive probability (the whole distribution, e.g. for its true value).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from receval.models.calibration import logit
from receval.ope.target_policies import plackett_luce_marginals, slot_marginals_table, top_k_marginals

POLICY_SCHEMA = pa.schema([
    ("policy_id", pa.string()), ("request_id", pa.int64()), ("item_id", pa.int64()),
    ("position", pa.int32()), ("target_probability", pa.float64()),
])
# Log-odds of the padding of short candidate sets: far below any clipped score (|logit| < 14),
# so a padded column gets no probability (its rows are dropped all the same).
_PAD = -1e6


def _score_matrices(rows: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(request ids (n,), item ids (n, C), log-odds scores (n, C)) of the requests with at
    least ``k`` candidates; sets smaller than the largest are padded with _PAD scores and
    negative item ids (-1, -2, ...: distinct, and never a real item)."""
    rows = rows.sort_values(["request_id", "item_id"], kind="stable")
    sizes = rows.groupby("request_id", sort=True).size()
    sizes = sizes[sizes >= k]
    rows = rows[rows["request_id"].isin(sizes.index)]
    n, c = len(sizes), int(sizes.max()) if len(sizes) else 0
    items = np.broadcast_to(-np.arange(1, c + 1, dtype=np.int64), (n, c)).copy()
    logits = np.full((n, c), _PAD)
    row = np.repeat(np.arange(n), sizes.to_numpy())
    col = np.arange(len(rows)) - np.repeat(np.cumsum(sizes.to_numpy()) - sizes.to_numpy(), sizes.to_numpy())
    items[row, col] = rows["item_id"].to_numpy(np.int64)
    logits[row, col] = logit(rows["calibrated_score"].to_numpy(np.float64))
    return sizes.index.to_numpy(np.int64), items, logits


def candidate_policy_table(
    scores: pa.Table | pd.DataFrame,
    shown: pa.Table | pd.DataFrame,
    *,
    k: int,
    temperature: float = 1.0,
    n_samples: int = 256,
    random_state: int = 0,
    rows: str = "shown",
) -> pa.Table:
    """The top-K and Plackett-Luce target policies of every candidate model.

    Parameters
    ----------
    scores : Arrow table or DataFrame
        One row per (model_id, request_id, item_id) candidate with ``calibrated_score`` in
        (0, 1): the click task of ``int_cf__candidate_scores``.
    shown : Arrow table or DataFrame
        request_id, item_id of the logged slots (used only with ``rows="shown"``).
    k : int
        Length of the target lists (the logged list length).
    temperature, n_samples, random_state
        Plackett-Luce temperature on the log-odds scale, Monte Carlo rankings per request
        and seed (the same seed gives the same marginals).
    rows : {"shown", "all"}
        Which rows to list (see the module docstring).

    Returns
    -------
    pyarrow.Table
        POLICY_SCHEMA rows, sorted by policy, request, item and position.
    """
    if rows not in ("shown", "all"):
        raise ValueError(f"`rows` must be 'shown' or 'all', got {rows!r}")
    frame = scores.to_pandas() if isinstance(scores, pa.Table) else scores
    missing = {"model_id", "request_id", "item_id", "calibrated_score"} - set(frame.columns)
    if missing:
        raise ValueError(f"`scores` lacks the columns {sorted(missing)}")
    shown_frame = shown.to_pandas() if isinstance(shown, pa.Table) else shown
    shown_keys = pd.MultiIndex.from_frame(shown_frame[["request_id", "item_id"]].astype(np.int64))
    parts = []
    for model_id, model_rows in frame.groupby("model_id", sort=True):
        request_ids, items, logits = _score_matrices(model_rows, k)
        if not len(request_ids):
            continue
        policies = {
            f"{model_id}_top_k": top_k_marginals(logits, k),
            f"{model_id}_softmax": plackett_luce_marginals(
                logits, k, temperature=temperature, n_samples=n_samples, random_state=random_state),
        }
        listed = items >= 0   # not padding
        if rows == "shown":
            flat = pd.MultiIndex.from_arrays([np.repeat(request_ids, items.shape[1]), items.ravel()])
            shown_mask = flat.isin(shown_keys).reshape(items.shape)
        for policy_id, marginals in policies.items():
            keep = listed & shown_mask if rows == "shown" and policy_id.endswith("_softmax") else listed
            table = slot_marginals_table(request_ids, items, marginals * keep[:, :, None])
            parts.append(table.assign(policy_id=policy_id))
    if not parts:
        return POLICY_SCHEMA.empty_table()
    out = pd.concat(parts, ignore_index=True).sort_values(
        ["policy_id", "request_id", "item_id", "position"], kind="stable")
    return pa.Table.from_pandas(out, schema=POLICY_SCHEMA, preserve_index=False)
