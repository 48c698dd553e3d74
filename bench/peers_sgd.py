"""Compare fastmf's SGD with scikit-surprise and LIBMF on the same data and settings.

Run from outside the source tree (so that the installed fastmf is imported)::

    python bench/peers_sgd.py            # synth 1M and MovieLens 100K, 3 repeats
    python bench/peers_sgd.py --quick    # synth 100k, 1 repeat, a few epochs: a smoke run

It prints one Markdown table per data set: fit time (best of the repeats, and the range),
rating updates per second (training ratings x epochs / fit time) and test RMSE.  Peers that
are not installed are listed as skipped with the reason.

The module also holds the data loaders and the peer adapters that ``conftest.py`` and
``bench_sgd.py`` reuse, so the pytest-benchmark groups and this script time the same things.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from fastmf import MatrixFactorization, datasets

MOVIELENS_100K = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k" / "u.data"
)
"""Default location of MovieLens 100K; ``FASTMF_MOVIELENS_100K`` overrides it."""

SPLIT_SEED = 0
"""Seed of every 80/20 train/test split."""

RATING_RANGE = (1.0, 5.0)

# Hyperparameters shared by every library on a data set.  MovieLens uses Surprise's SVD
# defaults; synth 1M uses a rate and decay that give fastmf a good test RMSE in 20 epochs.
SURPRISE_DEFAULTS = {"factors": 100, "epochs": 20, "learning_rate": 0.005, "l2": 0.02,
                     "init_scale": 0.1}
SYNTH_SETTINGS = {"factors": 32, "epochs": 20, "learning_rate": 0.03, "l2": 0.03,
                  "init_scale": 0.01}
# LIBMF trains by AdaGrad with its own step size; its L2 (lambda_p2 = lambda_q2) was picked
# from {0.02, 0.05, 0.1} on the test split, as a fair best case for it.
LIBMF_SETTINGS = {"synth": {"eta": 0.1, "l2": 0.05}, "movielens": {"eta": 0.1, "l2": 0.1}}


# ---------------------------------------------------------------------------------- data
@dataclass(frozen=True, eq=False)
class RatingSplit:
    """A rating set split into train and test parts, with the full id ranges.

    Attributes
    ----------
    name : str
        Short label used in group names and tables.
    train, test : tuple of numpy.ndarray
        ``(users, items, values)`` of each part.
    n_users, n_items : int
        Sizes of the id ranges of the whole set (test ids may be absent from train).
    """

    name: str
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    n_users: int
    n_items: int
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_train(self) -> int:
        """Number of training ratings."""
        return int(self.train[0].size)

    def train_matrix(self, binary: bool = False) -> sp.coo_matrix:
        """Training ratings as a COO matrix of the full shape.

        Parameters
        ----------
        binary : bool, default=False
            Give labels ``rating >= 4`` (1.0 or 0.0) instead of the ratings.

        Returns
        -------
        scipy.sparse.coo_matrix of shape (n_users, n_items)
        """
        users, items, values = self.train
        if binary:
            values = binary_labels(values)
        return sp.coo_matrix((values, (users, items)), shape=(self.n_users, self.n_items))


def binary_labels(values: np.ndarray) -> np.ndarray:
    """Labels for the logistic loss: 1.0 where the rating is at least 4, else 0.0."""
    return (np.asarray(values) >= 4.0).astype(np.float32)


def _split(name: str, users, items, values, n_users: int, n_items: int) -> RatingSplit:
    train, test = datasets.train_test_split(users, items, values, test_size=0.2,
                                            seed=SPLIT_SEED)
    return RatingSplit(name, train, test, int(n_users), int(n_items))


def load_synth_1m() -> RatingSplit:
    """The "synth 1M" set of BENCHMARK-DATA.md: 20,000 x 5,000, 1,000,000 ratings, seed 1."""
    return _split("synth-1M", *datasets.make_ratings(20_000, 5_000, 1_000_000, seed=1),
                  20_000, 5_000)


def load_synth_10m() -> RatingSplit:
    """The "synth 10M" set of BENCHMARK-DATA.md: 200,000 x 50,000, 10,000,000 ratings,
    seed 2."""
    return _split("synth-10M", *datasets.make_ratings(200_000, 50_000, 10_000_000, seed=2),
                  200_000, 50_000)


def load_synth_small() -> RatingSplit:
    """A small synthetic set: 2,000 users x 500 items, 100,000 ratings, seed 3."""
    return _split("synth-100k", *datasets.make_ratings(2_000, 500, 100_000, seed=3),
                  2_000, 500)


def movielens_100k_path() -> Path:
    """Where MovieLens 100K ``u.data`` is looked for."""
    return Path(os.environ.get("FASTMF_MOVIELENS_100K", MOVIELENS_100K))


def load_movielens_100k() -> RatingSplit | None:
    """MovieLens 100K with a random 80/20 split, or None when ``u.data`` is absent."""
    path = movielens_100k_path()
    if not path.is_file():
        return None
    users, items, values, user_ids, item_ids = datasets.load_movielens(path)
    return _split("movielens-100k", users, items, values, len(user_ids), len(item_ids))


# ------------------------------------------------------------------------------- metrics
def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error, computed in float64."""
    diff = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    return float(np.sqrt(np.mean(diff * diff)))


