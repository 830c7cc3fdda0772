r"""The offline-evaluation marts as tables: one call per mart, Arrow in, Arrow out.

The dbt Python models ``fct_offline_metrics`` and ``fct_reliability_bins`` are thin
wrappers over :func:`offline_metrics_table` and :func:`reliability_bins_table`. Both read
the long table ``int_offline__scored_impressions`` (one row per model x task x
impression: ``model_id, task, request_id, event_id, user_id, score, label, relevance,
impression_date, split`` and the segment columns) and call the metric functions of this
package once per cell, so every number is the same one a user gets by calling
:func:`receval.metrics.report.classification_metrics` /
:func:`receval.metrics.ranking.ranking_metrics` on the cell's rows.

Cells: model x task x split x segment (``all``; each value of every segment column) x
period (``overall`` = the whole split; ``day`` = one impression date). Every segment value
seen for a (model, task) is reported in every (split, period): a combination with no rows
is an *empty segment* row (value null, ``reason`` says so), never a missing row or a 0.

Undefined values are explicit (``value`` null, ``reason`` set): an empty segment, a
segment with one class (AUC, AP), no request with a relevant item (NDCG, MRR, recall),
all scores tied (every ranking metric: the model does not order the segment, so a 0.5 AUC
would be a default, not a measurement), and scores outside [0, 1] (log-loss, Brier,
calibration, ECE: the score is not a probability).

Ranking metrics (NDCG@K, MRR, recall@K) re-rank each logged list by the model's scores;
they are computed on request-level segments only (all, and the columns in
``request_segments``): an item-level segment (category, cold-start) cuts lists apart.

Deltas: for every model other than ``baseline_model``, ``delta_<metric>`` = model -
baseline on the rows both scored (paired by ``event_id``), with paired intervals (the same
bootstrap resamples for both models; paired CLT for means; paired per-request differences
for the ranking metrics).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from .calibration import reliability_bins
from .classification import average_precision, roc_auc, roc_auc_delta
from .ranking import ranking_deltas, ranking_metrics
from .report import classification_metrics
from .results import MetricResult, undefined
from .uncertainty import mean_with_clt
from receval.delayed.corrections import corrected_conversion_metrics, eventual_rate, label_maturity
from receval.delayed.reweighting import EventualRate
from receval.delayed.survival import DelayCurve
from receval._validation import group_codes
from receval.warehouse import ColumnReader, progress, require_finite

__all__ = ["offline_metrics_table", "reliability_bins_table", "OFFLINE_METRICS_SCHEMA",
           "RELIABILITY_BINS_SCHEMA", "SEGMENT_COLUMNS", "REQUEST_SEGMENTS"]

SEGMENT_COLUMNS = ("device", "user_tenure", "item_freshness", "item_category")
REQUEST_SEGMENTS = ("device", "user_tenure")

#: rows of a (model, task, split) the engine hands over at a time (each checked for NaN)
PIECE_ROWS = 1_000_000
REASON_EMPTY = "empty segment: no rows"
REASON_EMPTY_IMMATURE = ("empty segment: no impression with a mature conversion label "
                         "(attribution window still open)")
REASON_NOT_PROB = "score is not a probability (outside [0, 1])"
REASON_TIED = "all scores tied: the model does not rank this segment"

PROB_METRICS = ("log_loss", "brier_score", "calibration_in_the_large", "ece_uniform",
                "ece_quantile", "mean_predicted")
CLASSIFICATION_METRICS = ("roc_auc", "average_precision", "log_loss", "brier_score",
                          "calibration_in_the_large", "ece_uniform", "ece_quantile",
                          "mean_predicted", "observed_rate")

OFFLINE_METRICS_SCHEMA = pa.schema([
    ("model_id", pa.string()), ("task", pa.string()), ("split", pa.string()),
    ("segment_type", pa.string()), ("segment_value", pa.string()),
    ("period", pa.string()), ("impression_date", pa.date32()),
    ("metric", pa.string()), ("baseline_model_id", pa.string()),
    ("value", pa.float64()), ("std_error", pa.float64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("confidence", pa.float64()),
    ("n", pa.int64()), ("n_groups", pa.int64()), ("n_excluded", pa.int64()),
    ("n_rows", pa.int64()), ("n_positive", pa.int64()),
    ("method", pa.string()), ("reason", pa.string()),
    ("model_value", pa.float64()), ("baseline_value", pa.float64()),
    ("label_maturity", pa.string()), ("expected_share_to_come", pa.float64()),
])

RELIABILITY_BINS_SCHEMA = pa.schema([
    ("model_id", pa.string()), ("task", pa.string()), ("split", pa.string()),
    ("strategy", pa.string()), ("bin", pa.int32()),
    ("bin_low", pa.float64()), ("bin_high", pa.float64()), ("n", pa.int64()),
    ("n_positive", pa.int64()),
    ("mean_predicted", pa.float64()), ("observed_rate", pa.float64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("confidence", pa.float64()),
    ("interval_method", pa.string()), ("reason", pa.string()),
])


def _f(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _metric_names(ks: Sequence[int], request_level: bool, delta: bool) -> list[str]:
    names = list(CLASSIFICATION_METRICS)
    if request_level:
        names += [f"ndcg@{k}" for k in ks] + ["mrr"] + [f"recall@{k}" for k in ks]
    if delta:
        names += ["delta_" + m for m in names if m != "observed_rate"]
    return names


def _is_rank_metric(name: str) -> bool:
    base = name.removeprefix("delta_")
    return base in ("roc_auc", "average_precision", "mrr") or "@" in base


def _is_prob_metric(name: str) -> bool:
    return name.removeprefix("delta_") in PROB_METRICS


def cell_metrics(y: np.ndarray, s: np.ndarray, request: np.ndarray, relevance: np.ndarray, *,
                 ks: Sequence[int], request_level: bool, s_baseline: np.ndarray | None = None,
                 group_ids: np.ndarray | None = None, n_bins: int = 10, n_bootstrap: int = 200,
                 random_state: Any = 0, alpha: float = 0.05,
                 empty_reason: str = REASON_EMPTY) -> dict[str, MetricResult]:
    """Every offline metric of one model on one cell's rows (and its deltas vs a baseline).

    ``y`` binary labels, ``s`` the model's scores, ``request`` the request of each row (the
    logged list for the ranking metrics), ``relevance`` the graded relevance, ``group_ids`` the
    bootstrap / cluster unit (default ``request``). ``s_baseline`` (NaN where the baseline
    did not score the row) adds ``delta_*`` results on the rows both scored.
    """
    n = y.size
    group_ids = request if group_ids is None else group_ids
    names = _metric_names(ks, request_level, s_baseline is not None)
    if n == 0:
        return {m: undefined(m, empty_reason, alpha=alpha) for m in names}
    # Dense codes in the ids' sorted order (every metric's grouping and bootstrap draws are
    # unchanged), computed once: each metric's own coding of them is then the fast path.
    group_ids, _ = group_codes(group_ids, "group_ids", sort=True)
    out: dict[str, MetricResult] = {}
    is_prob = bool(np.all((s >= 0) & (s <= 1)))
    tied = bool(s.min() == s.max())
    delta_prob, delta_tied = is_prob, tied
    # A baseline that scored every row as a probability: the model's metrics and the
    # paired deltas come from one classification_metrics call (one bootstrap), the same
    # numbers as from two calls.
    paired_all = (is_prob and s_baseline is not None and not np.isnan(s_baseline).any()
                  and bool(np.all((s_baseline >= 0) & (s_baseline <= 1))))
    if is_prob:
        cm = classification_metrics(y, s, y_prob_baseline=s_baseline if paired_all else None,
                                    group_ids=group_ids, n_bins=n_bins, n_bootstrap=n_bootstrap,
                                    random_state=random_state, alpha=alpha)
        out.update({k: v for k, v in cm.items() if not k.startswith("delta_")})
        out["mean_predicted"] = mean_with_clt(s, name="mean_predicted", group_ids=group_ids,
                                              alpha=alpha, bounds=(0.0, 1.0))
    else:
        boot = dict(group_ids=group_ids, n_bootstrap=n_bootstrap, random_state=random_state, alpha=alpha)
        out["roc_auc"] = roc_auc(y, s, **boot)
        out["average_precision"] = average_precision(y, s, **boot)
    out["observed_rate"] = mean_with_clt(y.astype(np.float64), name="observed_rate",
                                         group_ids=group_ids, alpha=alpha, bounds=(0.0, 1.0))
    if request_level:
        out.update(ranking_metrics(request, s, relevance, k=list(ks), clusters=group_ids,
                                   alpha=alpha))
    if s_baseline is not None:
        both = ~np.isnan(s_baseline)
        yb, sa, sb, rq, gb, rl = y[both], s[both], s_baseline[both], request[both], group_ids[both], relevance[both]
        if yb.size == 0:
            for m in names:
                if m.startswith("delta_"):
                    out[m] = undefined(m, "no rows scored by both the model and the baseline",
                                       alpha=alpha)
        else:
            base_prob = bool(np.all((sb >= 0) & (sb <= 1)))
            if is_prob and base_prob:
                if not paired_all:
                    cm = classification_metrics(yb, sa, y_prob_baseline=sb, group_ids=gb, n_bins=n_bins,
                                                n_bootstrap=n_bootstrap, random_state=random_state,
                                                alpha=alpha)
                out.update({k: v for k, v in cm.items() if k.startswith("delta_")})
                d = mean_with_clt(sa - sb, name="delta_mean_predicted", group_ids=gb,
                                  alpha=alpha)
                out["delta_mean_predicted"] = d
            else:
                out["delta_roc_auc"] = roc_auc_delta(yb, sa, sb, group_ids=gb, n_bootstrap=n_bootstrap,
                                                     random_state=random_state, alpha=alpha)
            if "delta_roc_auc" not in out:  # one class on the paired rows
                out["delta_roc_auc"] = roc_auc_delta(yb, sa, sb, group_ids=gb, n_bootstrap=n_bootstrap,
                                                     random_state=random_state, alpha=alpha)
            if request_level:
                out.update(ranking_deltas(rq, sa, sb, rl, k=list(ks), clusters=gb,
                                          alpha=alpha))
            delta_tied = tied or bool(sb.min() == sb.max())
            delta_prob = is_prob and base_prob
    res: dict[str, MetricResult] = {}
    for m in names:
        r = out.get(m)
        d = m.startswith("delta_")
        if not (delta_prob if d else is_prob) and _is_prob_metric(m):
            r = undefined(m, REASON_NOT_PROB, n=n, alpha=alpha)
        elif (delta_tied if d else tied) and _is_rank_metric(m):
            r = undefined(m, REASON_TIED, n=n, alpha=alpha)
        elif r is None:
            r = undefined(m, "undefined on this segment", n=n, alpha=alpha)
        res[m] = r
    return res


def _rows_of(results: dict[str, MetricResult], key: dict, n_rows: int, n_pos: int,
             baseline_model: str, out: dict[str, list]) -> None:
    for m, r in results.items():
        is_delta = m.startswith("delta_")
        extra = r.extra or {}
        row = dict(key)
        row.update(
            metric=m, baseline_model_id=baseline_model if is_delta else None,
            value=None if r.reason is not None else _f(r.value),
            std_error=_f(r.std_error), ci_low=_f(r.ci_low), ci_high=_f(r.ci_high),
            confidence=1.0 - float(r.alpha), n=int(r.n),
            n_groups=None if r.n_groups is None else int(r.n_groups),
            n_excluded=int(r.n_excluded), n_rows=n_rows, n_positive=n_pos,
            method=r.method, reason=r.reason,
            model_value=_f(extra["model"]) if is_delta and "model" in extra else None,
            baseline_value=_f(extra["baseline"]) if is_delta and "baseline" in extra else None,
        )
        if row["value"] is None and row["reason"] is None:
            row["reason"] = "undefined"
        for c in out:
            out[c].append(row.get(c))


def offline_metrics_table(scored: pa.Table, *, baseline_model: str | None = None,
                          ks: Sequence[int] = (5, 10, 20), n_bins: int = 10, n_bootstrap: int = 200,
                          n_bootstrap_daily: int | None = None, random_state: Any = 0,
                          alpha: float = 0.05, resample_unit: str = "request_id",
                          segment_columns: Sequence[str] = SEGMENT_COLUMNS,
                          request_segments: Sequence[str] = REQUEST_SEGMENTS,
                          conversion_mature_only: bool = True,
                          delay_curve: DelayCurve | None = None, delay_curve_reason: str | None = None,
                          tasks: Sequence[str] = ("click", "conversion"),
                          daily_segment_types: Sequence[str] | None = ("all",)) -> pa.Table:
    """``fct_offline_metrics``: every metric of every model x task x split x segment x period.

    Parameters
    ----------
    scored : pyarrow.Table or receval.warehouse.ColumnReader
        ``int_offline__scored_impressions``, read one (model, task, split) at a time and
        only the columns used.
    baseline_model : str, optional
        The production model the ``delta_*`` rows compare against; None = the model whose
        scores are the served ones (``score_source`` ``served``; no deltas without one).
    ks : list of int
        Cutoffs of NDCG@K and recall@K.
    n_bins : int
        ECE bins (equal-width and equal-mass).
    n_bootstrap, n_bootstrap_daily : int
        Bootstrap replicates over ``resample_unit`` for the overall / daily cells
        (``n_bootstrap_daily`` None = ``n_bootstrap``).
    random_state : int
        Bootstrap seed (the same for every cell; paired deltas share the resamples).
    alpha : float
        Significance level of every interval; the mart's ``confidence`` column is
        ``1 - alpha``.
    resample_unit : {"request_id", "user_id"}
        The unit resampled by the bootstrap and clustered by the CLT standard errors.
    daily_segment_types : list of str or None
        Segment types also reported per day (``period = day``); None = every one.
        Default ``("all",)``: the daily trend of the whole split, the segments overall.
    tasks : list of str
        Tasks reported for every model (a task with no rows gives empty-segment rows).
    conversion_mature_only : bool
        The conversion task's metrics use only rows whose label is mature
        (``is_label_mature``; a cell with none gets empty-segment rows saying so); else
        every row, a purchase still to come counting as none.
    delay_curve, delay_curve_reason : DelayCurve or None, str
        The overall delay curve (:func:`receval.delayed.corrections.fit_overall_curve`).
        Every conversion cell whose labels are not all mature also gets the
        :data:`~receval.delayed.corrections.CORRECTED_CONVERSION_METRICS` on all its rows
        (``elapsed_hours``: impression to the data's end); without a curve the corrected
        ones are undefined with ``delay_curve_reason``.

    Returns
    -------
    pyarrow.Table with :data:`OFFLINE_METRICS_SCHEMA`; grain (model_id, task, split,
    segment_type, segment_value, period, impression_date, metric). ``label_maturity`` is
    the maturity of the cell's labels (all its rows): mature / partial / immature (click:
    mature; null for an empty cell).
    """
    n_bootstrap_daily = n_bootstrap if n_bootstrap_daily is None else n_bootstrap_daily
    reader = scored if isinstance(scored, ColumnReader) else ColumnReader(scored)
    # the key columns (model, task, split) are the piece's own: not read
    used = [c for c in reader.column_names if c in {
        "request_id", "event_id", "score", "label", "relevance", "impression_date", "is_label_mature",
        "elapsed_hours", resample_unit, *segment_columns}]
    if baseline_model is None and "score_source" in reader.column_names:
        served = reader.distinct(["model_id"], [("score_source", ["served"])])["model_id"].to_pylist()
        served = sorted(m for m in served if m is not None)
        baseline_model = served[0] if served else None
    models = sorted(m for m in reader.distinct(["model_id"])["model_id"].to_pylist() if m is not None)
    out: dict[str, list] = {f.name: [] for f in OFFLINE_METRICS_SCHEMA}
    seg_specs = [("all", "segment_all", True)] + [
        (c, c, c in request_segments) for c in segment_columns]
    request_level = {seg_type: level for seg_type, _, level in seg_specs}
    # A cell's eventual rate depends on its impressions only, which most models share.
    rates: dict[bytes, EventualRate | str] = {}

    def rate_of(rows) -> EventualRate | str:
        events = hashlib.blake2b(rows["event_id"].to_numpy().tobytes(), digest_size=16).digest()
        if events not in rates:
            rates[events] = eventual_rate(
                rows["label"].to_numpy(np.int64), rows["elapsed_hours"].to_numpy(np.float64), delay_curve,
                curve_reason=delay_curve_reason, group_ids=rows[resample_unit].to_numpy(), alpha=alpha)
        return rates[events]

    def chunk(model_id: str, task: str, split: str, columns: Sequence[str]) -> pd.DataFrame:
        """One (model, task, split)'s rows, by request and event (the engine returns them in
        no set order; bootstrap draws must not depend on it), sorted in the engine: one Arrow
        copy, given up column by column as the frame is built, the segments categoricals.
        prod_v1's 30.8M train rows of the large preset, sorted in Arrow beside the read and
        then copied whole, took 9.5 GiB before the frame's 4.6 GiB."""
        def checked(pieces):
            for piece in pieces:
                require_finite(piece, "int_offline__scored_impressions")
                yield piece

        order = [k for k in ("request_id", "event_id") if k in columns]
        rows = pa.concat_tables(list(checked(reader.batches(
            columns, [("model_id", [model_id]), ("task", [task]), ("split", [split])],
            order_by=order, rows=PIECE_ROWS))))
        return rows.to_pandas(self_destruct=True, strings_to_categorical=True)

    def append_rows(mt: pd.DataFrame, model_id: str, task: str, split: str, days: list, universe: dict,
                    base: pd.Series | None) -> None:
        """The rows of one model's task on one split (``mt``, over ``days``),
        appended to ``out``: the corrected conversion rows of its immature cells, then every
        cell's metrics, with deltas against ``base`` (the baseline's scores by event_id;
        None for the baseline itself)."""
        mt["segment_all"] = "all"
        maturity: dict = {}
        if task == "conversion" and len(mt):
            mature = mt["is_label_mature"].to_numpy(bool)
            # a cell's rows for the corrections: taken from the columns they read only
            corr = mt[list(dict.fromkeys(["event_id", "label", "score", "elapsed_hours", resample_unit]))]
            for key, rows in _cells(mt, split, days, universe, seg_specs, daily_segment_types):
                maturity[key] = label_maturity(mature[rows])
                if maturity[key] in ("partial", "immature"):
                    _corrected_rows(corr.iloc[rows], key, model_id, maturity[key], rate_of,
                                    resample_unit, alpha, out)
            if conversion_mature_only:
                mt = mt[mature].reset_index(drop=True)
        empty_reason = REASON_EMPTY
        if task == "conversion" and conversion_mature_only:
            empty_reason = REASON_EMPTY_IMMATURE
        sb_all = None if base is None else mt["event_id"].map(base).to_numpy(np.float64)
        y_all = mt["label"].to_numpy(np.int64)
        s_all = mt["score"].to_numpy(np.float64)
        rq_all = mt["request_id"].to_numpy()
        rel_all = mt["relevance"].to_numpy(np.float64)
        g_all = mt[resample_unit].to_numpy()
        for key, rows in _cells(mt, split, days, universe, seg_specs, daily_segment_types):
            _, seg_type, period, _, _ = key
            nb = n_bootstrap if period == "overall" else n_bootstrap_daily
            res = cell_metrics(
                y_all[rows], s_all[rows], rq_all[rows], rel_all[rows], ks=ks,
                request_level=request_level[seg_type],
                s_baseline=None if sb_all is None else sb_all[rows],
                group_ids=g_all[rows], n_bins=n_bins, n_bootstrap=nb,
                random_state=random_state, alpha=alpha, empty_reason=empty_reason)
            cell = _cell_key(model_id, task, key)
            cell["label_maturity"] = (maturity.get(key) if task == "conversion"
                                      else "mature" if rows.size else None)
            _rows_of(res, cell, int(rows.size), int(y_all[rows].sum()), baseline_model, out)

    for model_id in models:
        of_model = [("model_id", [model_id])]
        # Every (task, split, segment value, day) the model has rows for in any task is
        # reported for every task: a cell with no rows is an explicit empty-segment row.
        days = reader.distinct(["split", "impression_date"], of_model).to_pandas()
        split_days = {sp: sorted(d.unique()) for sp, d in days.groupby("split", sort=True)["impression_date"]}
        universe = {col: ["all"] if col == "segment_all" else
                    sorted(v for v in reader.distinct([col], of_model)[col].to_pylist() if v is not None)
                    for _, col, _ in seg_specs}
        # One (task, split) at a time: the large preset's 86M scored rows do not fit in pandas.
        for task in tasks:
            for split, split_dates in split_days.items():
                progress(f"fct_offline_metrics: {model_id}, {task}, {split}")
                base = None
                if model_id != baseline_model:  # no baseline rows: every delta undefined
                    base = (chunk(baseline_model, task, split, ["event_id", "score"]).set_index("event_id")["score"]
                            if baseline_model in models else pd.Series(dtype=np.float64))
                append_rows(chunk(model_id, task, split, used), model_id, task, split, split_dates, universe, base)
    return pa.table(out, schema=OFFLINE_METRICS_SCHEMA)


