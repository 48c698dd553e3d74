"""Accuracy of fastmf against published results.

Two parts, each run when its data is present (a missing folder is reported and skipped):

**MovieLens 100K**, the five standard folds ``u1.base``/``u1.test`` ... ``u5``: RMSE and
MAE averaged over the folds for

* fastmf SGD with Surprise's SVD defaults (k=100, 20 epochs, lr 0.005, l2 0.02, init 0.1);
* fastmf SGD and fastmf explicit ALS with tuned settings (``ML_CONFIGS``);
* Surprise's SVD and SVD++ measured in the same run (when ``surprise`` is installed;
  ``--no-svdpp`` skips the slow SVD++);

next to Surprise's published figures (``SURPRISE_PUBLISHED``).  Predictions of every model
are clipped to the rating scale [1, 5], as Surprise does.  The tuned settings were chosen
on fold u1 alone (its test set served as the validation set); all five folds are reported.

**Gowalla**, the 10-core split of NGCF/LightGCN: recall@20 and ndcg@20 over all items,
each user's training items excluded, averaged over test users (recall = hits / |test
items|; ndcg with the ideal DCG over min(|test items|, 20) positions), with fit time, for

* the fastmf rows of ``GOWALLA_ROWS`` (implicit ALS at 128, 256 and 512 factors with
  conjugate gradient, at 512 and 1024 with the subspace solver, and SGD with the BPR
  loss), one line each;
* the ``implicit`` library's ALS with the target settings (``IMPLICIT_CONFIGS``),
  measured in the same run with the same thread count;

next to the LightGCN paper's table (``LIGHTGCN_PUBLISHED``).  The standard split has no
validation set, so each fastmf row is tuned on a hold-out carved from the training set:
20 % of each user's training items (``holdout_split``, ``HOLDOUT_SEED``).  Every point of
the row's grid is fitted on the other 80 % with the hold-out as validation data
(``fit(validation=...)``) and early stopping on its ndcg@20, which also picks the number
of epochs; the point with the best hold-out ndcg@20 is then fitted on the whole training
set once per seed of ``SEEDS`` and scored on the test set: the table gives the mean and
the range over the seeds, and ``quality.json`` keeps each row's full
``MatrixFactorization`` parameters (``config``), the seeds, every seed's figures
(``runs``), the hold-out figures and every grid point tried (``tuning``).  Nothing is
selected on the test set.  ``--validate`` scores the carved hold-out instead of the test
set.

Confidence: fastmf weighs an observed interaction by ``1 + alpha * r``, ``implicit`` 0.7 by
``alpha * r`` (its ``alpha`` multiplies the stored values), so fastmf's ``alpha=39``
matches implicit's ``alpha=40``.  implicit adds a plain ``lambda * I`` to every row's
normal equations, as fastmf does by default; the tuned fastmf settings use
``weighted_l2``, which scales ``lambda`` by the row's number of interactions.

Usage (from outside the source tree, so that the installed fastmf is imported)::

    cd "$(mktemp -d)" && python /path/to/fastmf/bench/studies/quality.py --threads 2
    python bench/studies/quality.py --quick --parts movielens     # one fold, no SVD++

Results are printed and written to ``bench/results/quality.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import fastmf
from fastmf.metrics import mae, ndcg_at_k, recall_at_k, rmse
from fastmf.model_selection import per_user_split

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))        # bench/: _results

from _results import write_results  # noqa: E402
from _shared import as_model  # noqa: E402

SHARED_DATA = HERE.parents[2] / "shared" / "data"

# ---------------------------------------------------------------------------------------
# published and previously measured figures
# ---------------------------------------------------------------------------------------

SURPRISE_PUBLISHED = {
    # Surprise's README / documentation benchmark table ("Movielens 100k", 5-fold CV,
    # RMSE, MAE), https://surpriselib.com and github.com/NicolasHug/Surprise README.
    "SVD": (0.934, 0.737),
    "SVD++": (0.919, 0.721),
}
"""Published 5-fold RMSE and MAE of Surprise on MovieLens 100K."""

LIGHTGCN_PUBLISHED = {
    # He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
    # Recommendation", SIGIR 2020 (arXiv:2002.02126), Gowalla columns of its tables.
    "LightGCN": (0.1830, 0.1554),
    "NGCF": (0.1570, 0.1327),
    "MF-BPR": (0.1291, 0.1109),
}
"""Published recall@20 and ndcg@20 on the Gowalla split."""

IMPLICIT_ISSUE = {
    # Issue #5: implicit 0.7.3 ALS tuned on this split on this machine, two threads.
    256: {"recall": 0.1716, "ndcg": 0.1420, "seconds": 25.0},
    128: {"recall": 0.162, "ndcg": 0.136, "seconds": 10.0},
}
"""Figures quoted in the issue for the ``implicit`` library (targets for fastmf)."""

# ---------------------------------------------------------------------------------------
# configurations
# ---------------------------------------------------------------------------------------

ML_CONFIGS = {
    "fastmf SGD (Surprise defaults)": dict(
        solver="sgd", factors=100, epochs=20, learning_rate=0.005, l2=0.02, init_scale=0.1),
    "fastmf SGD (tuned)": dict(
        solver="sgd", factors=100, epochs=60, learning_rate=0.007, l2=0.08, l2_bias=0.005,
        init_scale=0.01),
    "fastmf ALS (tuned)": dict(
        solver="als", factors=128, epochs=6, l2=0.12, l2_bias=0.02, weighted_l2=True,
        init_scale=0.1),
}
"""fastmf settings run on the MovieLens folds (keyword arguments of MatrixFactorization)."""

@dataclass(frozen=True)
class Row:
    """One fastmf row of the Gowalla table: its ``config`` (``MatrixFactorization``
    parameters; ``epochs`` is the most the tuning runs, and ``num_threads``,
    ``random_state`` and ``dtype`` are set by the run), a ``grid`` of values tried on the
    hold-out (parameter -> values; empty: the config as it is), and the ``patience`` of
    early stopping on the hold-out's ndcg@20, which picks the number of epochs (None:
    ``epochs`` as given)."""

    name: str
    config: dict
    grid: dict = field(default_factory=dict)
    patience: int | None = 2


IALS = dict(solver="als", feedback="implicit", l2=3.0, weighted_l2=True, alpha=39.0,
            epochs=8, linear_solver="cg", cg_steps=6, init_scale=0.01)
"""Implicit ALS as tuned for issue #5 (``bench/README.md``), epochs left to early
stopping."""

IALS_SUBSPACE = dict(IALS, epochs=6, linear_solver="subspace", block_size=16, l2=7.0,
                     l2_exponent=0.75)
"""Implicit ALS with the subspace solver and the frequency-scaled penalty
``l2 * n**0.75``, as chosen on the hold-out by ``ials_rank.py --validate``
(``bench/README.md``)."""

BPR = dict(solver="sgd", loss="bpr", feedback="implicit", factors=64, epochs=30,
           learning_rate=0.05, l2=0.001)
"""SGD with the BPR loss, the settings of ``ranking_peers.py``."""

GOWALLA_ROWS = [
    Row("fastmf implicit ALS k=128", dict(IALS, factors=128)),
    Row("fastmf implicit ALS k=256", dict(IALS, factors=256)),
    Row("fastmf implicit ALS k=512", dict(IALS, factors=512)),
    Row("fastmf iALS subspace k=512", dict(IALS_SUBSPACE, factors=512)),
    Row("fastmf iALS subspace k=1024", dict(IALS_SUBSPACE, factors=1024)),
    Row("fastmf BPR k=64", BPR, patience=None),
]
"""The fastmf models on Gowalla, one line each: every row is tuned on the hold-out
carved from the training set (``HOLDOUT_SEED``) and reported once on the test set,
fitted with each of ``SEEDS``."""

IMPLICIT_CONFIGS = {
    128: dict(factors=128, regularization=30.0, alpha=40.0, iterations=15),
    256: dict(factors=256, regularization=30.0, alpha=40.0, iterations=15),
}
"""``implicit.als.AlternatingLeastSquares`` settings of the issue, by number of factors."""

SEED = 42
K = 20
SEEDS = (0, 1, 2)
"""Seeds of the Gowalla fastmf rows: the first also tunes; the table has their mean and
range."""
HOLDOUT_SEED, HOLDOUT_FRACTION = 0, 0.2


# ---------------------------------------------------------------------------------------
# MovieLens 100K
# ---------------------------------------------------------------------------------------

ML_USERS, ML_ITEMS = 943, 1682


def _read_ml_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0-based users, items and float ratings of a ``u*.base``/``u*.test`` file."""
    a = np.loadtxt(path, dtype=np.int64, usecols=(0, 1, 2), ndmin=2)
    return a[:, 0] - 1, a[:, 1] - 1, a[:, 2].astype(np.float64)


