"""What the benchmark suite and the studies share: the data sets (every set split 80/20
with one seed) and the adapters that fit fastmf, Surprise and LIBMF on them with the same
settings and time ``fit`` alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from fastmf import MatrixFactorization, datasets, model_selection
from fastmf.io import load_movielens
from fastmf.metrics import rmse

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
    train, test = model_selection.train_test_split((users, items, values), test_size=0.2,
                                                   random_state=SPLIT_SEED)
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
    users, items, values, user_ids, item_ids = load_movielens(path)
    return _split("movielens-100k", users, items, values, len(user_ids), len(item_ids))


# ------------------------------------------------------------------------------- fitters
@dataclass
class FitResult:
    """Outcome of one fit: wall time, rating updates per second, test RMSE."""

    seconds: float
    updates_per_s: float
    rmse: float


def _timed_fit(split: RatingSplit, epochs: int, fit, predict) -> FitResult:
    """Time ``fit()`` alone, then score ``predict(users, items)`` on the test part."""
    start = time.perf_counter()
    fit()
    seconds = time.perf_counter() - start
    users, items, values = split.test
    return FitResult(seconds, split.n_train * epochs / seconds,
                     rmse(values, predict(users, items)))


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
    return _timed_fit(split, epochs, lambda: model.fit(matrix), model.predict)


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
    return _timed_fit(split, epochs, lambda: algo.fit(trainset),
                      lambda users, items: surprise_predict(algo, trainset, users, items))


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

    def predict(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        # The binding's C predict reads all user ids, then all item ids (column-major),
        # while its Python side passes the (n, 2) array on as it is: a Fortran-ordered one.
        return model.predict(np.asfortranarray(
            np.column_stack([users, items]).astype(np.float32)))

    return _timed_fit(split, epochs, lambda: model.fit(data), predict)


def as_model(user_factors: np.ndarray, item_factors: np.ndarray) -> SimpleNamespace:
    """A peer's factors as the fitted model that ``fastmf.metrics`` ranks with (scores
    ``user_factors @ item_factors.T``, no biases)."""
    return SimpleNamespace(user_factors_=user_factors, item_factors_=item_factors)
