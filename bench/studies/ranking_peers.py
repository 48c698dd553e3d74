"""fastmf's BPR beside the ``implicit`` library's BPR on Gowalla: speed and top-20 quality.

Both fit the training set of the LightGCN split (``quality.load_gowalla``) with the same
factors, epochs, step size and per-update weight decay, at 1 and at 2 threads, in one run
with the fits interleaved (fastmf, implicit, fastmf, implicit ...), so both see the same
machine load.  Throughput is positives per second: training interactions x epochs over
the fit time.  Quality is recall@20 and ndcg@20 on the test set (all items ranked, the
user's training items left out; ``quality.ranking_metrics``), for one fit of each
library (the 1-thread fastmf fit equals the 2-thread one bit for bit; implicit's
Hogwild fits differ by thread count, so each is scored).

implicit's BPR (``implicit.cpu.bpr``) runs Hogwild over all items: negatives from the
whole catalogue, checked against the user's items (``verify_negative_samples``); its
item factors carry one extra column, an item bias.  fastmf draws its negatives inside
the DSGD block (a random 1/B of the items, a new one every epoch) and has no biases.
cornac's BPR is added with ``--cornac`` (one thread: cornac's BPR is serial Cython).
``--warp`` adds fastmf's WARP beside LightFM's (``loss="warp"``, ``max_sampled`` 10 as
fastmf's ``negatives``, its default AdaGrad schedule with step 0.05, no L2: each library
at its own defaults but for k and epochs), interleaved, at the given thread counts.
``--softmax-epochs N`` adds a row for fastmf's sampled softmax (``loss="softmax"`` at its
defaults, N epochs, all the given threads), which no peer offers on the CPU.

Usage (from outside the source tree, with fastmf and ``implicit`` installed)::

    cd "$(mktemp -d)" && python /path/to/fastmf/bench/studies/ranking_peers.py

Results are printed and written to ``bench/results/ranking_peers.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import fastmf
from fastmf._params import DEFAULTS, WARP_DRAWS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))               # quality: the Gowalla loader and metrics
sys.path.insert(0, str(HERE.parent))        # bench/: _results

from _results import write_results  # noqa: E402
from quality import SHARED_DATA, load_gowalla, ranking_metrics  # noqa: E402

SEED = 0
#: The settings both libraries fit with (implicit's names in brackets): factors, epochs
#: (iterations), step (learning_rate), weight decay per update (regularization).
CONFIG = {"factors": 64, "epochs": 30, "learning_rate": 0.05, "l2": 0.001}


def fit_fastmf(train, config: dict, threads: int):
    model = fastmf.MatrixFactorization(
        config["factors"], solver="sgd", loss="bpr", feedback="implicit",
        epochs=config["epochs"], learning_rate=config["learning_rate"], l2=config["l2"],
        num_threads=threads, random_state=SEED)
    start = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - start


class _Factors:
    """Factor arrays as ``fastmf.metrics`` reads a model."""

    def __init__(self, users: np.ndarray, items: np.ndarray) -> None:
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(items, dtype=np.float32)
        self.item_bias_ = None


def fit_implicit(train, config: dict, threads: int):
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    model = BayesianPersonalizedRanking(
        factors=config["factors"], learning_rate=config["learning_rate"],
        regularization=config["l2"], iterations=config["epochs"], num_threads=threads,
        random_state=SEED, verify_negative_samples=True)
    with threadpool_limits(1, "blas"):
        start = time.perf_counter()
        model.fit(train, show_progress=False)
        seconds = time.perf_counter() - start
    return _Factors(np.asarray(model.user_factors), np.asarray(model.item_factors)), seconds


def fit_cornac(train, config: dict, threads: int):
    import cornac

    coo = train.tocoo()
    data = cornac.data.Dataset.from_uir(
        zip(coo.row.tolist(), coo.col.tolist(), [1.0] * coo.nnz, strict=True), seed=SEED)
    model = cornac.models.BPR(k=config["factors"], max_iter=config["epochs"],
                              learning_rate=config["learning_rate"],
                              lambda_reg=config["l2"], seed=SEED, verbose=False)
    start = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - start
    # back to the file's ids; items cornac never saw score -inf through a bias column
    n_users, n_items = train.shape
    users = np.zeros((n_users, config["factors"] + 1), np.float32)
    items = np.zeros((n_items, config["factors"] + 1), np.float32)
    items[:, -1] = -1e9
    for raw, row in data.uid_map.items():
        users[raw, :-1] = model.u_factors[row]
        users[raw, -1] = 1.0
    for raw, row in data.iid_map.items():
        items[raw, :-1] = model.i_factors[row]
        items[raw, -1] = model.i_biases[row]
    return _Factors(users, items), seconds


def fit_softmax(train, epochs: int, factors: int, threads: int):
    model = fastmf.MatrixFactorization(factors, solver="sgd", loss="softmax",
                                       feedback="implicit", epochs=epochs,
                                       num_threads=threads, random_state=SEED)
    start = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - start


def fit_fastmf_warp(train, config: dict, threads: int):
    model = fastmf.MatrixFactorization(
        config["factors"], solver="sgd", loss="warp", feedback="implicit",
        epochs=config["epochs"], num_threads=threads, random_state=SEED)
    start = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - start


def fit_lightfm_warp(train, config: dict, threads: int):
    from lightfm import LightFM

    model = LightFM(no_components=config["factors"], loss="warp", learning_rate=0.05,
                    max_sampled=10, random_state=SEED)
    coo = train.tocoo()
    start = time.perf_counter()
    model.fit(coo, epochs=config["epochs"], num_threads=threads)
    seconds = time.perf_counter() - start
    user_bias, users = model.get_user_representations()
    item_bias, items = model.get_item_representations()
    # score = p.q + b_i (+ b_u, which does not change a user's ranking)
    users = np.hstack([users, np.ones((users.shape[0], 1), np.float32)])
    items = np.hstack([items, item_bias[:, None]])
    return _Factors(users, items), seconds


#: What the WARP rows fit with besides ``factors`` and ``epochs``: each library's defaults.
WARP_CONFIGS = {
    "fastmf-warp": {**DEFAULTS["sgd-warp"], "negatives": WARP_DRAWS},
    "lightfm-warp": {"learning_rate": 0.05, "l2": 0.0, "learning_schedule": "adagrad",
                     "max_sampled": 10},
}

FITTERS = {"fastmf": fit_fastmf, "implicit": fit_implicit, "cornac": fit_cornac,
           "fastmf-warp": fit_fastmf_warp, "lightfm-warp": fit_lightfm_warp}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gowalla", type=Path,
                        default=Path(os.environ.get("FASTMF_GOWALLA_DIR",
                                                    SHARED_DATA / "gowalla-lightgcn")),
                        help="folder with train.tsv and test.txt (default: "
                             "$FASTMF_GOWALLA_DIR or ../shared/data/gowalla-lightgcn)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--factors", type=int, default=CONFIG["factors"])
    parser.add_argument("--cornac", action="store_true", help="also fit cornac's BPR")
    parser.add_argument("--warp", action="store_true",
                        help="fastmf's WARP beside LightFM's, instead of the BPR rows")
    parser.add_argument("--no-peers", action="store_true",
                        help="fit fastmf only (no implicit, no cornac)")
    parser.add_argument("--softmax-epochs", type=int, default=0,
                        help="also fit fastmf's sampled softmax for this many epochs")
    parser.add_argument("--output", default="ranking_peers",
                        help="results name, written as bench/results/<name>.json")
    args = parser.parse_args(argv)
    config = dict(CONFIG, epochs=args.epochs, factors=args.factors)
    train, test = load_gowalla(args.gowalla)
    load = os.getloadavg()[0]
    rows = []
    libraries = (["fastmf"] if args.no_peers
                 else ["fastmf", "implicit"] + (["cornac"] if args.cornac else []))
    if args.warp:
        libraries = ["fastmf-warp", "lightfm-warp"]
    for threads in args.threads:
        for library in libraries:
            if library == "cornac" and threads != 1:
                continue
            load_before = os.getloadavg()[0]
            model, seconds = FITTERS[library](train, config, threads)
            row = {"library": library.split("-")[0],
                   "loss": "warp" if library.endswith("warp") else "bpr", "threads": threads,
                   "fit_s": round(seconds, 3),
                   "positives_per_s": train.nnz * config["epochs"] / seconds,
                   "load_before": round(load_before, 2),
                   "config": {**config, **WARP_CONFIGS.get(library, {})}}
            if not library.startswith("fastmf") or threads == args.threads[-1]:
                row.update(ranking_metrics(model, train, test, threads=max(args.threads)))
            rows.append(row)
            print(f"{library:8s} t{threads}: {seconds:7.2f} s, "
                  f"{row['positives_per_s'] / 1e6:6.2f} M positives/s, load "
                  f"{load_before:.2f}" + (f", recall@20 {row['recall']:.4f}, ndcg@20 "
                                          f"{row['ndcg']:.4f}" if "recall" in row else ""),
                  flush=True)
    if args.softmax_epochs:
        threads = max(args.threads)
        load_before = os.getloadavg()[0]
        model, seconds = fit_softmax(train, args.softmax_epochs, args.factors, threads)
        params = model.get_params()
        row = {"library": "fastmf", "loss": "softmax", "threads": threads,
               "fit_s": round(seconds, 3),
               "positives_per_s": train.nnz * args.softmax_epochs / seconds,
               "load_before": round(load_before, 2),
               "config": {"factors": args.factors, "epochs": args.softmax_epochs,
                          "negatives": params["negatives"] or "default",
                          "temperature": params["temperature"]},
               **ranking_metrics(model, train, test, threads=threads)}
        rows.append(row)
        print(f"softmax  t{threads}: {seconds:7.2f} s, recall@20 {row['recall']:.4f}, "
              f"ndcg@20 {row['ndcg']:.4f}, load {load_before:.2f}", flush=True)
    for threads in args.threads:
        mine = [r for r in rows if r["library"] == "fastmf" and r["loss"] == "bpr"
                and r["threads"] == threads]
        peer = [r for r in rows if r["library"] == "implicit" and r["threads"] == threads]
        if mine and peer:
            print(f"t{threads}: fastmf / implicit throughput "
                  f"{mine[0]['positives_per_s'] / peer[0]['positives_per_s']:.2f}x")
    path = write_results(args.output, rows, settings=config, load_at_start=load,
                         fastmf_version=fastmf.__version__)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