def log_loss(probability: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of predicted probabilities."""
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney statistic, ties counted half)."""
    from scipy.stats import rankdata

    y = np.asarray(labels) > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    ranks = rankdata(scores)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ------------------------------------------------------------------------------- fitters
@dataclass
class FitResult:
    """Outcome of one fit: wall time, rating updates per second, test RMSE."""

    seconds: float
    updates_per_s: float
    rmse: float


def fit_fastmf(split: RatingSplit, *, factors: int, epochs: int, learning_rate: float,
               l2: float, num_threads: int, init_scale: float = 0.1, dtype=np.float32,
               seed: int = 0) -> FitResult:
    """Fit fastmf's SGD (squared loss) on the training part; time ``fit`` alone.

    The timed call includes fastmf's input checks and its block layout.
    """
    matrix = split.train_matrix()
    model = MatrixFactorization(factors, epochs=epochs, learning_rate=learning_rate, l2=l2,
                                init_scale=init_scale, num_threads=num_threads,
                                random_state=seed, dtype=dtype)
    start = time.perf_counter()
    model.fit(matrix)
    seconds = time.perf_counter() - start
    users, items, values = split.test
    return FitResult(seconds, split.n_train * epochs / seconds,
                     rmse(model.predict(users, items), values))


def surprise_trainset(split: RatingSplit):
    """Build a ``surprise.Trainset`` whose inner ids are fastmf's ids (no pandas needed).

    Returns
    -------
    surprise.Trainset
    """
    from surprise import Trainset

    ur: defaultdict[int, list] = defaultdict(list)
    ir: defaultdict[int, list] = defaultdict(list)
    for u, i, r in zip(*(a.tolist() for a in split.train), strict=True):
        ur[u].append((i, r))
        ir[i].append((u, r))
    return Trainset(ur, ir, split.n_users, split.n_items, split.n_train, RATING_RANGE,
                    {u: u for u in ur}, {i: i for i in ir})


def surprise_predict(algo, trainset, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Vectorised ``SVD.predict``: the same estimate, unknown-id fallbacks and clipping."""
    known_u = np.array([trainset.knows_user(int(u)) for u in range(trainset.n_users)])
    known_i = np.array([trainset.knows_item(int(i)) for i in range(trainset.n_items)])
    ku, ki = known_u[users], known_i[items]
    est = np.full(users.shape, trainset.global_mean, dtype=np.float64)
    if algo.biased:
        est += np.where(ku, algo.bu[users], 0.0) + np.where(ki, algo.bi[items], 0.0)
    both = ku & ki
    est[both] += np.einsum("ij,ij->i", algo.pu[users[both]], algo.qi[items[both]])
    return np.clip(est, *RATING_RANGE)


def fit_surprise(split: RatingSplit, *, factors: int, epochs: int, learning_rate: float,
                 l2: float, init_scale: float = 0.1, seed: int = 0,
                 trainset=None) -> FitResult:
    """Fit ``surprise.SVD`` with the same hyperparameters; time ``fit`` alone.

    The Trainset is built before the clock starts (pass one to reuse it).
    """
    from surprise import SVD

    trainset = surprise_trainset(split) if trainset is None else trainset
    algo = SVD(n_factors=factors, n_epochs=epochs, lr_all=learning_rate, reg_all=l2,
               init_std_dev=init_scale, random_state=seed)
    start = time.perf_counter()
    algo.fit(trainset)
    seconds = time.perf_counter() - start
    users, items, values = split.test
    return FitResult(seconds, split.n_train * epochs / seconds,
                     rmse(surprise_predict(algo, trainset, users, items), values))


def import_libmf():
    """The ``libmf`` binding's ``mf`` module (its import-time message is swallowed).

    Raises
    ------
    ImportError
        If the binding is not installed or its compiled library cannot be loaded.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        from libmf import mf
    return mf


def fit_libmf(split: RatingSplit, *, factors: int, epochs: int, eta: float, l2: float,
              num_threads: int) -> FitResult:
    """Fit LIBMF (real-valued MF, squared loss, AdaGrad) through the ``libmf`` binding.

    LIBMF learns ``P`` and ``Q`` without bias terms.  The timed call includes the binding's
    copy of the ratings into LIBMF's format.
    """
    mf = import_libmf()
    users, items, values = split.train
    data = np.column_stack([users, items, values]).astype(np.float32)
    model = mf.MF(fun=0, k=factors, nr_threads=num_threads, nr_bins=max(26, 2 * num_threads + 1),
                  nr_iters=epochs, eta=eta, lambda_p1=0.0, lambda_q1=0.0, lambda_p2=l2,
                  lambda_q2=l2, quiet=True)
    start = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - start
    tu, ti, tv = split.test
    # The binding's C predict reads all user ids, then all item ids (column-major), while
    # its Python side passes the (n, 2) array on as it is: hand it a Fortran-ordered one.
    pairs = np.asfortranarray(np.column_stack([tu, ti]).astype(np.float32))
    predicted = model.predict(pairs)
    return FitResult(seconds, split.n_train * epochs / seconds, rmse(predicted, tv))


# ---------------------------------------------------------------------------- the script
@dataclass
class Row:
    """One line of the results table."""

    library: str
    threads: int | str
    epochs: int
    results: list[FitResult] = field(default_factory=list)
    note: str = ""

    @property
    def best(self) -> FitResult | None:
        return min(self.results, key=lambda r: r.seconds) if self.results else None


def _repeat(fn, repeats: int) -> list[FitResult]:
    return [fn() for _ in range(repeats)]


def libmf_build() -> dict:
    """What the installed ``libmf`` binding was compiled with, read from its library.

    ``openmp``: the library calls libgomp; ``vector_instructions``: instructions on 256- or
    512-bit registers in its disassembly (LIBMF's ``-DUSEAVX`` code uses them; the
    binding's default build, without ``-DUSESSE``/``-DUSEAVX``, has none), or None when
    ``objdump`` is not available.
    """
    import shutil
    import subprocess

    mf = import_libmf()
    path = Path(mf.compiled_src)
    blob = path.read_bytes()
    info = {"library": path.name, "openmp": b"GOMP_" in blob or b"omp_get" in blob,
            "vector_instructions": None}
    if shutil.which("objdump"):
        out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)],
                             capture_output=True, text=True, check=False).stdout
        info["vector_instructions"] = sum(line.count("%ymm") + line.count("%zmm") > 0
                                          for line in out.splitlines())
    return info


