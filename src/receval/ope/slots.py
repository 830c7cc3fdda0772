r"""The logged slots of ``int_cf__policy_slots`` as the estimators read them: a policy at a time.

``fct_policy_value_estimates`` holds one target policy's slots at once (a policy's overall
cell spans them all), as numpy arrays of numbers and integer codes, never the whole table:
on the large preset it holds 97M slots, two policies of about 48M each, and a frame of
them with their text ids would not fit the machine. Each read is a query in the engine
(:class:`receval.warehouse.ColumnReader`):

1. :class:`SlotCodes`: every request id, sorted, with the cross-fitting fold of those that
   have a supported slot, and the labels of the days, surfaces and devices;
2. :class:`RewardCells`: the reward model's sufficient statistics, from the distinct
   supported slots of a run of days at a time;
3. :class:`PolicySlots`: each policy's slots, streamed in batches, then put in ``event_id``
   order.

The reward model (DM, DR, SNDR) is the saturated model of the reward on the slot's position
(the action) and the request's context (surface, device): cross-fitted cell means, each slot
getting its cell's mean over the other folds, shrunk towards their overall mean. It is fitted
once per reward on the distinct logged slots (a slot's reward does not depend on the target
policy), with whole requests in a fold, so what it needs is a sum and a count per (fold,
cell). It does not depend on the item, so for a target that fills every position of the
list, ``q_hat(x, pi) = q_hat(x, position)`` exactly at each slot (the target's mass at a
position sums to 1 whatever items it puts there): DR stays unbiased with the logged
propensities, and DM shows what ignoring the items costs. Richer reward models
(:class:`receval.ope.RewardModel`) are for use outside the mart.

Rewards: ``click`` (mature click labels), ``purchase`` and ``revenue`` (mature conversion
labels), and the delay-corrected ``purchase_corrected`` and ``revenue_corrected``
(:func:`corrected_rewards`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from receval.monitoring.days import day_batches
from receval.warehouse import ColumnReader, require_finite

#: the plain rewards, on mature labels only
REWARDS = ("click", "purchase", "revenue")
#: delay-corrected reward -> the plain reward it weights by 1 / arrival_probability
CORRECTED = {"purchase_corrected": "purchase", "revenue_corrected": "revenue"}
ALL_REWARDS = (*REWARDS, *CORRECTED)
#: label maturity column each reward needs (immature labels are excluded)
MATURITY = {"click": "is_click_label_mature", "purchase": "is_label_mature", "revenue": "is_label_mature"}
CONTEXT = ("surface", "device")
FLAGS = ("has_support", "is_exploration", "is_click_label_mature", "is_label_mature")
ARRIVAL = ("arrival_probability", "arrival_probability_std_error")
#: what a slot reads of the logged event: the same for every target policy
EVENT_COLUMNS = ("event_id", "request_id", "position", *CONTEXT, *REWARDS, "is_click_label_mature",
                 "is_label_mature", *ARRIVAL)
INPUT_COLUMNS = ("policy_id", "event_id", "request_id", "position", "impression_date", *CONTEXT, "p_log",
                 "propensity_source", "p_target", *FLAGS, "p_log_examined", "p_target_examined", *REWARDS,
                 *ARRIVAL)
NAME = "int_cf__policy_slots"
#: pseudo-slots of the fold's overall mean in each cell mean
PRIOR_SLOTS = 20.0


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """Slots as a DataFrame of the columns the estimators read, its text columns
    categoricals (a Python string per cell would take several times the memory of the
    numbers). Missing context is 'unknown', dates are ISO strings and a missing flag is
    false before the conversion."""
    table = table.select([c for c in table.column_names if c in INPUT_COLUMNS])
    for name in ARRIVAL:   # float even when all null
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, pc.cast(table[name], pa.float64()))
    for name in FLAGS:
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, pc.fill_null(table[name], False))
    for name in (*CONTEXT, "impression_date"):
        if name in table.column_names:
            column = pc.cast(table[name], pa.string())
            table = table.set_column(table.column_names.index(name), name, pc.fill_null(column, "unknown"))
    return table.to_pandas(strings_to_categorical=True)


def corrected_rewards(frame: pd.DataFrame) -> pd.DataFrame:
    r"""The slots with the :data:`CORRECTED` reward columns added, from ``arrival_probability``.

    ``<reward>_corrected`` is the reward itself on a mature slot and where it is 0 (no
    purchase), and ``reward / arrival_probability`` where the purchase is positive on an
    immature slot; null where the plain reward is null (no conversions landed) and NaN where
    it is unknown: an immature slot with a purchase whose arrival probability is null or 0,
    or an immature clicked slot without an arrival probability (the curve is not
    identified, so whether a purchase is still to come is not known). ``corrected_unknown``
    flags those slots. ``arrival_relative_error`` is :math:`s_i / \hat F_i` (the curve's
    standard error of the arrival probability over it) where the reward is weighted, else
    0. Without an ``arrival_probability`` column the frame comes back as is.
    """
    if "arrival_probability" not in frame:
        return frame
    frame = frame.copy()
    arrival = frame["arrival_probability"].to_numpy(np.float64, na_value=np.nan)
    immature = ~frame["is_label_mature"].to_numpy(bool)
    bought = frame["purchase"].to_numpy(np.float64, na_value=np.nan) > 0
    clicked = frame["click"].to_numpy(np.float64, na_value=np.nan) > 0
    unknown = immature & ((bought & ~(arrival > 0)) | (clicked & np.isnan(arrival)))
    weight = np.where(immature & bought & (arrival > 0), arrival, 1.0)
    for reward, base in CORRECTED.items():
        raw = frame[base].to_numpy(np.float64, na_value=np.nan)
        frame[reward] = np.where(unknown, np.nan, raw / weight)
    frame["corrected_unknown"] = unknown & frame["purchase"].notna().to_numpy()
    weighted = immature & bought & (arrival > 0)
    se = (frame["arrival_probability_std_error"].to_numpy(np.float64, na_value=np.nan)
          if "arrival_probability_std_error" in frame else np.zeros(len(frame)))
    frame["arrival_relative_error"] = np.where(weighted, np.nan_to_num(se) / np.where(weighted, arrival, 1.0), 0.0)
    return frame


def labelled(frame: pd.DataFrame, reward: str) -> np.ndarray:
    """Where the slot's ``reward`` is known: a corrected reward wherever it is defined (mature
    or not); a plain one where its label is mature and not null (no conversions log)."""
    if reward in CORRECTED:
        return frame[reward].notna().to_numpy() if reward in frame else np.zeros(len(frame), bool)
    return frame[MATURITY[reward]].to_numpy(bool) & frame[reward].notna().to_numpy()


def _codes(column: pd.Series, labels: pd.Index) -> np.ndarray:
    """The positions in ``labels`` of a column's values (-1 where absent); a categorical's
    distinct values are looked up once."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return labels.get_indexer(column.cat.categories)[column.cat.codes.to_numpy()]
    return labels.get_indexer(column.to_numpy())


