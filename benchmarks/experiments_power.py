"""Interleaving vs A/B: users needed to detect the same ranker difference at 80% power.

Method (simulation with the package, on the default world's true click model):

* Requests and users are the default world's own (``truth/candidates.parquet``: each
  request's 50 retrieved candidates with their true attractiveness, which includes the
  user's own bias, and the production score; ``truth/impressions.parquet`` maps requests
  to users). A sample of ``--pool-users`` users keeps all their requests of the log.
* Ranker A is production (``prod_score`` order, greedy top K). Ranker B is a better
  ranker: the true attractiveness perturbed by log-normal noise (``--b-noise``), like the
  simulator's challenger. True click probability at position p is
  ``p ** -eta * attract`` (eta from world.json), the simulator's position-based model.
* A/B: n users split 50/50, each sees A's or B's list on every request; per-user CTR
  (clicks / impressions) tested with ``RatioMetric`` (delta method), two-sided alpha 0.05.
* Interleaving: the same n users see team-draft interleavings of A and B
  (``team_draft_interleave``); clicks credited by ``team_draft_credit``; the user-level
  sign test of ``InterleavingAnalysis``.
* Power at each n = share of ``--reps`` replications (users resampled with replacement,
  clicks redrawn) that detect B better at alpha 0.05; the n reaching 80% is interpolated
  on a log scale between grid points.

Run: ``.venv/bin/python benchmarks/experiments_power.py --world data/default``; writes
``benchmarks/results/experiments_power.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from receval.experiments import InterleavingAnalysis, RatioMetric, team_draft_credit, team_draft_interleave


def load_pool(world: Path, pool_users: int, k: int, b_noise: float, seed: int):
    rng = np.random.default_rng(seed)
    imps = pq.read_table(world / "truth" / "impressions.parquet", columns=["request_id", "user_id"]).to_pandas()
    req_user = imps.drop_duplicates("request_id")
    users = rng.choice(req_user["user_id"].unique(), pool_users, replace=False)
    req_user = req_user[req_user["user_id"].isin(users)]
    cand = pq.read_table(world / "truth" / "candidates.parquet",
                         columns=["request_id", "item_id", "attract", "prod_score"],
                         filters=[("request_id", "in", req_user["request_id"].tolist())]).to_pandas()
    cand = cand.merge(req_user, on="request_id").sort_values(["request_id", "item_id"])
    per_request = cand.groupby("request_id", sort=True)
    eta = json.loads((world / "truth" / "world.json").read_text())["config"]["examine_eta"]
    examine = np.arange(1, k + 1) ** -eta
    lists = {"A": [], "B": [], "I": []}
    teams, user_of = [], []
    for i, (rid, g) in enumerate(per_request):
        attract = dict(zip(g["item_id"], g["attract"]))
        a = g.sort_values("prod_score", ascending=False)["item_id"].tolist()
        noisy = np.log(g["attract"].to_numpy()) + rng.normal(0, b_noise, len(g))
        b = g["item_id"].to_numpy()[np.argsort(-noisy)].tolist()
        inter = team_draft_interleave(a, b, length=k, random_state=seed + i)
        for key, items in (("A", a[:k]), ("B", b[:k]), ("I", list(inter.items))):
            lists[key].append([attract[x] for x in items])
        teams.append(list(inter.teams))
        user_of.append(g["user_id"].iloc[0])
    p = {key: np.asarray(v) * examine for key, v in lists.items()}  # true click prob per position
    return p, np.asarray(teams), np.asarray(user_of)


def power_curves(p, teams, user_of, grid, reps, seed, alpha=0.05):
    rng = np.random.default_rng(seed)
    users, inverse = np.unique(user_of, return_inverse=True)
    requests_of = [np.flatnonzero(inverse == u) for u in range(users.size)]
    is_a = teams == "A"
    out = []
    for n in grid:
        hits = {"ab": 0, "interleaving": 0}
        for _ in range(reps):
            chosen = rng.integers(0, users.size, n)
            # A/B: first half of the sampled users on A, second half on B.
            arm_stats = {}
            for arm, sel in (("A", chosen[: n // 2]), ("B", chosen[n // 2:])):
                clicks, imps = np.empty(sel.size), np.empty(sel.size)
                for j, u in enumerate(sel):
                    r = requests_of[u]
                    clicks[j] = (rng.random((r.size, p[arm].shape[1])) < p[arm][r]).sum()
                    imps[j] = r.size * p[arm].shape[1]
                arm_stats[arm] = (clicks, imps)
            est = RatioMetric(alpha).estimate_effect(*arm_stats["A"], *arm_stats["B"])
            hits["ab"] += est.p_value < alpha and est.effect > 0
            # Interleaving: every sampled user sees the interleaved lists.
            ca, cb, uid = [], [], []
            for j, u in enumerate(chosen):
                r = requests_of[u]
                clicked = rng.random((r.size, p["I"].shape[1])) < p["I"][r]
                for q in range(r.size):
                    a_, b_ = team_draft_credit(teams[r[q]], clicked[q])
                    ca.append(a_), cb.append(b_), uid.append(j)
            res = InterleavingAnalysis(alpha=alpha, n_bootstrap=100, random_state=0).analyze(ca, cb, uid)
            hits["interleaving"] += res.p_value < alpha and res.user_wins < res.user_losses
        out.append({"n_users": int(n), "power_ab": hits["ab"] / reps,
                    "power_interleaving": hits["interleaving"] / reps})
        print(out[-1], flush=True)
    return out


def users_at(curve, key, target=0.8):
    """Interpolate n at the target power on a log-n scale (None if not reached)."""
    pts = [(c["n_users"], c[key]) for c in curve]
    for (n0, p0), (n1, p1) in zip(pts, pts[1:]):
        if p0 < target <= p1:
            return float(np.exp(np.log(n0) + (target - p0) / (p1 - p0) * (np.log(n1) - np.log(n0))))
    return float(pts[0][0]) if pts and pts[0][1] >= target else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=Path, default=Path("data/default"))
    ap.add_argument("--pool-users", type=int, default=1000)
    ap.add_argument("--b-noise", type=float, default=0.3)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--grid", type=str, default="50,100,200,400,800,1600,3200")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/experiments_power.json"))
    args = ap.parse_args()
    t0 = time.time()
    p, teams, user_of = load_pool(args.world, args.pool_users, 10, args.b_noise, args.seed)
    true_ctr = {k: float(v.mean()) for k, v in p.items()}
    print("true CTR per impression:", true_ctr, "requests:", len(user_of), flush=True)
    grid = [int(x) for x in args.grid.split(",")]
    curve = power_curves(p, teams, user_of, grid, args.reps, args.seed)
    n_ab, n_il = users_at(curve, "power_ab"), users_at(curve, "power_interleaving")
    result = {
        "method": "simulation with the package on the default world's true click model (see docstring)",
        "world": str(args.world), "pool_users": args.pool_users, "pool_requests": int(len(user_of)),
        "b_noise": args.b_noise, "reps": args.reps, "alpha": 0.05, "power": 0.8,
        "true_ctr_a": true_ctr["A"], "true_ctr_b": true_ctr["B"],
        "true_relative_ctr_lift": true_ctr["B"] / true_ctr["A"] - 1,
        "curve": curve, "users_needed_ab": n_ab, "users_needed_interleaving": n_il,
        "ratio_ab_over_interleaving": (n_ab / n_il) if n_ab and n_il else None,
        "seconds": round(time.time() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=2))


if __name__ == "__main__":
    main()