def load_ml_fold(folder: Path, fold: int):
    """Train matrix (943 x 1682, CSR) and test triples of fold ``u<fold>``."""
    u, i, r = _read_ml_file(folder / f"u{fold}.base")
    train = sp.csr_matrix((r, (u, i)), shape=(ML_USERS, ML_ITEMS))
    return train, _read_ml_file(folder / f"u{fold}.test")


def fit_predict_fastmf(config: dict, train, test, threads: int) -> tuple[np.ndarray, float]:
    """Fit fastmf on ``train``; clipped predictions of the test pairs and the fit time."""
    model = fastmf.MatrixFactorization(**config, num_threads=threads, random_state=SEED,
                                       dtype=np.float64)
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    return np.clip(model.predict(test[0], test[1]), 1.0, 5.0), seconds


def _surprise_folds(folder: Path, folds):
    from surprise import Dataset, Reader
    from surprise.model_selection import PredefinedKFold

    pairs = [(str(folder / f"u{f}.base"), str(folder / f"u{f}.test")) for f in folds]
    data = Dataset.load_from_folds(pairs, reader=Reader("ml-100k"))
    return PredefinedKFold().split(data)


def run_surprise(algo_name: str, folder: Path, folds) -> list[dict]:
    """Surprise's SVD or SVDpp with its defaults on the folds: RMSE, MAE, fit time."""
    import surprise
    from surprise import accuracy

    rows = []
    for fold, (trainset, testset) in zip(folds, _surprise_folds(folder, folds), strict=True):
        algo = getattr(surprise, algo_name)(random_state=SEED)
        start = time.perf_counter()
        algo.fit(trainset)
        seconds = time.perf_counter() - start
        pred = algo.test(testset)
        rows.append({"fold": fold, "rmse": accuracy.rmse(pred, verbose=False),
                     "mae": accuracy.mae(pred, verbose=False), "seconds": seconds})
    return rows