def _cells(mt, split: str, days: list, universe: dict, seg_specs: list,
           daily_segment_types: Sequence[str] | None):
    """``((split, segment_type, period, date, value), row positions)`` for every cell of a
    model's task rows ``mt`` on one split (over ``days``), in the mart's order; an empty
    cell has no positions."""
    for seg_type, col, _ in seg_specs:
        daily = daily_segment_types is None or seg_type in daily_segment_types
        cells = {("overall", None, v): idx for v, idx in mt.groupby(col).indices.items()}
        if daily:
            cells.update({("day", d, v): idx for (d, v), idx in mt.groupby(["impression_date", col]).indices.items()})
        periods = [("overall", [None])] + ([("day", days)] if daily else [])
        for period, dates in periods:
            for d in dates:
                for v in universe[col]:
                    idx = cells.get((period, d, v))
                    yield (split, seg_type, period, d, v), idx if idx is not None else np.empty(0, np.int64)


def _cell_key(model_id: str, task: str, key: tuple) -> dict:
    split, seg_type, period, d, v = key
    return dict(model_id=model_id, task=task, split=split, segment_type=seg_type, segment_value=str(v),
                period=period, impression_date=None if d is None else _as_date(d))


def _corrected_rows(rows, key: tuple, model_id: str, maturity: str, rate_of, resample_unit: str,
                    alpha: float, out: dict[str, list]) -> None:
    """The naive and delay-corrected conversion rows of one cell with immature labels."""
    y = rows["label"].to_numpy(np.int64)
    s = rows["score"].to_numpy(np.float64)
    is_prob = bool(np.all((s >= 0) & (s <= 1)))
    result = corrected_conversion_metrics(
        y, s, rate_of(rows), group_ids=rows[resample_unit].to_numpy(), alpha=alpha,
        score_reason=None if is_prob else REASON_NOT_PROB)
    cell = dict(_cell_key(model_id, "conversion", key), label_maturity=maturity,
                expected_share_to_come=result.expected_share_to_come)
    _rows_of(result.results, cell, int(y.size), int(y.sum()), None, out)


