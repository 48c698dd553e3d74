"""
Gowalla: top-20 ranking against the published results
======================================================

Implicit-feedback ALS on the Gowalla check-ins in the split of NGCF and LightGCN
(29,858 users, 40,981 locations, 810,128 training interactions), with the settings
tuned in ``bench/studies/quality.py``, scored by recall and NDCG at 20 over all items, each
user's training items left out, beside the figures the LightGCN paper reports.

The data are not shipped with fastmf: point ``FASTMF_GOWALLA_DIR`` (or the first
argument of this script) at a folder holding ``train.tsv`` and ``test.tsv``
(``user<TAB>item`` per line).  Without it this example only says so.
"""

import os
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

import fastmf
from fastmf.metrics import ndcg_at_k, recall_at_k

folder = os.environ.get("FASTMF_GOWALLA_DIR")
if len(sys.argv) > 1:
    folder = sys.argv[1]
available = folder is not None and all(
    (Path(folder) / name).is_file() for name in ("train.tsv", "test.tsv"))
if not available:
    print("Gowalla not found: set FASTMF_GOWALLA_DIR to the folder of train.tsv and "
          "test.tsv to run this example.")


def read_pairs(path, shape=None):
    pairs = np.loadtxt(path, dtype=np.int64, ndmin=2)
    values = np.ones(len(pairs), dtype=np.float32)
    return sp.csr_matrix((values, (pairs[:, 0], pairs[:, 1])), shape=shape)


# %%
# The settings tuned on a validation split of the training data (bench/README.md).
if available:
    train = read_pairs(Path(folder) / "train.tsv")
    test = read_pairs(Path(folder) / "test.tsv", shape=train.shape)
    print(f"train {train.nnz:,} and test {test.nnz:,} interactions, shape {train.shape}")
    model = fastmf.MatrixFactorization(
        128, solver="als", feedback="implicit", l2=3.0, weighted_l2=True, alpha=39.0,
        epochs=4, linear_solver="cg", cg_steps=6, init_scale=0.01, random_state=0)
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    recall = recall_at_k(model, test=test, train=train, k=20)
    ndcg = ndcg_at_k(model, test=test, train=train, k=20)
    print(f"k=128: fit {seconds:.1f} s, recall@20 {recall:.4f}, ndcg@20 {ndcg:.4f}")

    # %%
    # Published figures of the LightGCN paper for the same split.
    results = {"MF-BPR (paper)": (0.1291, 0.1109), "NGCF (paper)": (0.1570, 0.1327),
               "fastmf implicit ALS, k=128": (recall, ndcg),
               "LightGCN (paper)": (0.1830, 0.1554)}
    fig, ax = plt.subplots(figsize=(7, 3.5))
    y = np.arange(len(results))
    ax.barh(y - 0.2, [r for r, _ in results.values()], height=0.4, label="recall@20")
    ax.barh(y + 0.2, [n for _, n in results.values()], height=0.4, label="ndcg@20")
    ax.set_yticks(y, list(results))
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    plt.show()