def run_movielens(folder: Path, threads: int, quick: bool, surprise_algos) -> list[dict]:
    """Every MovieLens row (per fold and the means), printed as a table."""
    folds = [1] if quick else [1, 2, 3, 4, 5]
    data = {f: load_ml_fold(folder, f) for f in folds}
    per_fold: dict[str, list[dict]] = {}
    for name, config in ML_CONFIGS.items():
        per_fold[name] = []
        for f in folds:
            train, test = data[f]
            pred, seconds = fit_predict_fastmf(config, train, test, threads)
            per_fold[name].append({"fold": f, "rmse": rmse(test[2], pred),
                                   "mae": mae(test[2], pred),
                                   "seconds": seconds})
    for algo in surprise_algos:
        per_fold[f"Surprise {algo} (measured)"] = run_surprise(algo, folder, folds)

    rows = []
    print(f"\nMovieLens 100K, folds {folds}: mean RMSE / MAE (fit seconds per fold, "
          f"{threads} thread(s) for fastmf, 1 for Surprise)")
    print(f"{'model':<38} {'RMSE':>7} {'MAE':>7} {'fit s':>7}  per-fold RMSE")
    for name, fold_rows in per_fold.items():
        mean_rmse = float(np.mean([r["rmse"] for r in fold_rows]))
        mean_mae = float(np.mean([r["mae"] for r in fold_rows]))
        secs = float(np.mean([r["seconds"] for r in fold_rows]))
        print(f"{name:<38} {mean_rmse:7.4f} {mean_mae:7.4f} {secs:7.2f}  "
              + " ".join(f"{r['rmse']:.4f}" for r in fold_rows))
        config = ML_CONFIGS.get(name, {})
        rows.append({"group": "movielens-100k", "model": name,
                     "library": "fastmf" if name.startswith("fastmf") else "surprise",
                     "source": "measured", "folds": len(folds), "rmse": mean_rmse,
                     "mae": mean_mae,
                     "seconds": secs, "threads": threads if config else 1,
                     "config": json.dumps(config) if config else "defaults"})
        for r in fold_rows:
            rows.append({"group": "movielens-100k-folds", "model": name, "source": "measured",
                         **r})
    for name, (pub_rmse, pub_mae) in SURPRISE_PUBLISHED.items():
        print(f"{'Surprise ' + name + ' (published)':<38} {pub_rmse:7.3f} {pub_mae:7.3f}")
        rows.append({"group": "movielens-100k", "model": f"Surprise {name}",
                     "library": "surprise", "source": "published", "folds": 5,
                     "rmse": pub_rmse, "mae": pub_mae, "seconds": None, "threads": None,
                     "config": "defaults"})
    return rows


