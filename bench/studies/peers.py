"""fastmf beside the libraries a user would otherwise choose, on the same data and settings.

Optional script (``pip install "fastmf[bench]" scikit-surprise implicit lightfm libmf``;
not needed by the tests).  On synth 1M and synth 10M (``--sets``; synth 100k with
``--quick``), split 80/20, it fits every library of each row group and prints one Markdown
table (synth 10M: explicit SGD without Surprise, and implicit ALS CG):

* ``explicit SGD`` (ratings, test RMSE): fastmf SGD, scikit-surprise ``SVD`` (biased SGD),
  LIBMF through its ``libmf`` binding (``peers_sgd.py``'s table, which this reuses);
* ``implicit ALS CG`` and ``implicit ALS Cholesky`` (the training pairs as interactions,
  precision@10 on the held-out pairs, training pairs excluded): fastmf ALS,
  ``implicit.cpu.als.AlternatingLeastSquares``;
* ``logistic`` (labels ``rating >= 4``, test AUC and log-loss): fastmf logistic SGD and
  logistic ALS (one Newton step per row), ``implicit``'s ``LogisticMatrixFactorization``
  (trained on the positive pairs, sampling its own negatives, so no log-loss) and
  ``lightfm.LightFM(loss="logistic")`` (labels as +1/-1);
* ``recommend all users`` (top 10, k=64, training items excluded): fastmf's
  ``recommend_all`` beside the sgemm alone of the same scores (NumPy, 2,048-user tiles,
  BLAS at the same thread count), the floor of any method that computes every score.

LIBMF is timed as installed; ``peers_sgd.libmf_build`` records what its library was
compiled with (OpenMP, 256/512-bit vector instructions), and the results keep it.

Each fit is timed alone (data conversion to each library's input format is done before
the clock starts, except where noted) at 1 thread and all cores where the library
threads; the best of ``--repeats`` is kept.  A peer that does not import is listed with
the error, not left out.  Writes ``bench/results/peers.json``::

    python bench/studies/peers.py             # synth 1M and 10M, 2 repeats (~15 minutes)
    python bench/studies/peers.py --sets 1M   # synth 1M only
    python bench/studies/peers.py --quick     # synth 100k, fewer iterations, 1 repeat
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # bench/: _results

import peers_sgd  # noqa: E402
from _results import write_results  # noqa: E402
from _shared import (  # noqa: E402
    LIBMF_SETTINGS,
    SYNTH_SETTINGS,
    as_model,
    binary_labels,
    load_synth_1m,
    load_synth_10m,
    load_synth_small,
)
from threadpoolctl import threadpool_limits  # noqa: E402

from fastmf import MatrixFactorization  # noqa: E402
from fastmf.metrics import log_loss, precision_at_k, roc_auc  # noqa: E402

IMPLICIT_FACTORS = 64
CONFIDENCE = 10.0           # confidence of an observed pair, in both ALS libraries
IMPLICIT_L2 = 0.01
LOGISTIC_FACTORS = 32


def _sigmoid(s: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(s, dtype=np.float64)))


def _threads() -> list[int]:
    return sorted({1, os.cpu_count() or 1})


def _best(fn, repeats: int) -> dict:
    """Run ``fn`` (which returns a row dict with ``fit_seconds``) and keep the fastest."""
    runs = [fn() for _ in range(repeats)]
    best = min(runs, key=lambda r: r["fit_seconds"])
    best["fit_seconds_range"] = [min(r["fit_seconds"] for r in runs),
                                 max(r["fit_seconds"] for r in runs)]
    return best


def _timed(fit) -> float:
    start = time.perf_counter()
    fit()
    return time.perf_counter() - start


def _row(group, library, threads, iterations, seconds, **metrics) -> dict:
    return {"group": group, "library": library, "threads": threads, "iterations": iterations,
            "fit_seconds": seconds, "s_per_iteration": seconds / max(iterations, 1),
            **metrics, "status": "ok"}


def _failed(group, library, exc) -> dict:
    return {"group": group, "library": library, "status": f"failed: {exc}"}


# ------------------------------------------------------------------------- explicit SGD
def explicit_sgd(split, settings, repeats, surprise_epochs) -> list[dict]:
    """fastmf, Surprise and LIBMF through ``peers_sgd.run_dataset``."""
    group = "explicit SGD"
    rows = []
    out = peers_sgd.run_dataset(split, settings, surprise_epochs=surprise_epochs,
                                repeats=repeats, threads=_threads(),
                                libmf_settings=LIBMF_SETTINGS["synth"])
    for r in out:
        best = r.best
        if best is None:
            rows.append({"group": group, "library": r.library, "threads": r.threads,
                         "status": r.note or "failed"})
            continue
        rows.append({**_row(group, r.library, r.threads, r.epochs, best.seconds,
                            updates_per_s=best.updates_per_s, rmse=best.rmse),
                     "note": r.note})
    return rows


# ------------------------------------------------------------------------- implicit ALS
def implicit_data(split):
    """Training and test pairs as users x items CSR matrices of ones."""
    def csr(part):
        users, items, _ = part
        ones = np.ones(users.size, dtype=np.float32)
        return sp.csr_matrix((ones, (users, items)), shape=(split.n_users, split.n_items))
    return csr(split.train), csr(split.test)


def implicit_als(split, iterations, repeats, solvers=("cg", "cholesky")) -> list[dict]:
    train, test = implicit_data(split)
    rows = []
    for solver in solvers:
        group = f"implicit ALS {'CG' if solver == 'cg' else 'Cholesky'}"
        for threads in _threads():
            def fit_fastmf(threads=threads, solver=solver, group=group):
                model = MatrixFactorization(
                    IMPLICIT_FACTORS, solver="als", feedback="implicit",
                    linear_solver=solver, cg_steps=3, alpha=CONFIDENCE - 1.0, l2=IMPLICIT_L2,
                    epochs=iterations, num_threads=threads, random_state=0,
                    init_scale=0.01)
                seconds = _timed(lambda: model.fit(train))
                p10 = precision_at_k(model, test=test, train=train, k=10)
                return _row(group, "fastmf", threads, iterations, seconds,
                            updates_per_s=train.nnz * iterations / seconds,
                            precision_at_10=p10)
            rows.append(_best(fit_fastmf, repeats))
        try:
            from implicit.cpu.als import AlternatingLeastSquares
        except ImportError as exc:
            rows.append(_failed(group, "implicit", exc))
            continue
        for threads in _threads():
            def fit_implicit(threads=threads, solver=solver, group=group):
                with threadpool_limits(1, "blas"):    # implicit warns about a threaded BLAS
                    model = AlternatingLeastSquares(
                        factors=IMPLICIT_FACTORS, regularization=IMPLICIT_L2,
                        alpha=CONFIDENCE, use_cg=solver == "cg", iterations=iterations,
                        num_threads=threads, random_state=0)
                    model.cg_steps = 3
                    seconds = _timed(lambda: model.fit(train, show_progress=False))
                p10 = precision_at_k(as_model(model.user_factors, model.item_factors),
                                     test=test, train=train, k=10)
                return _row(group, "implicit", threads, iterations, seconds,
                            updates_per_s=train.nnz * iterations / seconds,
                            precision_at_10=p10)
            rows.append(_best(fit_implicit, repeats))
    return rows


# ----------------------------------------------------------------------------- logistic
def logistic(split, epochs, repeats) -> list[dict]:
    group = "logistic"
    labels = binary_labels(split.train[2])
    tu, ti, tv = split.test
    test_labels = binary_labels(tv)
    matrix = split.train_matrix(binary=True)
    n = split.n_train
    rows = []

    def scored(library, threads, seconds, scores, *, probabilities=True):
        metrics = {"auc": roc_auc(test_labels, scores)}
        if probabilities:
            metrics["log_loss"] = log_loss(test_labels, scores)
        return _row(group, library, threads, epochs, seconds,
                    updates_per_s=n * epochs / seconds, **metrics)

    for threads in _threads():
        for solver, params in (("sgd", {"learning_rate": 0.03, "l2": 0.05}),
                               ("als", {"l2": 1.0, "newton_steps": 1})):
            def fit_fastmf(threads=threads, solver=solver, params=params):
                model = MatrixFactorization(LOGISTIC_FACTORS, solver=solver, loss="logistic",
                                            epochs=epochs, num_threads=threads,
                                            random_state=0, **params)
                seconds = _timed(lambda: model.fit(matrix))
                return scored(f"fastmf {solver.upper()}", threads, seconds,
                              model.predict(tu, ti))
            rows.append(_best(fit_fastmf, repeats))

    try:
        from implicit.cpu.lmf import LogisticMatrixFactorization
    except ImportError as exc:
        rows.append(_failed(group, "implicit LMF", exc))
    else:
        positives = sp.csr_matrix(
            (np.ones(int(labels.sum()), np.float32),
             (split.train[0][labels > 0], split.train[1][labels > 0])),
            shape=(split.n_users, split.n_items))
        for threads in _threads():
            def fit_lmf(threads=threads):
                model = LogisticMatrixFactorization(factors=LOGISTIC_FACTORS,
                                                    iterations=epochs, num_threads=threads,
                                                    random_state=0)
                seconds = _timed(lambda: model.fit(positives, show_progress=False))
                scores = np.einsum("ij,ij->i", model.user_factors[tu], model.item_factors[ti])
                row = scored("implicit LMF", threads, seconds, scores, probabilities=False)
                row["note"] = "trained on positive pairs, own negative sampling"
                return row
            rows.append(_best(fit_lmf, repeats))

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            from lightfm import LightFM
    except ImportError as exc:
        rows.append(_failed(group, "lightfm", exc))
    else:
        signed = sp.coo_matrix((np.where(labels > 0, 1.0, -1.0).astype(np.float32),
                                (split.train[0], split.train[1])),
                               shape=(split.n_users, split.n_items))
        for threads in _threads():
            def fit_lightfm(threads=threads):
                model = LightFM(no_components=LOGISTIC_FACTORS, loss="logistic",
                                random_state=0)
                seconds = _timed(lambda: model.fit(signed, epochs=epochs,
                                                   num_threads=threads))
                scores = model.predict(tu.astype(np.int32), ti.astype(np.int32),
                                       num_threads=threads)
                return scored("lightfm", threads, seconds, _sigmoid(scores))
            rows.append(_best(fit_lightfm, repeats))
    return rows


# ----------------------------------------------------------------------------- serving
SERVING_FACTORS = 64
SERVING_N = 10
FLOOR_TILE = 2048


def serving(split, repeats) -> list[dict]:
    """Top 10 of every user, training items excluded, beside the sgemm of the scores."""
    from threadpoolctl import threadpool_limits

    group = "recommend all users"
    train = split.train_matrix().tocsr()
    model = MatrixFactorization(SERVING_FACTORS, epochs=2, learning_rate=0.01,
                                random_state=0).fit(train)
    P, Q = model.user_factors_, model.item_factors_
    rows = []
    for threads in _threads():
        model.num_threads = threads

        def run(model=model):
            return _timed(lambda: model.recommend_all(SERVING_N, exclude=train))

        def floor(threads=threads):
            with threadpool_limits(threads, "blas"):
                return _timed(lambda: [P[s:s + FLOOR_TILE] @ Q.T
                                       for s in range(0, P.shape[0], FLOOR_TILE)])

        run()
        floor()
        times, floors = [], []
        for _ in range(max(repeats, 3)):       # interleaved
            times.append(run())
            floors.append(floor())
        for library, ts in (("fastmf recommend_all", times),
                            (f"sgemm alone ({FLOOR_TILE}-user tiles)", floors)):
            rows.append({**_row(group, library, threads, 1, min(ts),
                                updates_per_s=P.shape[0] / min(ts)),
                         "fit_seconds_range": [min(ts), max(ts)],
                         "note": f"{P.shape[0]:,} users x {Q.shape[0]:,} items, k={Q.shape[1]}"})
    return rows


# ---------------------------------------------------------------------------- the table
COLUMNS = (("data", "{}"), ("library", "{}"), ("threads", "{}"), ("iterations", "{}"),
           ("fit_seconds", "{:.3f}"), ("s_per_iteration", "{:.4f}"),
           ("updates_per_s", "{:.3g}"), ("rmse", "{:.4f}"), ("precision_at_10", "{:.4f}"),
           ("auc", "{:.4f}"), ("log_loss", "{:.4f}"), ("status", "{}"))


def format_table(rows: list[dict]) -> str:
    """One Markdown table, row groups in order, with a group column."""
    head = ["group"] + [c for c, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.get("group", "")]
        for col, fmt in COLUMNS:
            value = row.get(col)
            cells.append("-" if value is None else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


SETS = {"1M": load_synth_1m, "10M": load_synth_10m}


def run_set(name: str, split, repeats: int, quick: bool) -> list[dict]:
    """Every row group on one set (synth 10M: explicit SGD and implicit ALS CG only)."""
    big = name == "10M"
    sgd_settings = dict(SYNTH_SETTINGS, epochs=3) if quick else \
        SYNTH_SETTINGS
    surprise_epochs = 0 if big else (1 if quick else 5)
    iterations = 3 if quick else 10
    parts = [("explicit SGD", lambda: explicit_sgd(split, sgd_settings, repeats,
                                                   surprise_epochs)),
             ("implicit ALS", lambda: implicit_als(split, iterations, repeats,
                                                   ("cg",) if big else ("cg", "cholesky")))]
    if not big:
        parts += [("logistic", lambda: logistic(split, 3 if quick else 10, repeats)),
                  ("serving", lambda: serving(split, repeats))]
    rows = []
    for part, fn in parts:
        print(f"{split.name}: {part} ...", flush=True)
        rows += [{"data": split.name, **row} for row in fn()]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="synth 100k, 3 iterations, 1 repeat")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["1M", "10M"],
                        help="synthetic sets (default: 1M and 10M)")
    parser.add_argument("--repeats", type=int, help="fits per row, best kept (default 2)")
    parser.add_argument("--output", default="peers", help="results file stem")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 2)
    loads = {"100k": load_synth_small} if args.quick else \
        {name: SETS[name] for name in args.sets}
    rows, sizes = [], {}
    for name, load in loads.items():
        split = load()
        sizes[split.name] = {"n_train": split.n_train, "n_test": int(split.test[0].size)}
        rows += run_set(name, split, repeats, args.quick)
        del split
    print()
    for name, size in sizes.items():
        print(f"{name}: {size['n_train']:,} train / {size['n_test']:,} test ratings")
    print()
    print(format_table(rows))
    try:
        libmf = peers_sgd.libmf_build()
    except (ImportError, OSError) as exc:
        libmf = {"status": f"not installed: {exc}"}
    print(f"\nLIBMF build: {libmf}")
    path = write_results(args.output, rows, data=sorted(sizes), sizes=sizes,
                         repeats=repeats, quick=args.quick, libmf_build=libmf,
                         settings={"explicit_sgd": SYNTH_SETTINGS,
                                   "surprise_epochs": 5,
                                   "implicit_als": {"factors": IMPLICIT_FACTORS,
                                                    "iterations": 10,
                                                    "confidence": CONFIDENCE,
                                                    "l2": IMPLICIT_L2, "cg_steps": 3},
                                   "logistic": {"factors": LOGISTIC_FACTORS, "epochs": 10},
                                   "serving": {"factors": SERVING_FACTORS, "n": SERVING_N,
                                               "floor_tile": FLOOR_TILE}})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
