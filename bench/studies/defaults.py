"""How far the defaults of ``MatrixFactorization`` land from the best of a small grid.

For each kind of fit (explicit SGD, explicit ALS, implicit ALS, and the two logistic
ones) the parameters that its defaults set (``learning_rate``, ``l2``, ``weighted_l2``,
``init_scale``, ``alpha``) are searched over a small grid, at the default ``factors``
(32) and ``epochs`` (20), on every data set of that kind:

* **MovieLens 100K**, folds u1-u5 (explicit): the mean over the folds;
* **synth 1M** (explicit; ``make_ratings(20_000, 5_000, 1_000_000, seed=1)``, 80/20
  split with seed 0), and its binary labels (rating >= 4) for the logistic fits;
* **Gowalla**, the LightGCN split (implicit): recall@20.

Every grid point is scored on a **validation split carved from the training data**
(10 % of the ratings of each training set, seed 0; for Gowalla 20 % of each user's
training items, as ``bench/studies/quality.py`` tunes), never on a test set.  The defaults are
scored the same way (a model built with only ``factors``/``solver``/``feedback``/
``loss``, so whatever the library's defaults are is what is measured), and then both
the defaults and the grid's best are refitted on the whole training data and scored on
the test set.

Usage (the installed fastmf is imported; run from outside the checkout)::

    cd /tmp && nice -n 19 python /path/to/bench/studies/defaults.py [--parts ...]
        [--threads 1] [--quick]

Prints one table per kind of fit and writes ``bench/results/defaults.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

import fastmf
import fastmf.data
import fastmf.io
from fastmf.datasets import make_ratings
from fastmf.metrics import recall_at_k
from fastmf.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _results import write_results  # noqa: E402
from quality import SHARED_DATA, holdout_split, load_gowalla  # noqa: E402

SEED = 0


def grid(**axes) -> list[dict]:
    """Every combination of the axes, as keyword arguments."""
    names = list(axes)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*axes.values())]


# What each kind of fit searches, and why these values:
# * SGD: step sizes from 0.01 to 0.04 (about the largest that stays stable for 20
#   epochs on 1-5 ratings), weight decay from Surprise's 0.02 to 0.08, a small and a
#   large initial scale (Surprise starts at 0.1);
# * explicit ALS: ALS-WR's count-scaled penalty from 0.03 to 0.2 (MovieLens and the
#   synthetic set want about 0.13 and 0.06), and the unscaled penalty of a typical row
#   count (3 to 30);
# * implicit ALS: confidence scales from 10 to 320 (recall on Gowalla still rose at
#   160), the penalty count-scaled (0.3 to 10) and unscaled, as implicit has it (1 to
#   100);
# * logistic: step sizes up to 0.2 and weight decay 0.02 to 0.1 for SGD; ALS's penalty
#   both ways.
# The initial scale of ALS is not searched: after the first half-sweep it no longer
# matters (0.01 and 0.1 gave the same RMSE to 0.001).
GRIDS = {
    "sgd": grid(learning_rate=[0.01, 0.02, 0.03, 0.04], l2=[0.02, 0.03, 0.05, 0.08],
                init_scale=[0.01, 0.1]),
    "als-explicit": (grid(weighted_l2=[True], l2=[0.03, 0.05, 0.07, 0.1, 0.15, 0.2])
                     + grid(weighted_l2=[False], l2=[3.0, 10.0, 30.0])),
    "als-implicit": (grid(weighted_l2=[True], l2=[0.3, 1.0, 3.0, 10.0],
                          alpha=[10.0, 40.0, 160.0, 320.0])
                     + grid(weighted_l2=[False], l2=[1.0, 10.0, 100.0], alpha=[40.0, 160.0])),
    "sgd-logistic": grid(learning_rate=[0.02, 0.05, 0.1, 0.2], l2=[0.02, 0.05, 0.1]),
    "als-logistic": (grid(weighted_l2=[True], l2=[0.02, 0.05, 0.1, 0.3])
                     + grid(weighted_l2=[False], l2=[1.0, 3.0, 10.0])),
}
BASE = {
    "sgd": dict(solver="sgd"),
    "als-explicit": dict(solver="als"),
    "als-implicit": dict(solver="als", feedback="implicit"),
    "sgd-logistic": dict(solver="sgd", loss="logistic"),
    "als-logistic": dict(solver="als", loss="logistic"),
}
# data sets of each kind of fit; "lower" says whether a lower metric is better
SETS = {
    "sgd": ["movielens-100k", "synth-1M"],
    "als-explicit": ["movielens-100k", "synth-1M"],
    "als-implicit": ["gowalla"],
    "sgd-logistic": ["synth-1M-binary"],
    "als-logistic": ["synth-1M-binary"],
}
METRIC = {"movielens-100k": ("rmse", True), "synth-1M": ("rmse", True),
          "gowalla": ("recall@20", False), "synth-1M-binary": ("auc", False)}


# ------------------------------------------------------------------------------ data
def splits(name: str, quick: bool) -> list[dict]:
    """The (fit, validation) and (train, test) pairs of a data set: one per fold."""
    if name == "movielens-100k":
        folder = SHARED_DATA / "movielens-100k"
        out = []
        for fold in ([1] if quick else [1, 2, 3, 4, 5]):
            train = fastmf.io.load_movielens(folder / f"u{fold}.base")
            test = fastmf.io.load_movielens(folder / f"u{fold}.test")
            # the standard folds use the ids of u.data: 943 users, 1682 items, 1-based
            shape = (943, 1682)
            train = fastmf.data.Triples(train.user_ids[train.users] - 1,
                                        train.item_ids[train.items] - 1, train.ratings,
                                        shape=shape)
            test = fastmf.data.Triples(test.user_ids[test.users] - 1,
                                       test.item_ids[test.items] - 1, test.ratings,
                                       shape=shape)
            out.append(_with_validation(train, test))
        return out
    if name.startswith("synth-1M"):
        data = make_ratings(20_000, 5_000, 200_000 if quick else 1_000_000, seed=1)
        if name.endswith("binary"):
            data = fastmf.data.Triples(data[0], data[1], (data[2] >= 4).astype(np.float32),
                                       shape=data.shape)
        train, test = train_test_split(data, 0.2, random_state=SEED)
        return [_with_validation(train, test)]
    if name == "gowalla":
        train, test = load_gowalla(SHARED_DATA / "gowalla-lightgcn")
        fit, val = holdout_split(train, 0.2, seed=SEED)
        return [{"fit": fit, "val": val, "train": train, "test": test}]
    raise ValueError(name)


def _with_validation(train, test) -> dict:
    fit, val = train_test_split(train, 0.1, random_state=SEED)
    return {"fit": fit, "val": val, "train": train, "test": test}


# ------------------------------------------------------------------------------ scoring
def score(model, train, test, metric: str) -> float:
    """The metric of ``model`` (fitted on ``train``) on ``test``, by fastmf.metrics."""
    if metric == "recall@20":
        return recall_at_k(model, test=test, train=train, k=20,
                           num_threads=model.num_threads)
    if metric == "auc":
        return model.score(test)             # ROC AUC for the logistic loss
    return -model.score(test)                # RMSE of clipped predictions


def evaluate(kind: str, params: dict, folds: list[dict], metric: str, part: str,
             threads: int) -> tuple[float, float]:
    """Mean metric over the folds of (fit on ``fit``, score ``val``) or, with part
    "test", (fit on ``train``, score ``test``); and the mean fit seconds."""
    values, seconds = [], []
    train_key, test_key = ("fit", "val") if part == "val" else ("train", "test")
    for f in folds:
        model = fastmf.MatrixFactorization(32, **BASE[kind], **params, num_threads=threads,
                                           random_state=SEED)
        start = time.perf_counter()
        model.fit(f[train_key])
        seconds.append(time.perf_counter() - start)
        values.append(score(model, f[train_key], f[test_key], metric))
    return float(np.mean(values)), float(np.mean(seconds))


def study(kind: str, data_name: str, folds, threads: int) -> list[dict]:
    metric, lower = METRIC[data_name]
    rows = []
    for params in GRIDS[kind]:
        try:
            value, secs = evaluate(kind, params, folds, metric, "val", threads)
            failure = None
        except (fastmf.ALSError, fastmf.DivergenceError) as exc:   # recorded, not fatal
            value, secs, failure = None, None, str(exc)
        rows.append({"group": f"{kind} {data_name}", "kind": kind, "data": data_name,
                     "config": json.dumps(params), "split": "validation",
                     "metric": metric, "value": value, "seconds": secs,
                     "failure": failure})
        shown = f"{value:.4f}" if value is not None else f"failed: {failure}"
        print(f"  {kind:<13} {data_name:<16} {json.dumps(params):<62} {metric} {shown}",
              flush=True)
    scored = [r for r in rows if r["value"] is not None]
    best = (min if lower else max)(scored, key=lambda r: r["value"])
    default_val, _ = evaluate(kind, {}, folds, metric, "val", threads)
    default_test, _ = evaluate(kind, {}, folds, metric, "test", threads)
    best_test, _ = evaluate(kind, json.loads(best["config"]), folds, metric, "test",
                            threads)
    gap = (default_val / best["value"] - 1) if lower else (1 - default_val / best["value"])
    summary = {"group": "defaults vs best", "kind": kind, "data": data_name,
               "metric": metric, "defaults": json.dumps(_defaults_of(kind)),
               "default_validation": default_val, "best_config": best["config"],
               "best_validation": best["value"], "gap_percent": 100 * gap,
               "default_test": default_test, "best_test": best_test}
    print(f"{kind} on {data_name}: defaults {metric} {default_val:.4f} (test "
          f"{default_test:.4f}), best {best['value']:.4f} {best['config']} (test "
          f"{best_test:.4f}); the defaults are {100 * gap:+.2f} % from the best",
          flush=True)
    return rows + [summary]


def _defaults_of(kind: str) -> dict:
    """What the defaults resolve to for this kind of fit (read from fastmf itself)."""
    from fastmf._params import check_params

    p = check_params(fastmf.MatrixFactorization(**BASE[kind]))
    return {"learning_rate": p.learning_rate, "l2": p.l2, "weighted_l2": p.weighted_l2,
            "init_scale": p.init_scale, "alpha": p.alpha}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=list(GRIDS), choices=list(GRIDS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="one MovieLens fold and 200k synthetic ratings")
    args = parser.parse_args()
    rows = []
    cache: dict[str, list[dict]] = {}
    for kind in args.parts:
        for data_name in SETS[kind]:
            if data_name not in cache:
                cache[data_name] = splits(data_name, args.quick)
            rows += study(kind, data_name, cache[data_name], args.threads)
    if not args.quick:
        path = write_results("defaults", rows, factors=32, epochs=20, seed=SEED,
                             threads=args.threads, grids={k: GRIDS[k] for k in args.parts})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
