r"""The online AUC mart (``fct_online_auc``): how well the served score ranks and how well
it is calibrated, per serving model x day x segment (and per hour of the last day) x
label, with intervals that respect the clustering of impressions in requests, compared
with the model's own figures over the day's reference window.

Per cell (model, grain, day or hour, segment, label) on the rows whose label is mature:

* ``auc``: exact, tie-aware ROC AUC of the served score; standard error: the
  cluster-robust DeLong variance of Obuchowski (1997), clusters = requests
  (:func:`receval.metrics.classification.grouped_roc_auc`); Wald interval in [0, 1].
* ``log_loss``: mean cross-entropy (probabilities clipped as
  :func:`receval.metrics.classification.log_loss` clips), cluster-robust standard error of
  a mean (a ratio of cluster sums, below).
* ``calibration_ratio`` :math:`R = \sum s / \sum y` (mean score / label rate), a ratio of
  means with the cluster-robust delta-method variance
  :math:`\widehat{Var}(R) = \frac{I}{I-1}\sum_k (S_k - R\,Y_k)^2 / (\sum y)^2` over the
  cell's requests ``k`` (Cameron and Miller 2015); interval on the log scale,
  :math:`R\exp(\mp z\,SE/R)` (positive, symmetric in the factor the tolerance is
  stated in).

Log-loss and calibration need probabilities: they are null for a model whose served
scores leave [0, 1] anywhere in the input (a popularity fallback's counts).

Reference and status: the reference AUC of a cell is the :math:`n_+ n_-`-weighted mean of
its *daily* AUCs over the day's reference window (the weights of the AUC's own pair
count; cheap, and not the pooled AUC of the window, which would need the window's rows
re-ranked together); the reference calibration ratio is the window's pooled ratio
:math:`\sum_d S_d / \sum_d Y_d` (the :math:`n_{positive}`-weighted mean of the daily
ratios). On an analysis day the AUC alerts when its upper bound lies below
``reference_auc - auc_drop``, the calibration when its interval lies entirely outside
``[reference / (1 + tolerance), reference * (1 + tolerance)]``. The bounds compared are
at ``alpha / k``, Bonferroni over the ``k`` cells of the model's day (both labels, every
segment and hour): the default world judges ~7,000 cells over its window, and at
``alpha`` each the AUC alone fired ~75 times before its drift. A cell with fewer than
``min_class_count`` positives (or negatives, for the AUC) is not judged (``no_data``):
with a handful of positives the DeLong and delta-method variances are far too small.

Every cell lies within one day, so the impressions are read a run of days at a time (var
``monitoring_read_rows``): the large preset's 51M served rows at once took more than
22 GiB.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from receval import _validation as v
from receval.metrics.classification import grouped_roc_auc
from receval.metrics.uncertainty import z_value
from receval.monitoring.days import day_batches
from receval.monitoring.marts import _as_reader, _as_table, _string_codes

__all__ = ["ONLINE_AUC_SCHEMA", "LABELS", "online_auc_table"]

#: label name -> (label column, maturity column) of int_monitoring__served_impressions
LABELS = {"click": ("is_clicked", "is_click_label_mature"),
          "purchase": ("is_converted", "is_label_mature")}
_COLUMNS = ("request_id", "model_id", "impression_ts", "impression_date", "score")
_WINDOW_COLUMNS = ("impression_date", "reference_start_date", "reference_end_date", "period")
_EPS = float(np.finfo(np.float64).eps)  # log-loss clipping, as metrics.classification.log_loss
_HOUR_US = 3_600_000_000
#: the cell columns that need probabilities (null for a model whose scores leave [0, 1])
_PROBABILITY_COLUMNS = ["log_loss", "log_loss_std_error", "calibration_ratio", "calibration_std_error",
                        "score_sum"]

ONLINE_AUC_SCHEMA = pa.schema([
    pa.field("model_id", pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False),
    pa.field("grain", pa.string(), nullable=False),
    pa.field("impression_date", pa.date32(), nullable=False),
    pa.field("hour_start", pa.timestamp("us")),
    pa.field("segment_type", pa.string(), nullable=False),
    pa.field("segment", pa.string(), nullable=False),
    pa.field("period", pa.string(), nullable=False),
    pa.field("n_impressions", pa.int64(), nullable=False),
    pa.field("n_immature", pa.int64(), nullable=False),
    pa.field("n_requests", pa.int64(), nullable=False),
    pa.field("n_positive", pa.int64(), nullable=False),
    pa.field("label_rate", pa.float64()),
    pa.field("mean_score", pa.float64()),
    pa.field("auc", pa.float64()),
    pa.field("auc_std_error", pa.float64()),
    pa.field("auc_ci_low", pa.float64()),
    pa.field("auc_ci_high", pa.float64()),
    pa.field("log_loss", pa.float64()),
    pa.field("log_loss_std_error", pa.float64()),
    pa.field("calibration_ratio", pa.float64()),
    pa.field("calibration_std_error", pa.float64()),
    pa.field("calibration_ci_low", pa.float64()),
    pa.field("calibration_ci_high", pa.float64()),
    pa.field("reference_start_date", pa.date32(), nullable=False),
    pa.field("reference_end_date", pa.date32(), nullable=False),
    pa.field("reference_n_days", pa.int64(), nullable=False),
    pa.field("reference_auc", pa.float64()),
    pa.field("auc_drop", pa.float64()),
    pa.field("reference_calibration_ratio", pa.float64()),
    pa.field("auc_status", pa.string(), nullable=False),
    pa.field("calibration_status", pa.string(), nullable=False),
    pa.field("alpha", pa.float64(), nullable=False),
    pa.field("min_class_count", pa.int64(), nullable=False),
    pa.field("n_alert_tests", pa.int64(), nullable=False),
    pa.field("alert_alpha", pa.float64()),
    pa.field("auc_drop_tolerance", pa.float64(), nullable=False),
    pa.field("auc_alert_below", pa.float64()),
    pa.field("auc_alert_bound", pa.float64()),
    pa.field("calibration_tolerance", pa.float64(), nullable=False),
    pa.field("calibration_lower_limit", pa.float64()),
    pa.field("calibration_upper_limit", pa.float64()),
    pa.field("calibration_alert_low", pa.float64()),
    pa.field("calibration_alert_high", pa.float64()),
])

_KEY = ["model_id", "label", "segment_type", "segment"]
#: the cells one alert test is corrected for (Bonferroni): one model's day on one grain --
#: both labels, every segment (and hour, on the hourly grain). Thousands of cells are judged
#: over a window; per-cell tests would fire on chance alone.
_FAMILY = ["model_id", "grain", "impression_date"]


def online_auc_table(impressions: Any, windows: Any, *, segments: Sequence[str] = (),
                     alpha: float = 0.05, auc_drop: float = 0.02,
                     calibration_tolerance: float = 0.2, min_class_count: int = 30,
                     read_rows: int | None = None) -> pa.Table:
    """The rows of ``fct_online_auc`` (schema :data:`ONLINE_AUC_SCHEMA`).

    Parameters
    ----------
    impressions : pyarrow Table, DataFrame or receval.warehouse.ColumnReader
        One row per served impression (int_monitoring__served_impressions): request_id,
        model_id, impression_ts, impression_date, score (null rows are left out: a log
        without served scores gives an empty table), the label and maturity columns of
        :data:`LABELS` and the ``segments`` columns.
    windows : pyarrow Table or DataFrame
        int_monitoring__reference_windows: impression_date, reference_start_date,
        reference_end_date, period -- a row for every impression date.
    segments : sequence of str
        Segment columns (var monitoring_prediction_segments); null values are 'unknown'.
    alpha : float
        Significance level of the intervals.
    auc_drop : float
        AUC tolerance below the reference (var monitoring_auc_drop).
    calibration_tolerance : float
        Calibration factor tolerance (var monitoring_calibration_tolerance).
    min_class_count : int
        A cell's AUC is judged with at least this many positives and negatives, its
        calibration with this many positives (else status no_data): below it the DeLong
        and delta-method variances are unreliable.
    read_rows : int, optional
        Var ``monitoring_read_rows``: the most impressions held at once. The rows are read
        a run of consecutive days at a time (a larger day alone); every cell lies within a
        day, so the cells do not depend on it. None reads every day at once.
    """
    alpha = v.check_alpha(alpha)
    auc_drop = v.check_positive(auc_drop, "auc_drop", allow_zero=True)
    calibration_tolerance = v.check_positive(calibration_tolerance, "calibration_tolerance", allow_zero=True)
    min_class_count = v.check_int(min_class_count, "min_class_count", minimum=1)
    if read_rows is not None:
        read_rows = v.check_int(read_rows, "read_rows", minimum=1)
    segments = list(segments)
    impressions = _as_reader(impressions, "impressions")
    windows = _as_table(windows, "windows")
    columns = [*_COLUMNS, *(c for pair in LABELS.values() for c in pair), *segments]
    _require(impressions.column_names, "impressions", columns)
    _require(windows.column_names, "windows", _WINDOW_COLUMNS)
    if "all" in segments:
        raise ValueError("monitoring_prediction_segments: 'all' is the segment_type of the whole "
                         "population; it cannot name a column")
    day_cells, hour_cells, improbable = [], [], set()
    for days in day_batches(impressions.counts("impression_date"), read_rows,
                            "impressions column `impression_date`"):
        batch = impressions.read(columns, [("impression_date", days)])
        batch = batch.filter(pc.is_valid(batch["score"]))
        if batch.num_rows == 0:
            continue
        rows = _Rows(batch, segments)
        improbable |= rows.improbable
        day_cells += [rows.cells(label, "day", st) for label in LABELS for st in ["all", *segments]]
        # the hours of the last day with scores: the last non-empty batch's
        hour_cells = [rows.cells(label, "hour", st) for label in LABELS for st in ["all", *segments]]
    if not day_cells:
        return ONLINE_AUC_SCHEMA.empty_table()
    cells = pd.concat(day_cells + hour_cells, ignore_index=True)
    # a model with a score outside [0, 1] on any day has no log-loss or calibration on any
    cells.loc[cells["model_id"].isin(improbable), _PROBABILITY_COLUMNS] = np.nan
    cells = _with_reference(cells, windows.to_pandas())
    cells = _with_status(cells, alpha, auc_drop, calibration_tolerance, min_class_count)
    return pa.Table.from_pandas(cells[ONLINE_AUC_SCHEMA.names], schema=ONLINE_AUC_SCHEMA,
                                preserve_index=False)


def _require(have: Sequence[str], name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"`{name}` lacks column(s) {missing}; it has {list(have)}")


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes and the distinct values (as strings; null is 'unknown') as numpy."""
    codes, values = _string_codes(column)
    return codes, np.asarray(values.to_pylist(), dtype=object)


