"""The learnable ceiling of click AUC on a simulated world: how close to the oracle can any
model trained on the logs get?

    python benchmarks/candidate_ceiling.py --warehouse warehouse/bench_models_default

A deliberately over-informed model: it is handed, from the ground truth, every item's latent
vector and bias, the position effect and the drift -- everything in the true click
probability except the user's own terms -- and estimates only each user's latent vector and
bias (MAP under a Gaussian prior with the true variances) from that user's training
impressions. What it misses is only what the logs cannot tell about a user; no model of the
logs can be expected to beat it. Its test AUC is printed next to the oracle's (the true
probabilities) on the same rows and labels. Needs a warehouse built by
benchmarks/candidate_models.py (for the split and the labels as of the data's end).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

PROJECT_DIR = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=PROJECT_DIR / "warehouse" / "bench_models_default")
    parser.add_argument("--world", type=Path, default=PROJECT_DIR / "data" / "default")
    args = parser.parse_args()
    truth = args.world / "truth"
    cfg = json.loads((truth / "world.json").read_text())["config"]
    impressions = pd.read_parquet(truth / "impressions.parquet",
                                  columns=["event_id", "user_id", "item_id", "position", "p_click"])
    users = pd.read_parquet(truth / "users.parquet").set_index("user_id").sort_index()
    items = pd.read_parquet(truth / "items.parquet").set_index("item_id").sort_index()
    with duckdb.connect(str(args.warehouse / "receval.duckdb"), read_only=True) as con:
        labels = con.sql("select event_id, split, is_clicked::int as y from int_features__impressions "
                         "where split in ('train', 'test')").df()
    rows = impressions.merge(labels, on="event_id")
    factors = [f"f{j}" for j in range(cfg["latent_dim"])]
    user_vec, item_vec = users[factors].to_numpy(), items[factors].to_numpy()
    u, i = rows.user_id.to_numpy() - 1, rows.item_id.to_numpy() - 1
    examine = rows.position.to_numpy() ** -cfg["examine_eta"]
    # The true attraction logit of each row (p_click = examine x sigmoid(attract), experiment
    # multipliers aside), less the user's own terms: what the ceiling model is handed.
    attract = np.clip(rows.p_click.to_numpy() / examine, 1e-6, 1 - 1e-6)
    scale = cfg["affinity_scale"]
    offset = (np.log(attract / (1 - attract)) - scale * np.einsum("nd,nd->n", user_vec[u], item_vec[i])
              - users.user_bias.to_numpy()[u])

    x = torch.tensor(scale * item_vec[i])
    off, ex = torch.tensor(offset), torch.tensor(examine)
    y = torch.tensor(rows.y.to_numpy(), dtype=torch.float64)
    uu = torch.tensor(u)
    train = torch.tensor((rows.split == "train").to_numpy())
    w = torch.zeros((len(users), len(factors)), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(len(users), dtype=torch.float64, requires_grad=True)
    vec_var, bias_var = float(user_vec.var(axis=0).mean()), float(users.user_bias.var())
    optimizer = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        z = off[train] + (x[train] * w[uu[train]]).sum(1) + b[uu[train]]
        p = (ex[train] * torch.sigmoid(z)).clamp(1e-9, 1 - 1e-9)
        loss = (-(y[train] * torch.log(p) + (1 - y[train]) * torch.log1p(-p)).sum()
                + 0.5 * (w ** 2).sum() / vec_var + 0.5 * (b ** 2).sum() / bias_var)
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(closure)
    with torch.no_grad():
        ceiling = (ex * torch.sigmoid(off + (x * w[uu]).sum(1) + b[uu])).numpy()
    no_user = examine / (1 + np.exp(-offset))
    test = (rows.split == "test").to_numpy()
    y_test = rows.y.to_numpy()[test]
    print(f"test rows {test.sum():,}")
    print(f"oracle (true probabilities)              AUC {roc_auc_score(y_test, rows.p_click.to_numpy()[test]):.4f}")
    print(f"learnable ceiling (users from the logs)  AUC {roc_auc_score(y_test, ceiling[test]):.4f}")
    print(f"no user terms at all                     AUC {roc_auc_score(y_test, no_user[test]):.4f}")


if __name__ == "__main__":
    main()