def run_dataset(split: RatingSplit, settings: dict, *, surprise_epochs: int, repeats: int,
                threads: list[int], libmf_settings: dict) -> list[Row]:
    """Fit every library on ``split`` and return the table rows.  fastmf and LIBMF run
    interleaved (each repeat fits both at every thread count), so slow drifts of a shared
    machine hit both alike.  ``surprise_epochs=0`` leaves Surprise out."""
    k, epochs = settings["factors"], settings["epochs"]
    lr, l2 = settings["learning_rate"], settings["l2"]
    init = settings["init_scale"]
    ours = {n: Row("fastmf", n, epochs) for n in threads}
    try:
        import_libmf()
        theirs = {n: Row("LIBMF (libmf binding)", n, epochs,
                         note=f"AdaGrad eta={libmf_settings['eta']}, "
                              f"lambda_p2=lambda_q2={libmf_settings['l2']}, no biases")
                  for n in threads}
    except (ImportError, OSError) as exc:
        theirs = {}
        skipped = Row("LIBMF (libmf binding)", "-", epochs, note=f"skipped: {exc}")
    for n in threads:       # warm-up (imports, first-touch of the kernels)
        fit_fastmf(split, factors=k, epochs=1, learning_rate=lr, l2=l2, num_threads=n)
    for _ in range(repeats):
        for n in threads:
            ours[n].results.append(fit_fastmf(
                split, factors=k, epochs=epochs, learning_rate=lr, l2=l2, init_scale=init,
                num_threads=n))
            if n in theirs:
                theirs[n].results.append(fit_libmf(split, factors=k, epochs=epochs,
                                                   num_threads=n, **libmf_settings))
    rows = list(ours.values())
    if surprise_epochs:
        note = "" if surprise_epochs == epochs else f"RMSE after {surprise_epochs} epochs"
        row = Row("scikit-surprise SVD", 1, surprise_epochs, note=note)
        try:
            trainset = surprise_trainset(split)
            row.results = _repeat(lambda: fit_surprise(
                split, factors=k, epochs=surprise_epochs, learning_rate=lr, l2=l2,
                init_scale=init, trainset=trainset), repeats)
        except ImportError as exc:
            row.note = f"skipped: {exc}"
        rows.append(row)
    rows += list(theirs.values()) if theirs else [skipped]
    return rows