def _as_date(d):
    import datetime as _dt
    if isinstance(d, _dt.date) and not isinstance(d, _dt.datetime):
        return d
    return pd.Timestamp(d).date()


def reliability_bins_table(scored: Any, *, n_bins: int = 10,
                           strategies: Sequence[str] = ("uniform", "quantile"),
                           alpha: float = 0.05,
                           tasks: Sequence[str] = ("click", "conversion"),
                           conversion_mature_only: bool = True) -> pa.Table:
    """``fct_reliability_bins``: per model x task x split x strategy x bin, the mean
    prediction, the observed rate with its Wilson interval, and the count.

    ``scored``: ``int_offline__scored_impressions``, an Arrow table or a
    :class:`~receval.warehouse.ColumnReader`, read one model at a time and only the columns
    used (the large preset's 86M scored rows, read whole into pandas, took the dbt process
    past 16 GiB with the marts beside it).
    Every bin of the equal-width strategy is kept (empty bins have n = 0 and null means).
    A model whose scores are not probabilities gets one row per (task, split, strategy)
    with ``bin`` -1, null values and the reason; so does a (model, task, split) with no
    rows (e.g. conversions none of whose labels are mature yet).
    """
    import pyarrow.compute as pc

    empty_reason = {"conversion": REASON_EMPTY_IMMATURE} if conversion_mature_only else {}
    reader = scored if isinstance(scored, ColumnReader) else ColumnReader(scored)
    out: dict[str, list] = {f.name: [] for f in RELIABILITY_BINS_SCHEMA}
    for model_id in sorted(m for m in reader.counts("model_id") if m is not None):
        rows = reader.read(["task", "split", "label", "score", "is_label_mature"], [("model_id", [model_id])])
        if conversion_mature_only:
            rows = rows.filter(pc.or_(pc.not_equal(rows["task"], "conversion"),
                                      pc.fill_null(rows["is_label_mature"], False)))
        splits = sorted(s for s in pc.unique(rows["split"]).to_pylist() if s is not None)
        for task, split in ((t, sp) for t in sorted(set(tasks)) for sp in splits):
            g = rows.filter(pc.and_(pc.equal(rows["task"], task), pc.equal(rows["split"], split)))
            y = g["label"].to_numpy().astype(np.int64)
            p = g["score"].to_numpy().astype(np.float64)
            _reliability_rows(model_id, task, split, y, p, n_bins, strategies, alpha,
                              empty_reason.get(task, REASON_EMPTY), out)
    return pa.table(out, schema=RELIABILITY_BINS_SCHEMA)


