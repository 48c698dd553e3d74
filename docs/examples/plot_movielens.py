"""
MovieLens 100K: five-fold RMSE
==============================

Rating prediction on the five standard folds of MovieLens 100K (``u1.base`` /
``u1.test`` ... ``u5``), with the SGD and ALS settings tuned in ``bench/studies/quality.py``,
beside the published figures of Surprise's SVD and SVD++.  Predictions are clipped to
the rating scale, as Surprise does.

MovieLens may not be redistributed, so fastmf does not ship or download it: point
``FASTMF_MOVIELENS_100K_DIR`` (or the first argument of this script) at a folder that
holds the files.  Without it this example only says so.
"""

import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

import fastmf
from fastmf.io import load_movielens
from fastmf.metrics import rmse

folder = os.environ.get("FASTMF_MOVIELENS_100K_DIR")
if len(sys.argv) > 1:
    folder = sys.argv[1]
available = folder is not None and all(
    (Path(folder) / f"u{fold}.{part}").is_file() for fold in range(1, 6)
    for part in ("base", "test"))
if not available:
    print("MovieLens 100K not found: set FASTMF_MOVIELENS_100K_DIR to the folder of "
          "u1.base ... u5.test to run this example.")

# %%
# Both files of a fold are read together, so that users and items get the same indices
# in training and test.
SETTINGS = {
    "fastmf SGD": dict(factors=100, epochs=60, learning_rate=0.007, l2=0.08,
                       l2_bias=0.005, init_scale=0.01),
    "fastmf ALS": dict(solver="als", factors=128, epochs=6, l2=0.12, l2_bias=0.02,
                       weighted_l2=True),
}


def fold_rmse(fold, params):
    base, test = (Path(folder) / f"u{fold}.{part}" for part in ("base", "test"))
    u_b, i_b, r_b, uid_b, iid_b = load_movielens(base)
    u_t, i_t, r_t, uid_t, iid_t = load_movielens(test)
    uids, iids = np.union1d(uid_b, uid_t), np.union1d(iid_b, iid_t)
    # Every id of the fold is a row or a column; those without training ratings keep
    # zero factors and biases, so their prediction is the bias-only one.
    train = sp.csr_matrix((r_b, (np.searchsorted(uids, uid_b[u_b]),
                                 np.searchsorted(iids, iid_b[i_b]))),
                          shape=(uids.size, iids.size))
    model = fastmf.MatrixFactorization(random_state=42, dtype=np.float64, **params)
    model.fit(train)
    pred = model.predict(np.searchsorted(uids, uid_t[u_t]),
                         np.searchsorted(iids, iid_t[i_t]))
    return rmse(r_t, np.clip(pred, 1.0, 5.0))


if available:
    scores = {name: [fold_rmse(fold, params) for fold in range(1, 6)]
              for name, params in SETTINGS.items()}
    for name, per_fold in scores.items():
        folds = " ".join(f"{s:.4f}" for s in per_fold)
        print(f"{name}: mean RMSE {np.mean(per_fold):.4f} (folds u1-u5: {folds})")

    # %%
    # Surprise's figures are the ones its documentation publishes for the same folds.
    published = {"Surprise SVD": 0.934, "Surprise SVD++": 0.919}
    names = list(scores) + list(published)
    values = [np.mean(v) for v in scores.values()] + list(published.values())
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.barh(names, values, color=["tab:blue", "tab:blue", "tab:grey", "tab:grey"])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.4f}", va="center")
    ax.set_xlim(0.85, 0.96)
    ax.set_xlabel("mean RMSE over folds u1-u5 (lower is better)")
    ax.invert_yaxis()
    fig.tight_layout()
    plt.show()