def _sorted_unique(values: pa.ChunkedArray | pa.Array) -> pd.Index:
    return pd.Index(pc.unique(values).sort().to_numpy(zero_copy_only=False))


@dataclass
class SlotCodes:
    """The labels every read numbers its rows by, so codes agree across reads: the request
    ids sorted (any integer ids group the rows as the request ids do, and the estimators
    number groups by first appearance), the cross-fitting ``fold`` of each request with a
    supported slot (-1 for the others: drawn in sorted order of those requests, so the folds
    depend on the requests, not on the order rows arrive in), and the sorted days, surfaces
    and devices."""
    requests: pd.Index
    fold: np.ndarray
    days: pd.Index
    surfaces: pd.Index
    devices: pd.Index
    n_positions: int
    day_rows: dict   # slots per impression_date (the reward model's runs of days)

    @classmethod
    def read(cls, reader: ColumnReader, n_folds: int, random_state: int) -> "SlotCodes":
        req = reader.distinct(["request_id", "has_support"])
        if req["request_id"].null_count:
            raise ValueError(f"{NAME}: column `request_id` holds null values")
        requests = _sorted_unique(req["request_id"])
        supported = _sorted_unique(req["request_id"].filter(pc.fill_null(req["has_support"], False)))
        fold = np.full(len(requests), -1, np.int8)
        fold[requests.get_indexer(supported)] = np.random.default_rng(random_state).integers(
            0, n_folds, len(supported))
        context = _to_frame(reader.distinct(["position", *CONTEXT]))
        day_rows = reader.counts("impression_date")
        days = pc.cast(pa.array([d for d in day_rows if d is not None]), pa.string())
        return cls(requests, fold, _sorted_unique(days),
                   *(pd.Index(sorted(context[c].astype(str).unique())) for c in CONTEXT),
                   int(context["position"].max()) if len(context) else 1, day_rows)

    @property
    def n_cells(self) -> int:
        return len(self.surfaces) * len(self.devices) * self.n_positions

    def request_codes(self, frame: pd.DataFrame) -> np.ndarray:
        return _codes(frame["request_id"], self.requests).astype(np.int32)

    def cell_codes(self, frame: pd.DataFrame) -> np.ndarray:
        """The reward model's cell of each slot: (surface, device, position)."""
        surface, device = _codes(frame["surface"], self.surfaces), _codes(frame["device"], self.devices)
        return ((surface * len(self.devices) + device) * self.n_positions
                + frame["position"].to_numpy(np.int64) - 1).astype(np.int32)


