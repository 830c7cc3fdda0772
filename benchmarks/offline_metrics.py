"""Benchmark of receval.metrics on synthetic scored impressions.

What it times (wall clock, median of ``--repeats`` runs unless noted):

* exact tie-aware ROC AUC (``receval.metrics.roc_auc``, which also computes the
  DeLong standard error) vs ``sklearn.metrics.roc_auc_score`` (no SE);
* average precision (``n_bootstrap=0``) vs ``sklearn.metrics.average_precision_score``;
* log-loss vs ``sklearn.metrics.log_loss``;
* NDCG@10 over ``--requests`` x ``--items`` (``receval.metrics.ndcg_at_k``) vs a
  per-request Python loop (numpy inside each request), timed on a subsample
  of ``--loop-requests`` requests and extrapolated linearly to all requests;
* the full metric set on ``--rows`` impressions: ``classification_metrics``
  (AUC, AP, log-loss, Brier, calibration-in-the-large, ECE equal-width and
  equal-mass, with a ``--n-boot`` bootstrap over requests for AP/AUC/ECE and
  cluster-robust CLT for the means) + ``reliability_bins`` + ``ranking_metrics``
  (NDCG@5/10, recall@5/10, MRR, CLT over requests).

Prints a table and writes JSON (default ``benchmarks/results/offline_metrics.json``).

Rerun::

    .venv/bin/python benchmarks/offline_metrics.py            # full size (~10M rows)
    .venv/bin/python benchmarks/offline_metrics.py --quick    # 200k rows, seconds

Timings depend on the machine and on whatever else runs on it; the JSON records
the CPU count and the load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


_CPU: dict[int, float] = {}


def _timeit(fn, repeats):
    """Median wall-clock seconds; the median process CPU seconds (all threads)
    of the same runs is kept in _CPU (a loaded machine inflates wall, not CPU)."""
    times, cpus, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    _CPU[-1] = statistics.median(cpus)
    return statistics.median(times), times, out


def make_impressions(n_rows: int, items: int, seed: int):
    """Synthetic scored impressions: ``n_rows // items`` requests of ``items`` rows."""
    rng = np.random.default_rng(seed)
    n_req = n_rows // items
    n = n_req * items
    request = np.repeat(np.arange(n_req, dtype=np.int64), items)
    logit_true = rng.normal(-3.0, 1.0, n)
    p_true = 1.0 / (1.0 + np.exp(-logit_true))
    click = rng.random(n) < p_true
    purchase = click & (rng.random(n) < 0.15)
    # model score: noisy estimate of the truth, float32 (as served: realistic ties)
    p_model = (1.0 / (1.0 + np.exp(-(logit_true + rng.normal(0, 0.7, n))))).astype(np.float32)
    relevance = click.astype(np.int8) + purchase.astype(np.int8)  # 0 none, 1 click, 2 purchase
    return request, click, p_model.astype(np.float64), relevance