def format_table(split: RatingSplit, settings: dict, rows: list[Row]) -> str:
    """Markdown table of ``rows`` with speed-ups over the Surprise row."""
    base = next((r.best for r in rows if r.library.startswith("scikit") and r.best), None)
    lines = [
        f"### {split.name}: {split.n_train:,} train / {split.test[0].size:,} test ratings, "
        f"factors={settings['factors']}, learning_rate={settings['learning_rate']}, "
        f"l2={settings['l2']}",
        "",
        "| library | threads | epochs | fit s (best) | fit s (range) | updates/s | "
        "x Surprise | test RMSE | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        best = row.best
        if best is None:
            lines.append(f"| {row.library} | {row.threads} | {row.epochs} | - | - | - | - | - "
                         f"| {row.note} |")
            continue
        times = [r.seconds for r in row.results]
        speedup = f"{best.updates_per_s / base.updates_per_s:.1f}" if base else "-"
        lines.append(
            f"| {row.library} | {row.threads} | {row.epochs} | {best.seconds:.3f} | "
            f"{min(times):.3f}-{max(times):.3f} | {best.updates_per_s / 1e6:.1f}M | "
            f"{speedup} | {best.rmse:.4f} | {row.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: synth 100k instead of synth 1M, few epochs, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None,
                        help="fits per library and thread count (default 3, quick 1)")
    parser.add_argument("--surprise-epochs", type=int, default=5,
                        help="epochs for Surprise on the synthetic set (default 5; it is "
                             "slow, and updates/s does not depend on the epoch count)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    threads = sorted({1, os.cpu_count() or 1})

    import fastmf

    fastmf.show_config()
    print()
    jobs = []
    if args.quick:
        jobs.append((load_synth_small(), dict(SYNTH_SETTINGS, epochs=3), 1))
    else:
        jobs.append((load_synth_1m(), SYNTH_SETTINGS, args.surprise_epochs))
    movielens = load_movielens_100k()
    if movielens is None:
        print(f"MovieLens 100K not found at {movielens_100k_path()}: skipped\n")
    else:
        ml_settings = dict(SURPRISE_DEFAULTS, epochs=2) if args.quick else SURPRISE_DEFAULTS
        jobs.append((movielens, ml_settings, ml_settings["epochs"]))

    for split, settings, surprise_epochs in jobs:
        libmf = LIBMF_SETTINGS["movielens" if split.name.startswith("movielens") else "synth"]
        rows = run_dataset(split, settings, surprise_epochs=surprise_epochs, repeats=repeats,
                           threads=threads, libmf_settings=libmf)
        print(format_table(split, settings, rows))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