class RewardCells:
    """The cross-fitted cell means of each reward: per reward, the sum and count of its
    labelled distinct supported slots per (fold, cell), then ``q[fold, cell]``, the cell's
    mean over the other folds shrunk towards their overall mean by :data:`PRIOR_SLOTS`."""

    def __init__(self, codes: SlotCodes, n_folds: int) -> None:
        self.codes, self.n_folds = codes, n_folds
        shape = (n_folds, codes.n_cells)
        self._sum = {r: np.zeros(shape) for r in ALL_REWARDS}
        self._count = {r: np.zeros(shape) for r in ALL_REWARDS}
        self._requests = {r: np.zeros(len(codes.requests), bool) for r in ALL_REWARDS}
        self._range = {r: (np.inf, -np.inf) for r in ALL_REWARDS}
        self.q: dict[str, np.ndarray | None] = {}

    @classmethod
    def fit(cls, reader: ColumnReader, codes: SlotCodes, n_folds: int, read_rows: int | None) -> "RewardCells":
        """From the distinct supported slots, read a run of days at a time, each run in
        ``event_id`` order (a sum's order must not depend on the engine's)."""
        model = cls(codes, n_folds)
        columns = [c for c in EVENT_COLUMNS if c in reader.column_names]
        for days in day_batches(codes.day_rows, read_rows, f"{NAME}.impression_date"):
            events = reader.distinct(columns, where=[("has_support", [True]), ("impression_date", days)])
            require_finite(events, NAME)
            model.add(corrected_rewards(_to_frame(events.sort_by("event_id"))))
        model.q = {r: model._means(r) for r in ALL_REWARDS}
        return model

    def add(self, events: pd.DataFrame) -> None:
        """Count distinct supported slots (a frame of :data:`EVENT_COLUMNS`, corrected)."""
        requests = self.codes.request_codes(events)
        flat = self.codes.fold[requests].astype(np.int64) * self.codes.n_cells + self.codes.cell_codes(events)
        size = self.n_folds * self.codes.n_cells
        for reward in ALL_REWARDS:
            at = labelled(events, reward)
            if not at.any():
                continue
            r = events[reward].to_numpy(np.float64)[at]
            self._sum[reward] += np.bincount(flat[at], weights=r, minlength=size).reshape(self._sum[reward].shape)
            self._count[reward] += np.bincount(flat[at], minlength=size).reshape(self._sum[reward].shape)
            self._requests[reward][requests[at]] = True
            lo, hi = self._range[reward]
            self._range[reward] = (min(lo, r.min()), max(hi, r.max()))

    def _means(self, reward: str) -> np.ndarray | None:
        """``q[fold, cell]``; None with fewer than 2 slots per fold or requests than folds."""
        total_s, total_n = self._sum[reward], self._count[reward]
        if total_n.sum() < 2 * self.n_folds or self._requests[reward].sum() < self.n_folds:
            return None
        lo, hi = self._range[reward]
        if lo == hi:
            return np.full(total_s.shape, lo)
        all_s, all_n = total_s.sum(axis=0), total_n.sum(axis=0)
        q = np.empty(total_s.shape)
        for f in range(self.n_folds):
            s_f, n_f = all_s - total_s[f], all_n - total_n[f]
            grand = s_f.sum() / max(n_f.sum(), 1.0)
            q[f] = (s_f + PRIOR_SLOTS * grand) / (n_f + PRIOR_SLOTS)
        return q