def ndcg_python_loop(request, score, relevance, k=10):
    """Naive reference: a Python loop over requests (numpy inside each)."""
    starts = np.flatnonzero(np.r_[True, request[1:] != request[:-1]])
    ends = np.r_[starts[1:], request.size]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    vals = []
    for a, b in zip(starts, ends):
        s, r = score[a:b], relevance[a:b]
        g = 2.0 ** r - 1.0
        dcg = g[np.argsort(-s, kind="stable")][:k] @ disc[: min(k, b - a)]
        idcg = np.sort(g)[::-1][:k] @ disc[: min(k, b - a)]
        if idcg > 0:
            vals.append(dcg / idcg)
    return float(np.mean(vals)) if vals else float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rows-items", type=int, default=20, help="items per request in the --rows data")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--loop-requests", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full-repeats", type=int, default=1)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="200k rows / 20k requests")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "offline_metrics.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.requests, args.loop_requests = 200_000, 20_000, 2_000

    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.metrics import log_loss as sk_log_loss

    from receval.metrics import average_precision, log_loss, ndcg_at_k, ranking_metrics, reliability_bins, roc_auc
    from receval.metrics.report import classification_metrics

    load_start = os.getloadavg()
    rows = []

    def row(name, ours, ref=None, ref_name="", note="", values=None, cpu_ours=float("nan")):
        d = {"benchmark": name, "receval_s": round(ours, 4), "receval_cpu_s": round(cpu_ours, 4)}
        if ref is not None:
            d.update({"reference": ref_name, "reference_s": round(ref, 4), "speedup": round(ref / ours, 2)})
        if note:
            d["note"] = note
        if values:
            d["values"] = values
        rows.append(d)
        print(f"  {name:<34} {ours:8.3f} s (cpu {cpu_ours:7.2f})" + (f"   {ref_name:<34} {ref:8.3f} s   x{ref / ours:5.2f}" if ref is not None else "")
              + (f"   [{note}]" if note else ""), flush=True)

    t0 = time.perf_counter()
    request, y, p, rel = make_impressions(args.rows, args.rows_items, args.seed)
    n = y.size
    print(f"data: {n:,} impressions, {n // args.rows_items:,} requests, positive rate {y.mean():.4f} "
          f"(built in {time.perf_counter() - t0:.1f} s); cpus={os.cpu_count()} load={load_start}", flush=True)

    t_ours, _, r_auc = _timeit(lambda: roc_auc(y, p), args.repeats)
    c_auc = _CPU[-1]
    t_ref, _, v_ref = _timeit(lambda: roc_auc_score(y, p), args.repeats)
    row("roc_auc (exact, ties, +DeLong SE)", t_ours, t_ref, "sklearn roc_auc_score", cpu_ours=c_auc, values={
        "receval": r_auc.value, "sklearn": v_ref, "abs_diff": abs(r_auc.value - v_ref), "std_error": r_auc.std_error})

    t_ours, _, r_ap = _timeit(lambda: average_precision(y, p, n_bootstrap=0), args.repeats)
    c_ap = _CPU[-1]
    t_ref, _, v_ref = _timeit(lambda: average_precision_score(y, p), args.repeats)
    row("average_precision", t_ours, t_ref, "sklearn average_precision_score", cpu_ours=c_ap, values={
        "receval": r_ap.value, "sklearn": v_ref, "abs_diff": abs(r_ap.value - v_ref)})

    t_ours, _, r_ll = _timeit(lambda: log_loss(y, p), args.repeats)
    c_ll = _CPU[-1]
    t_ref, _, v_ref = _timeit(lambda: sk_log_loss(y, p), args.repeats)
    row("log_loss (+SE)", t_ours, t_ref, "sklearn log_loss", cpu_ours=c_ll, values={
        "receval": r_ll.value, "sklearn": v_ref, "abs_diff": abs(r_ll.value - v_ref)})

    # NDCG@10 over requests x items
    rq, _, sq, relq = make_impressions(args.requests * args.items, args.items, args.seed + 1)
    t_ours, _, r_nd = _timeit(lambda: ndcg_at_k(rq, sq, relq, 10), args.repeats)
    c_nd = _CPU[-1]
    m = args.loop_requests * args.items
    t_sub, _, v_loop = _timeit(lambda: ndcg_python_loop(rq[:m], sq[:m], relq[:m]), 1)
    t_loop = t_sub * args.requests / args.loop_requests
    v_ours_sub = ndcg_at_k(rq[:m], sq[:m], relq[:m], 10).value
    row(f"ndcg@10 ({args.requests:,} x {args.items})", t_ours, t_loop, "per-request Python loop", cpu_ours=c_nd,
        note=f"loop timed on {args.loop_requests:,} requests ({t_sub:.2f} s), extrapolated x{args.requests / args.loop_requests:.0f}",
        values={"receval": r_nd.value, "n": r_nd.n, "n_excluded": r_nd.n_excluded,
                "subsample_receval": v_ours_sub, "subsample_loop": v_loop,
                "subsample_abs_diff": abs(v_ours_sub - v_loop)})
    del rq, sq, relq

    def full():
        cm = classification_metrics(y, p, group_ids=request, n_bootstrap=args.n_boot, random_state=0)
        rb = reliability_bins(y, p, n_bins=10)
        rk = ranking_metrics(request, p, rel, k=[5, 10])
        return cm, rb, rk

    t_full, times_full, (cm, rb, rk) = _timeit(full, args.full_repeats)
    res = {k: v.to_dict() for k, v in {**cm, **rk}.items()}
    row(f"full metric set ({n:,} rows)", t_full, cpu_ours=_CPU[-1],
        note=f"{len(res)} metrics; bootstrap n_bootstrap={args.n_boot} over {n // args.rows_items:,} requests; "
             f"median of {args.full_repeats}")

    load_end = os.getloadavg()
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "loadavg_start": load_start, "loadavg_end": load_end,
                    "note": "wall-clock seconds; other processes may share the cores (see loadavg)"},
        "params": vars(args),
        "rows": rows,
        "full_metric_set": {"times_s": times_full, "metrics": res,
                            "reliability_bins": rb.to_dict()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=float))
    print(f"load average start {load_start}, end {load_end}; wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