def _reliability_rows(model_id: str, task: str, split: str, y: np.ndarray, p: np.ndarray, n_bins: int,
                      strategies: Sequence[str], alpha: float, empty_reason: str, out: dict) -> None:
    """The rows of one (model, task, split) cell, appended to ``out``."""
    is_prob = bool(np.all((p >= 0) & (p <= 1)))
    for strategy in strategies:
        key = dict(model_id=model_id, task=task, split=split, strategy=strategy,
                   confidence=1.0 - alpha, interval_method="wilson")
        if not is_prob or y.size == 0:
            row = dict(key, bin=-1, n=int(y.size), n_positive=int(y.sum()),
                       reason=REASON_NOT_PROB if y.size else empty_reason)
            for c in out:
                out[c].append(row.get(c))
            continue
        t = reliability_bins(y, p, n_bins=n_bins, strategy=strategy, alpha=alpha)
        b = np.minimum(np.floor(p * n_bins).astype(np.int64), n_bins - 1) if strategy == "uniform" else None
        for i in range(t.count.size):
            if b is not None:
                npos = int(y[b == i].sum())
            else:
                npos = int(round(t.observed_rate[i] * t.count[i])) if t.count[i] else 0
            row = dict(key, bin=i, bin_low=_f(t.bin_low[i]), bin_high=_f(t.bin_high[i]),
                       n=int(t.count[i]), n_positive=npos,
                       mean_predicted=_f(t.mean_predicted[i]),
                       observed_rate=_f(t.observed_rate[i]),
                       ci_low=_f(t.ci_low[i]), ci_high=_f(t.ci_high[i]),
                       reason=None if t.count[i] else "empty bin")
            for c in out:
                out[c].append(row.get(c))