class PolicySlots:
    """One policy's slots in ``event_id`` order (the order the estimators number requests
    and draw bootstrap resamples in) as numpy arrays: the values the estimators read, flags,
    and the codes of the day, surface, request, fold and reward cell; the reward model's
    ``q`` of any rows on demand."""

    VALUES = ("p_log", "p_target", "p_log_examined", "p_target_examined", *ALL_REWARDS, "arrival_relative_error")

    def __init__(self, parts: list[dict[str, np.ndarray]], codes: SlotCodes, model: RewardCells) -> None:
        self.labels = {"impression_date": codes.days, "surface": codes.surfaces}
        self.model = model
        # in event_id order: the engine's sort would hold the policy's rows in its memory
        order = np.argsort(np.concatenate([p.pop("event_id") for p in parts]), kind="stable")
        merged = {k: np.concatenate([p.pop(k) for p in parts])[order] for k in list(parts[0])}
        del order
        self.day, self.surface, self.request = merged.pop("day"), merged.pop("surface"), merged.pop("request")
        self.fold, self.cell = merged.pop("fold"), merged.pop("cell")
        self.values = {k: merged.pop(k) for k in self.VALUES if k in merged}
        self.rewards = tuple(r for r in ALL_REWARDS if r in self.values)
        self.flags = merged

    @classmethod
    def read(cls, reader: ColumnReader, policy: str, codes: SlotCodes, model: RewardCells,
             read_rows: int) -> "PolicySlots":
        columns = [c for c in INPUT_COLUMNS if c in reader.column_names and c != "policy_id"]
        parts = []
        for batch in reader.batches(columns, where=[("policy_id", [policy])], rows=read_rows):
            require_finite(batch, NAME)
            frame = corrected_rewards(_to_frame(batch))
            parts.append({**cls._arrays(frame, codes), "event_id": frame["event_id"].to_numpy()})
        return cls(parts, codes, model)

    @staticmethod
    def _arrays(frame: pd.DataFrame, codes: SlotCodes) -> dict[str, np.ndarray]:
        requests = codes.request_codes(frame)
        out = {"day": _codes(frame["impression_date"], codes.days).astype(np.int16),
               "surface": _codes(frame["surface"], codes.surfaces).astype(np.int16),
               "request": requests, "fold": codes.fold[requests], "cell": codes.cell_codes(frame)}
        for name in PolicySlots.VALUES:
            if name in frame:
                out[name] = frame[name].to_numpy(np.float64, na_value=np.nan)
        for name in ("has_support", "is_exploration", *MATURITY.values(), "corrected_unknown"):
            if name in frame:
                out[name] = frame[name].to_numpy(bool)
        out["estimated"] = (frame["propensity_source"] == "estimated").to_numpy(bool)
        for reward in ALL_REWARDS:
            if reward in CORRECTED and reward in frame:   # every slot whose conversions landed, mature or not
                out[f"has_{reward}"] = frame[CORRECTED[reward]].notna().to_numpy()
            elif reward in frame:
                out[f"has_{reward}"] = labelled(frame, reward)
        return out

    def q(self, reward: str, rows: np.ndarray) -> np.ndarray:
        """The reward model's prediction at ``rows`` (NaN where the reward is not labelled,
        is unknown, or the model was not fitted)."""
        table = self.model.q.get(reward)
        if table is None:
            return np.full(rows.size, np.nan)
        known = self.flags[f"has_{reward}"][rows] & ~np.isnan(self.values[reward][rows])
        return np.where(known, table[self.fold[rows], self.cell[rows]], np.nan)

    def cells(self, rows: np.ndarray, min_requests: int) -> Iterator[tuple[str, str, np.ndarray]]:
        """(day, segment, rows) for the overall cell of ``rows``, each day and each surface."""
        yield "all", "all", rows
        for code, at in _groups(self.day[rows]):
            if n_distinct(self.request[rows[at]]) >= min_requests:
                yield self.labels["impression_date"][code], "all", rows[at]
        for code, at in _groups(self.surface[rows]):
            if n_distinct(self.request[rows[at]]) >= min_requests:
                yield "all", f"surface={self.labels['surface'][code]}", rows[at]


def _groups(codes: np.ndarray):
    """(code, positions) of each code present, in code order; a code's positions ascend."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    for start, stop in zip(starts, [*starts[1:], codes.size]):
        yield ordered[start], order[start:stop]


def n_distinct(codes: np.ndarray) -> int:
    """Number of distinct non-negative integer codes."""
    return int(np.count_nonzero(np.bincount(codes)))