class _Grouping(NamedTuple):
    rows: np.ndarray          # the rows of the grain
    cell: np.ndarray          # their cell: (model, day or hour, segment value), in [0, n_cells)
    n_cells: int
    n_time: int
    seg_values: np.ndarray    # the segment values the cell codes number
    clusters: np.ndarray      # their cluster: request x cell, in [0, n_clusters)
    n_clusters: int


class _Rows:
    """The scored impressions as numpy arrays, and the cells of one label x grain x
    segment type computed from them (one vectorised pass each)."""

    def __init__(self, table: pa.Table, segments: list[str]):
        self.score = table["score"].to_numpy()
        if not np.isfinite(self.score).all():
            raise ValueError(f"impressions: column `score` holds {int((~np.isfinite(self.score)).sum())} "
                             "non-finite value(s) (NaN or inf)")
        self.model, self.models = _codes(table["model_id"])
        self.day = table["impression_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
        self.hour = pc.cast(table["impression_ts"], pa.timestamp("us")).to_numpy().astype(np.int64) // _HOUR_US
        self.last_day = int(self.day.max())
        n_models = self.models.size
        # log-loss and calibration only for models whose every served score is a probability
        outside = np.bincount(self.model, weights=(self.score < 0) | (self.score > 1), minlength=n_models)
        self.probability = (outside == 0)[self.model]
        self.improbable = set(self.models[outside > 0])
        self.segments = {"all": (np.zeros(table.num_rows, dtype=np.int64), np.array(["all"], dtype=object))}
        self.segments.update({s: _codes(table[s]) for s in segments})
        self.labels = {name: (_flag(table[y]), _flag(table[mature])) for name, (y, mature) in LABELS.items()}
        # clusters: a request within one model and day (a request has one; the key is safe
        # if not); rows without a request_id are clusters of their own
        request = table["request_id"]
        req = pd.factorize(request.to_numpy(zero_copy_only=False), use_na_sentinel=True)[0].astype(np.int64)
        none = req < 0
        req[none] = req.max(initial=-1) + 1 + np.arange(int(none.sum()))
        n_days = int(self.day.max() - self.day.min()) + 1
        self.request, uniques = pd.factorize((req * n_models + self.model) * n_days + (self.day - self.day.min()))
        self.n_requests = len(uniques)
        self._orders: dict[str, np.ndarray] = {}
        self._groupings: dict[tuple[str, str], _Grouping] = {}

    def _score_order(self, label: str, mature: np.ndarray) -> np.ndarray:
        """Row indices of the label's mature rows by ascending score (one sort per label)."""
        if label not in self._orders:
            idx = np.flatnonzero(mature)
            self._orders[label] = idx[np.argsort(self.score[idx])]
        return self._orders[label]

    def _grouping(self, grain: str, segment_type: str) -> _Grouping:
        """The rows of a grain (every day, or the hours of the last day) and their cells and
        clusters for one segment type (the same for every label)."""
        if (grain, segment_type) not in self._groupings:
            self._groupings[grain, segment_type] = self._make_grouping(grain, segment_type)
        return self._groupings[grain, segment_type]

    def _make_grouping(self, grain: str, segment_type: str) -> _Grouping:
        seg, seg_values = self.segments[segment_type]
        if grain == "day":
            rows = np.arange(self.score.size)
            time = self.day - self.day.min()
        else:
            rows = np.flatnonzero(self.day == self.last_day)
            time = self.hour[rows] - self.hour[rows].min()
        n_time = int(time.max()) + 1
        n_seg = seg_values.size
        cell = (self.model[rows] * n_time + time) * n_seg + seg[rows]
        # a cluster is a request inside a cell (a request's rows of one segment and hour)
        clusters, n_clusters = (self.request, self.n_requests) if grain == "day" and n_seg == 1 else \
            v.group_codes((self.request[rows] * n_time + (time if grain == "hour" else 0)) * n_seg + seg[rows],
                          sort=True)
        return _Grouping(rows, cell, self.models.size * n_time * n_seg, n_time, seg_values, clusters, n_clusters)

    def cells(self, label: str, grain: str, segment_type: str) -> pd.DataFrame:
        y_all, mature_all = self.labels[label]
        grouping = self._grouping(grain, segment_type)
        rows, cell, n_cells = grouping.rows, grouping.cell, grouping.n_cells
        mature = mature_all[rows]
        n_immature = np.bincount(cell[~mature], minlength=n_cells)

        # the mature rows by ascending score: the label's one sort, restricted to `rows`
        # and renumbered among the mature ones
        local = np.full(self.score.size, -1, dtype=np.int64)
        local[rows[mature]] = np.arange(int(mature.sum()))
        order = local[self._score_order(label, mature_all)]
        order = order[order >= 0]
        m_rows, m_cell, clusters = rows[mature], cell[mature], grouping.clusters[mature]
        y, s, prob = y_all[m_rows], self.score[m_rows], self.probability[m_rows]
        res = grouped_roc_auc(y, s, m_cell, n_cells, cluster_codes=clusters, n_clusters=grouping.n_clusters,
                              score_order=order)

        pc_ = np.clip(s, _EPS, 1 - _EPS)
        loss = np.where(prob, -np.log(np.where(y, pc_, 1 - pc_)), np.nan)
        n = np.bincount(m_cell, minlength=n_cells)
        sums = _ClusterSums(m_cell, clusters, grouping.n_clusters, n_cells,
                            {"n": np.ones(s.size), "y": y.astype(np.float64), "s": s, "loss": loss})
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_score = sums.total["s"] / n
            label_rate = sums.total["y"] / n
            log_loss, log_loss_se = sums.ratio("loss", "n")
            ratio, ratio_se = sums.ratio("s", "y")
        cell_prob = np.bincount(m_cell, weights=prob, minlength=n_cells) == n
        ratio[~cell_prob] = ratio_se[~cell_prob] = np.nan

        present = np.flatnonzero((n + n_immature) > 0)
        model_code, rest = np.divmod(present, grouping.n_time * grouping.seg_values.size)
        time_code, seg_code = np.divmod(rest, grouping.seg_values.size)
        if grain == "day":
            day = time_code + self.day.min()
            hour_start = None
        else:
            day = np.full(present.size, self.last_day)
            hour_start = ((time_code + self.hour[rows].min()) * _HOUR_US).astype("datetime64[us]")
        return pd.DataFrame({
            "model_id": self.models[model_code], "label": label, "grain": grain,
            "impression_date": day.astype("datetime64[D]"), "hour_start": hour_start,
            "segment_type": segment_type, "segment": grouping.seg_values[seg_code],
            "n_impressions": n[present], "n_immature": n_immature[present],
            "n_requests": res.n_clusters[present], "n_positive": res.n_pos[present],
            "n_negative": res.n_neg[present],
            "label_rate": label_rate[present], "mean_score": mean_score[present],
            "auc": res.auc[present], "auc_variance": res.variance[present],
            "log_loss": log_loss[present], "log_loss_std_error": log_loss_se[present],
            "calibration_ratio": ratio[present], "calibration_std_error": ratio_se[present],
            "score_sum": np.where(cell_prob, sums.total["s"], np.nan)[present],
            "label_sum": sums.total["y"][present],
        })


def _flag(column: pa.ChunkedArray) -> np.ndarray:
    """A boolean column as numpy; null counts as false (no click; not mature)."""
    return pc.fill_null(column, False).to_numpy(zero_copy_only=False).astype(bool)


class _ClusterSums:
    """Per-cell totals of row values and cluster-robust ratios of them.

    For a ratio of cell totals :math:`R = \\sum a / \\sum b` (a mean when ``b`` = 1), the
    delta-method variance over the cell's ``I`` clusters ``k`` is
    :math:`\\frac{I}{I-1}\\sum_k (A_k - R B_k)^2 / (\\sum b)^2`.
    """

    def __init__(self, cells: np.ndarray, clusters: np.ndarray, n_clusters: int, n_cells: int,
                 values: dict[str, np.ndarray]):
        self.cluster_cell = np.zeros(n_clusters, dtype=np.int64)
        self.cluster_cell[clusters] = cells
        self.n_cells = n_cells
        self.by_cluster = {k: np.bincount(clusters, weights=x, minlength=n_clusters) for k, x in values.items()}
        self.total = {k: np.bincount(self.cluster_cell, weights=x, minlength=n_cells)
                      for k, x in self.by_cluster.items()}
        self.n_clusters = np.bincount(self.cluster_cell, weights=self.by_cluster["n"] > 0, minlength=n_cells)

    def ratio(self, num: str, den: str) -> tuple[np.ndarray, np.ndarray]:
        r = self.total[num] / self.total[den]
        r[~np.isfinite(r)] = np.nan
        resid = self.by_cluster[num] - r[self.cluster_cell] * self.by_cluster[den]
        i = self.n_clusters
        ss = np.bincount(self.cluster_cell, weights=resid * resid, minlength=self.n_cells)
        se = np.sqrt(i / (i - 1) * ss) / np.abs(self.total[den])
        se[~np.isfinite(r) | (i < 2)] = np.nan
        return r, se


def _with_reference(cells: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Join each cell's reference window and period, and the reference figures: over the
    window's days, the n+ n- weighted mean of the daily AUCs and the pooled calibration."""
    windows = windows[list(_WINDOW_COLUMNS)].copy()
    for c in ("impression_date", "reference_start_date", "reference_end_date"):
        windows[c] = pd.to_datetime(windows[c]).astype("datetime64[s]")
    cells["impression_date"] = cells["impression_date"].astype("datetime64[s]")
    cells = cells.merge(windows, on="impression_date", how="left", validate="many_to_one")
    missing = cells["period"].isna()
    if missing.any():
        days = sorted(cells.loc[missing, "impression_date"].dt.date.unique())
        raise ValueError(f"windows (int_monitoring__reference_windows) has no row for impression_date(s) "
                         f"{[str(d) for d in days[:5]]}")
    daily = cells[cells["grain"] == "day"]
    w = (daily["n_positive"] * daily["n_negative"]).astype(np.float64).where(daily["auc"].notna(), 0.0)
    days = daily[_KEY + ["impression_date"]].assign(
        w=w, wauc=(w * daily["auc"]).fillna(0.0), has_auc=(w > 0).astype(np.int64),
        s=daily["score_sum"].fillna(0.0), no_s=daily["score_sum"].isna(), y=daily["label_sum"])
    targets = daily[_KEY + ["impression_date", "reference_start_date", "reference_end_date"]]
    pairs = targets.merge(days.rename(columns={"impression_date": "reference_date"}), on=_KEY)
    pairs = pairs[(pairs["reference_date"] >= pairs["reference_start_date"])
                  & (pairs["reference_date"] <= pairs["reference_end_date"])]
    ref = pairs.groupby(_KEY + ["impression_date"], as_index=False).agg(
        w=("w", "sum"), wauc=("wauc", "sum"), reference_n_days=("has_auc", "sum"),
        s=("s", "sum"), no_s=("no_s", "any"), y=("y", "sum"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ref["reference_auc"] = np.where(ref["w"] > 0, ref["wauc"] / ref["w"], np.nan)
        ref["reference_calibration_ratio"] = np.where((ref["y"] > 0) & ~ref["no_s"], ref["s"] / ref["y"], np.nan)
    cells = cells.merge(ref[_KEY + ["impression_date", "reference_n_days", "reference_auc",
                                    "reference_calibration_ratio"]],
                        on=_KEY + ["impression_date"], how="left")
    cells["reference_n_days"] = cells["reference_n_days"].fillna(0).astype(np.int64)
    return cells


def _with_status(cells: pd.DataFrame, alpha: float, auc_drop: float, tolerance: float,
                 min_class_count: int) -> pd.DataFrame:
    from scipy import stats

    z = z_value(alpha)
    se = np.sqrt(cells["auc_variance"].where(cells["auc_variance"] >= 0))
    cells["auc_std_error"] = se
    cells["auc_ci_low"], cells["auc_ci_high"] = _auc_interval(cells["auc"], se, z)
    r, r_se = cells["calibration_ratio"], cells["calibration_std_error"]
    cells["calibration_ci_low"], cells["calibration_ci_high"] = _ratio_interval(r, r_se, z)
    cells["auc_drop"] = cells["reference_auc"] - cells["auc"]
    cells["auc_alert_below"] = cells["reference_auc"] - auc_drop
    ref_r = cells["reference_calibration_ratio"]
    cells["calibration_lower_limit"] = ref_r / (1 + tolerance)
    cells["calibration_upper_limit"] = ref_r * (1 + tolerance)

    # the alert tests: Bonferroni over the family's k cells with labelled rows
    labelled = cells["n_impressions"] > 0
    k = labelled.groupby([cells[c] for c in _FAMILY], dropna=False).transform("sum")
    cells["n_alert_tests"] = k.where(labelled, 0).astype(np.int64)
    cells["alert_alpha"] = (alpha / k).where(labelled)
    z_alert = pd.Series(stats.norm.isf(cells["alert_alpha"] / 2), index=cells.index)
    cells["auc_alert_bound"] = _auc_interval(cells["auc"], se, z_alert)[1]
    cal_low, cal_high = _ratio_interval(r, r_se, z_alert)
    cells["calibration_alert_low"], cells["calibration_alert_high"] = cal_low, cal_high

    analysis = cells["period"] == "analysis"
    enough_pos = cells["n_positive"] >= min_class_count
    cells["auc_status"] = _status(
        cells["period"],
        defined=enough_pos & (cells["n_negative"] >= min_class_count) & se.notna(),
        compared=analysis & cells["reference_auc"].notna(),
        alert=cells["auc_alert_bound"] < cells["auc_alert_below"])
    cells["calibration_status"] = _status(
        cells["period"], defined=enough_pos & r_se.notna(), compared=analysis & ref_r.notna(),
        alert=(cal_high < cells["calibration_lower_limit"]) | (cal_low > cells["calibration_upper_limit"]))
    cells["alpha"], cells["auc_drop_tolerance"], cells["calibration_tolerance"] = alpha, auc_drop, tolerance
    cells["min_class_count"] = min_class_count
    return cells


def _auc_interval(auc: pd.Series, se: pd.Series, z) -> tuple[pd.Series, pd.Series]:
    """Wald interval clipped to [0, 1]."""
    return (auc - z * se).clip(lower=0.0), (auc + z * se).clip(upper=1.0)


def _ratio_interval(r: pd.Series, se: pd.Series, z) -> tuple[pd.Series, pd.Series]:
    """Delta-method interval of log R: R exp(-/+ z SE / R)."""
    factor = np.exp(z * se / r)
    return r / factor, r * factor


def _status(period: pd.Series, *, defined: pd.Series, compared: pd.Series, alert: pd.Series) -> np.ndarray:
    """no_data without a figure to judge (too few labels) or, on an analysis day, without
    a reference; the period outside analysis days; else alert / ok."""
    return np.select([~defined, period != "analysis", ~compared, alert],
                     ["no_data", period, "no_data", "alert"], "ok")