# ---------------------------------------------------------------------------------------
# Gowalla
# ---------------------------------------------------------------------------------------

def _pairs_matrix(users: np.ndarray, items: np.ndarray, shape) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(users.size, dtype=np.float32), (users, items)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def load_gowalla(folder: Path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Train and test users x items matrices (CSR, float32 ones) of the LightGCN split.

    ``train.tsv`` is ``user<TAB>item`` per line; ``test.txt`` is LightGCN's ``user item
    item ...`` per line.  Users and items are the 0-based ids of the files.
    """
    tokens = np.array((folder / "train.tsv").read_text().split(), dtype=np.int64)
    tr_u, tr_i = tokens[0::2], tokens[1::2]
    te_u, te_i = [], []
    for line in (folder / "test.txt").read_text().splitlines():
        ids = line.split()
        if len(ids) > 1:
            te_u.extend([int(ids[0])] * (len(ids) - 1))
            te_i.extend(int(x) for x in ids[1:])
    te_u, te_i = np.array(te_u, dtype=np.int64), np.array(te_i, dtype=np.int64)
    shape = (int(max(tr_u.max(), te_u.max())) + 1, int(max(tr_i.max(), te_i.max())) + 1)
    return _pairs_matrix(tr_u, tr_i, shape), _pairs_matrix(te_u, te_i, shape)


def holdout_split(train: sp.csr_matrix, fraction: float = 0.2, seed: int = 0):
    """Carve a validation split out of ``train``: ``fraction`` of each user's items
    (rounded, at least one kept in training) go to the validation matrix
    (``fastmf.model_selection.per_user_split``)."""
    return per_user_split(train, test_size=fraction, random_state=seed)


def ranking_metrics(model, train, test, threads: int = 1) -> dict[str, float]:
    """Mean recall@20 and ndcg@20 (``fastmf.metrics``) over users with a test item,
    ranking all items except the user's ``train`` items."""
    return {"recall": recall_at_k(model, test=test, train=train, k=K, num_threads=threads),
            "ndcg": ndcg_at_k(model, test=test, train=train, k=K, num_threads=threads)}


def _model(params: dict, threads: int, seed: int, **extra) -> fastmf.MatrixFactorization:
    return fastmf.MatrixFactorization(**{"dtype": np.float32, **params, **extra},
                                      num_threads=threads, random_state=seed)


def full_config(model: fastmf.MatrixFactorization) -> dict:
    """Every parameter of ``model`` but the thread count and the seed (recorded beside
    it), as JSON values: what reproduces a row with ``MatrixFactorization(**config)``."""
    params = model.get_params()
    for name in ("num_threads", "random_state"):
        params.pop(name)
    params["dtype"] = np.dtype(params["dtype"]).name
    return params


def tune(row: Row, fit_part: sp.csr_matrix, holdout: sp.csr_matrix, threads: int,
         quick: bool = False) -> tuple[dict, dict, list[dict]]:
    """Tune ``row`` on the hold-out: every point of its grid (only the config itself with
    ``quick``) is fitted on ``fit_part`` with the first seed, ``holdout`` as validation
    data and early stopping on ndcg@20, which also picks the epochs.  Returns the chosen
    parameters (epochs included), its hold-out figures and every point tried."""
    grid = {} if quick else row.grid
    tried = []
    for values in itertools.product(*grid.values()):
        params = {**row.config, **dict(zip(grid, values, strict=True))}
        model = _model(params, threads, SEEDS[0], validation_k=K,
                       early_stopping=row.patience)
        model.fit(fit_part, validation=holdout)
        epoch = model.best_epoch_ or params["epochs"]
        if row.patience is not None and epoch == params["epochs"]:
            print(f"{row.name}: the hold-out was still improving at the last of "
                  f"{epoch} epochs; give the row more")
        tried.append({"params": {**params, "epochs": epoch},
                      "recall": model.history_[f"val_recall@{K}"][epoch - 1],
                      "ndcg": model.history_[f"val_ndcg@{K}"][epoch - 1]})
    best = max(tried, key=lambda t: t["ndcg"])
    return best["params"], {"recall": best["recall"], "ndcg": best["ndcg"]}, tried


def report(params: dict, train: sp.csr_matrix, test: sp.csr_matrix, threads: int,
           seeds) -> tuple[dict, list[dict]]:
    """Fit ``params`` on ``train`` once per seed and score each fit on ``test``: the full
    config and the per-seed recall, ndcg and fit seconds."""
    runs = []
    for seed in seeds:
        model = _model(params, threads, seed)
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        runs.append({"seed": seed, "seconds": seconds,
                     **ranking_metrics(model, train, test, threads=threads)})
    return full_config(model), runs


def fit_implicit(config: dict, train: sp.csr_matrix, threads: int, seed: int = SEED):
    """Fit ``implicit``'s CPU ALS; (user factors, item factors) and the fit time.

    BLAS is limited to one thread around the fit, as ``implicit`` asks (it warns
    otherwise): its own OpenMP threads do the parallel work.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**config, num_threads=threads, random_state=seed,
                                        calculate_training_loss=False)
        start = time.perf_counter()
        model.fit(train, show_progress=False)
        seconds = time.perf_counter() - start
    return (np.asarray(model.user_factors), np.asarray(model.item_factors)), seconds


def run_gowalla(folder: Path, threads: int, rows, validate: bool, with_implicit: bool,
                quick: bool = False) -> list[dict]:
    """Every Gowalla row, printed as a table: each fastmf row tuned on the hold-out and
    reported on the test set (with ``validate``, on the hold-out: the test set is not
    read), its mean over the seeds and their range."""
    train, test = load_gowalla(folder)
    fit_part, holdout = holdout_split(train, HOLDOUT_FRACTION, seed=HOLDOUT_SEED)
    split = "test"
    if validate:
        train, test = fit_part, holdout
        split = f"validation ({HOLDOUT_FRACTION:.0%} of train, seed {HOLDOUT_SEED})"
    seeds = SEEDS[:1] if quick else SEEDS
    out = []
    print(f"\nGowalla (LightGCN split), {train.shape[0]} users x {train.shape[1]} items, "
          f"{train.nnz} training interactions, evaluated on {split}; {threads} thread(s); "
          f"fastmf: mean [min, max] over seeds {list(seeds)}")
    print(f"{'model':<34} {'recall@20':>24} {'ndcg@20':>24} {'fit s':>7}  hold-out r / n")

    def add(name, library, config, factors, scores, seconds, source="measured", **extra):
        print(f"{name:<34} {_spread(scores, 'recall', extra):>24} "
              f"{_spread(scores, 'ndcg', extra):>24} "
              + (f"{seconds:7.1f}" if seconds is not None else f"{'':>7}")
              + (f"  {extra['val_recall_at_20']:.4f} / {extra['val_ndcg_at_20']:.4f}"
                 if "val_recall_at_20" in extra else ""))
        out.append({"group": "gowalla", "model": name, "library": library,
                    "source": source, "split": split, "factors": factors,
                    "recall_at_20": scores["recall"], "ndcg_at_20": scores["ndcg"],
                    "seconds": seconds, "threads": threads if seconds is not None else None,
                    "config": json.dumps(config) if config else None, **extra})

    for row in rows:
        params, val, tried = tune(row, fit_part, holdout, threads, quick)
        config, runs = report(params, train, test, threads, seeds)
        mean = {m: float(np.mean([r[m] for r in runs])) for m in ("recall", "ndcg")}
        add(row.name, "fastmf", config, config["factors"], mean,
            float(np.mean([r["seconds"] for r in runs])),
            seeds=list(seeds), runs=runs,
            recall_min=min(r["recall"] for r in runs),
            recall_max=max(r["recall"] for r in runs),
            ndcg_min=min(r["ndcg"] for r in runs), ndcg_max=max(r["ndcg"] for r in runs),
            holdout_seed=HOLDOUT_SEED, holdout_fraction=HOLDOUT_FRACTION,
            tuned_epochs=params["epochs"], val_recall_at_20=val["recall"],
            val_ndcg_at_20=val["ndcg"], tuning=tried)
        factors = config["factors"]
        if with_implicit and factors in IMPLICIT_CONFIGS:
            peer = IMPLICIT_CONFIGS[factors]
            (uf, itf), seconds = fit_implicit(peer, train, threads)
            add(f"implicit ALS k={factors}", "implicit", peer, factors,
                ranking_metrics(as_model(uf, itf), train, test, threads=threads), seconds)
    if not validate:
        for factors, fig in IMPLICIT_ISSUE.items():
            add(f"implicit ALS k={factors} (issue)", "implicit", IMPLICIT_CONFIGS[factors],
                factors, fig, fig["seconds"], source="issue #5")
            out[-1]["threads"] = 2
        for name, (recall, ndcg) in LIGHTGCN_PUBLISHED.items():
            add(f"{name} (paper)", name, None, None, {"recall": recall, "ndcg": ndcg}, None,
                source="published")
    return out


def _spread(scores: dict, metric: str, extra: dict) -> str:
    """``mean [min, max]`` of a row measured with several seeds, else the figure."""
    low, high = extra.get(f"{metric}_min"), extra.get(f"{metric}_max")
    if low is None or low == high:
        return f"{scores[metric]:.4f}"
    return f"{scores[metric]:.4f} [{low:.4f}, {high:.4f}]"


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------

def _default_dir(env: str, name: str) -> Path:
    return Path(os.environ.get(env, SHARED_DATA / name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movielens", type=Path,
                        default=_default_dir("FASTMF_MOVIELENS_100K_DIR", "movielens-100k"),
                        help="folder with u1.base ... u5.test (default: "
                             "$FASTMF_MOVIELENS_100K_DIR or ../shared/data/movielens-100k)")
    parser.add_argument("--gowalla", type=Path,
                        default=_default_dir("FASTMF_GOWALLA_DIR", "gowalla-lightgcn"),
                        help="folder with train.tsv and test.txt (default: "
                             "$FASTMF_GOWALLA_DIR or ../shared/data/gowalla-lightgcn)")
    parser.add_argument("--parts", nargs="+", choices=("movielens", "gowalla"),
                        default=["movielens", "gowalla"], help="parts to run")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for fastmf and implicit (default 2)")
    parser.add_argument("--quick", action="store_true",
                        help="MovieLens fold u1 only; Gowalla: the first row only, its "
                             "config untuned but for the epochs, one seed; no SVD++")
    parser.add_argument("--rows", nargs="+", default=None, metavar="TEXT",
                        help="Gowalla: only the fastmf rows whose name contains one of "
                             "these (default: all)")
    parser.add_argument("--no-surprise", action="store_true",
                        help="do not measure Surprise's SVD and SVD++")
    parser.add_argument("--no-svdpp", action="store_true",
                        help="do not measure Surprise's SVD++ (minutes on 5 folds)")
    parser.add_argument("--no-implicit", action="store_true",
                        help="do not measure the implicit library")
    parser.add_argument("--validate", action="store_true",
                        help="Gowalla: tune and evaluate on the hold-out carved from train "
                             "only; the test set is not scored")
    parser.add_argument("--output", default=None,
                        help="results name, written as bench/results/<name>.json (default "
                             "quality, or quality_validation with --validate)")
    args = parser.parse_args(argv)

    rows: list[dict] = []
    ran = []
    if "movielens" in args.parts:
        if not (args.movielens / "u1.base").is_file():
            print(f"MovieLens 100K folds not found in {args.movielens} (expected u1.base ... "
                  "u5.test); skipping MovieLens (set --movielens or "
                  "FASTMF_MOVIELENS_100K_DIR)")
        else:
            algos = []
            if not args.no_surprise:
                try:
                    import surprise  # noqa: F401
                    algos = ["SVD"] if (args.no_svdpp or args.quick) else ["SVD", "SVDpp"]
                except ImportError:
                    print("surprise is not installed: Surprise is not measured")
            rows += run_movielens(args.movielens, args.threads, args.quick, algos)
            ran.append("movielens")
    if "gowalla" in args.parts:
        if not ((args.gowalla / "train.tsv").is_file() and (args.gowalla / "test.txt").is_file()):
            print(f"Gowalla split not found in {args.gowalla} (expected train.tsv and "
                  "test.txt); skipping Gowalla (set --gowalla or FASTMF_GOWALLA_DIR)")
        else:
            with_implicit = not args.no_implicit
            if with_implicit:
                try:
                    import implicit  # noqa: F401
                except ImportError:
                    print("implicit is not installed: it is not measured")
                    with_implicit = False
            chosen = [row for row in GOWALLA_ROWS
                      if args.rows is None or any(t in row.name for t in args.rows)]
            if args.quick:
                chosen = chosen[:1]
            rows += run_gowalla(args.gowalla, args.threads, chosen, args.validate,
                                with_implicit, quick=args.quick)
            ran.append("gowalla")
    if not ran:
        print("no data found: nothing was run")
        return 0
    name = args.output or ("quality_validation" if args.validate else "quality")
    path = write_results(name, rows, parts=ran, quick=args.quick,
                         threads=args.threads, validate=args.validate)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
