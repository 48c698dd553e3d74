"""Fit a grid of models and save everything they produce, or compare two such files.

    python tools/fit_grid.py save OUT.npz        # with the fastmf build to record
    python tools/fit_grid.py compare A.npz B.npz

A change that must not change behaviour (a refactoring, a move of code) should leave
every model bit-identical: record the grid with the build from before the change and
with the build after it, then compare.  The grid covers SGD and ALS, explicit, implicit
and logistic models, float32 and float64, 1 and 2 threads, ``partial_fit`` with new
users and items, early stopping, and what a fitted model computes (predictions,
fold-in, recommendations for some users and for all of them, similar items); with Dask
installed, also ``fastmf.distributed.fit``.  Only the public API is used, so any two
builds that have it compare.

Run it from outside the source tree, so that the installed fastmf is imported.
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.sparse as sp

import fastmf
from fastmf.datasets import make_ratings

N_USERS, N_ITEMS, N_RATINGS = 300, 200, 6_000
GROWN_USERS, GROWN_ITEMS = 330, 220


def _data(kind: str, seed: int, n_users: int = N_USERS, n_items: int = N_ITEMS,
          n_ratings: int = N_RATINGS):
    users, items, ratings = make_ratings(n_users, n_items, n_ratings, seed=seed)
    if kind == "logistic":
        ratings = (ratings >= 4.0).astype(np.float32)
    elif kind == "implicit":
        ratings = np.floor(ratings).astype(np.float32)       # counts 1..5
    return users, items, ratings


def _split(triples, seed: int):
    rng = np.random.default_rng(seed)
    test = rng.random(triples[0].size) < 0.2
    return (tuple(a[~test] for a in triples), tuple(a[test] for a in triples))


def _settings(solver: str, kind: str) -> dict:
    common = {"factors": 6, "solver": solver, "epochs": 4, "random_state": 7}
    if solver == "sgd":
        common.update(learning_rate=0.02, l2=0.05)
    else:
        common.update(l2=0.5)
    if kind == "logistic":
        common["loss"] = "logistic"
    elif kind == "implicit":
        common.update(feedback="implicit", alpha=2.0)
    return common


def _record(out: dict, name: str, model: fastmf.MatrixFactorization) -> None:
    for attr in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        out[f"{name}/{attr}"] = np.array(getattr(model, attr))
    out[f"{name}/global_bias_"] = np.array(model.global_bias_)
    for key, values in model.history_.items():
        out[f"{name}/history/{key}"] = np.array(values)
    out[f"{name}/best_epoch_"] = np.array(-1 if model.best_epoch_ is None
                                          else model.best_epoch_)


def _use(out: dict, name: str, model: fastmf.MatrixFactorization, train) -> None:
    """What a fitted model computes from its parameters."""
    rng = np.random.default_rng(3)
    n_users, n_items = model.user_factors_.shape[0], model.item_factors_.shape[0]
    users, items = rng.integers(0, n_users, 50), rng.integers(0, n_items, 50)
    out[f"{name}/predict"] = model.predict(users, items)
    out[f"{name}/decision_function"] = model.decision_function(users, items)
    X = sp.csr_matrix((train[2], (train[0], train[1])), shape=(n_users, n_items))
    ids, scores = model.recommend(np.arange(10), n=5, exclude=X)
    out[f"{name}/recommend/ids"], out[f"{name}/recommend/scores"] = ids, scores
    ids, scores = model.recommend_all(5, exclude=X, batch_size=64)
    out[f"{name}/recommend_all/ids"], out[f"{name}/recommend_all/scores"] = ids, scores
    new = X[20:26]
    factors, bias = model.transform(new)
    out[f"{name}/transform/factors"], out[f"{name}/transform/bias"] = factors, bias
    ids, scores = model.recommend(new_users=new, n=5)
    out[f"{name}/fold_in_recommend/ids"] = ids
    out[f"{name}/fold_in_recommend/scores"] = scores
    ids, sims = model.similar_items([1, 2, 3], n=4)
    out[f"{name}/similar_items/ids"], out[f"{name}/similar_items/sims"] = ids, sims


def _grid(out: dict) -> None:
    cases = [(solver, kind, {}) for solver in ("sgd", "als")
             for kind in ("explicit", "implicit", "logistic")
             if not (solver == "sgd" and kind == "implicit")]
    cases += [("als", "implicit", {"linear_solver": "cholesky"}),
              ("als", "explicit", {"weighted_l2": True, "linear_solver": "cg"}),
              ("als", "explicit", {"biases": False}),
              ("sgd", "explicit", {"biases": False, "l2_bias": 0.1})]
    for solver, kind, extra in cases:
        triples = _data(kind, seed=1)
        train, val = _split(triples, seed=2)
        grown = _data(kind, seed=5, n_users=GROWN_USERS, n_items=GROWN_ITEMS,
                      n_ratings=2_000)
        for dtype in (np.float32, np.float64):
            for threads in (1, 2):
                tag = "-".join([solver, kind, *(f"{k}={v}" for k, v in extra.items()),
                                np.dtype(dtype).name, f"t{threads}"])
                params = dict(_settings(solver, kind), **extra, dtype=dtype,
                              num_threads=threads)
                model = fastmf.MatrixFactorization(**params).fit(train)
                _record(out, f"{tag}/fit", model)
                _use(out, f"{tag}/fit", model, train)
                model.partial_fit(grown, epochs=2)
                _record(out, f"{tag}/partial_fit", model)
                _use(out, f"{tag}/partial_fit", model, train)
                if kind != "implicit":
                    stopped = fastmf.MatrixFactorization(
                        **dict(params, epochs=12, early_stopping=2)).fit(
                            train, validation=val)
                    _record(out, f"{tag}/early_stopping", stopped)
                print(tag, flush=True)


def _distributed(out: dict) -> None:
    try:
        import pandas as pd
        from distributed import Client, LocalCluster

        from fastmf.distributed import fit
    except ImportError:
        print("Dask not installed: no distributed cases", flush=True)
        return
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for kind in ("explicit", "implicit", "logistic"):
            users, items, values = _data(kind, seed=1)
            frame = pd.DataFrame({"user": users * 3 + 11, "item": items, "value": values})
            model = fastmf.MatrixFactorization(**dict(_settings("als", kind),
                                                      dtype=np.float64, num_threads=1))
            fit(client, frame, model, n_user_blocks=2, n_item_blocks=3)
            _record(out, f"distributed-{kind}", model)
            out[f"distributed-{kind}/user_ids_"] = np.array(model.user_ids_)
            print(f"distributed-{kind}", flush=True)


def save(path: str) -> None:
    out: dict[str, np.ndarray] = {}
    _grid(out)
    _distributed(out)
    np.savez(path, **out)
    print(f"{len(out)} arrays from fastmf {fastmf.__version__} written to {path}")


def compare(path_a: str, path_b: str) -> int:
    with np.load(path_a) as a, np.load(path_b) as b:
        names_a, names_b = set(a.files), set(b.files)
        missing = sorted(names_a ^ names_b)
        different = [name for name in sorted(names_a & names_b)
                     if a[name].dtype != b[name].dtype
                     or not np.array_equal(a[name], b[name])]
        same = len(names_a & names_b) - len(different)
    models = [name for name in names_a & names_b if name.endswith("/user_factors_")]
    print(f"{same} of {len(names_a | names_b)} arrays bit-identical "
          f"({len(models)} fitted models)")
    for name in missing:
        print(f"only in one file: {name}")
    for name in different:
        print(f"differs: {name}")
    return 1 if missing or different else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        save(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
