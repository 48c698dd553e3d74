"""pytest-benchmark suite for fastmf's SGD solver.

Groups put fastmf beside its baseline on the same data:

* ``epoch <set> k=<k> <dtype>``: one SGD epoch (``fastmf._sgd.epoch`` on a prepared
  block layout, so the one-off layout is not timed) for the squared, logistic, BPR,
  sampled-softmax and WARP losses at 1 thread and all cores, next to one epoch of the
  pure-NumPy ``reference.sgd_epoch`` (``reference.bpr_epoch``, ``softmax_epoch`` and
  ``warp_epoch`` for the ranking losses, every rating a positive) on a 20,000-rating
  slice of the same training set (2,000 for the softmax; the baseline of its loss);
* ``fit movielens-100k``: a full fit with Surprise's SVD defaults next to ``surprise.SVD``;
* ``loss synth-1M``: full fits with the squared and the logistic loss on the same pairs.

Compare rows through ``updates_per_s`` in ``extra_info`` (and the summary printed at the end):
the reference runs on fewer ratings, so its raw time is not comparable.  With
``--benchmark-disable`` every benchmark runs once on reduced work, as a smoke test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import _shared
import numpy as np
import pytest
from conftest import thread_counts

from fastmf import MatrixFactorization, reference
from fastmf._params import check_params
from fastmf._sgd import SGDState, block_layout, choose_blocks, epoch
from fastmf._state import global_bias, initial_arrays
from fastmf._validation import check_ratings
from fastmf.metrics import log_loss, rmse, roc_auc

THREADS = thread_counts()
REFERENCE_SLICE = 20_000
SMOKE_REFERENCE_SLICE = 2_000
EPOCH_ROUNDS = 5
# Hyperparameters of the epoch benchmarks (they do not change the work per rating).
EPOCH_PARAMS = {"learning_rate": 0.01, "l2": 0.02}
LOSSES = ("squared", "logistic", "bpr", "softmax", "warp")
SOFTMAX_NEGATIVES = 64      # per user and block, in the kernel and the reference


def _kind(loss: str) -> dict:
    """The estimator arguments of a loss's kind of fit: the ranking losses (BPR, sampled
    softmax) rank implicit feedback."""
    if loss in ("bpr", "warp"):
        return {"loss": loss, "feedback": "implicit", "biases": False}
    if loss == "softmax":
        return {"loss": loss, "feedback": "implicit", "biases": False,
                "negatives": SOFTMAX_NEGATIVES}
    return {"loss": loss, "biases": True}


# --------------------------------------------------------------------------- epoch set-up
@dataclass
class PreparedEpoch:
    """A block layout and initial parameters from which one epoch is timed."""

    data: object            # fastmf._validation.Ratings, the checked training ratings
    blocked: object         # fastmf._sgd.BlockedRatings
    initial: SGDState
    loss: str
    dtype: np.dtype

    def fresh_state(self) -> SGDState:
        """Copies of the initial parameters (each round starts from the same point)."""
        s = self.initial
        return replace(s, user_factors=s.user_factors.copy(),
                       item_factors=s.item_factors.copy(), user_bias=s.user_bias.copy(),
                       item_bias=s.item_bias.copy(), rng_state=s.rng_state.copy())


_PREPARED: dict[tuple, PreparedEpoch] = {}


def prepare_epoch(split, loss: str, factors: int, dtype, n_threads: int) -> PreparedEpoch:
    """Checked ratings, block layout and initial state for one (set, loss, k, dtype).

    Built the way ``MatrixFactorization.fit`` builds them.  Only the latest case is kept,
    so the parametrisation below varies the thread count fastest.
    """
    dtype = np.dtype(dtype)
    n_blocks = choose_blocks(split.n_users, split.n_items, factors, dtype.itemsize, n_threads)
    key = (split.name, loss, factors, dtype.name, n_blocks)
    if key not in _PREPARED:
        _PREPARED.clear()
        matrix = split.train_matrix(binary=loss == "logistic")
        data = check_ratings(matrix, dtype, loss=loss)
        rng = np.random.default_rng(0)
        params = check_params(MatrixFactorization(factors, init_scale=0.1, dtype=dtype,
                                                  **_kind(loss)))
        pu, qi, bu, bi = initial_arrays(params, data, rng)
        blocked = block_layout(data, n_blocks, rng)
        mu = global_bias(params, blocked.values)
        state = SGDState(pu, qi, bu, bi, mu, rng.integers(0, 2**64, size=1, dtype=np.uint64))
        _PREPARED[key] = PreparedEpoch(data, blocked, state, loss, dtype)
    return _PREPARED[key]


def _marks(set_name: str) -> list:
    """The ``big`` marker for cases on the 1M set, ``huge`` on the 10M set (see
    ``conftest.py``)."""
    return {"synth_1m": [pytest.mark.big], "synth_10m": [pytest.mark.huge]}.get(set_name, [])


def _epoch_cases(set_name: str, factor_list, dtypes) -> list:
    cases = []
    for factors in factor_list:
        for dtype in dtypes:
            for loss in LOSSES:
                for n in THREADS:
                    cases.append(pytest.param(
                        set_name, loss, factors, dtype, n, marks=_marks(set_name),
                        id=f"{set_name}-{loss}-k{factors}-{np.dtype(dtype).name}-t{n}"))
    return cases


GRID = (
    ("synth_10m", (32,), (np.float32,)),
    ("synth_1m", (32, 64, 128), (np.float32, np.float64)),
    ("synth_small", (32, 64, 128), (np.float32, np.float64)),
)
EPOCH_CASES = [case for set_name, ks, dtypes in GRID
               for case in _epoch_cases(set_name, ks, dtypes)]
REFERENCE_CASES = [
    pytest.param(set_name, loss, factors, dtype, marks=_marks(set_name),
                 id=f"{set_name}-{loss}-k{factors}-{np.dtype(dtype).name}")
    for set_name, factor_list, dtypes in GRID
    for factors in factor_list
    for dtype in dtypes
    for loss in LOSSES
]


def _epoch_group(split, factors: int, dtype) -> str:
    return f"epoch {split.name} k={factors} {np.dtype(dtype).name}"


# ------------------------------------------------------------------------ (a) fastmf epoch
@pytest.mark.parametrize(("set_name", "loss", "factors", "dtype", "n_threads"), EPOCH_CASES)
def test_sgd_epoch(benchmark, record_throughput, request, set_name, loss, factors, dtype,
                   n_threads):
    """One fastmf SGD epoch over the whole training set, block layout prepared."""
    split = request.getfixturevalue(set_name)
    prep = prepare_epoch(split, loss, factors, dtype, n_threads)
    benchmark.group = _epoch_group(split, factors, dtype)
    settings = check_params(MatrixFactorization(**_kind(loss),
                                                **EPOCH_PARAMS)).sgd_settings()
    kwargs = dict(n_threads=n_threads)

    def setup():
        return (prep.blocked, prep.fresh_state(), settings), kwargs

    train_loss = benchmark.pedantic(epoch, setup=setup, rounds=EPOCH_ROUNDS, warmup_rounds=1)
    assert np.isfinite(train_loss)
    record_throughput(prep.data.nnz, loss=loss, threads=n_threads, train_loss=train_loss)


# ----------------------------------------------------------------- (b) the NumPy reference
@pytest.mark.parametrize(("set_name", "loss", "factors", "dtype"), REFERENCE_CASES)
def test_reference_epoch(benchmark, record_throughput, request, set_name, loss, factors,
                         dtype):
    """One epoch of ``reference.sgd_epoch`` on a slice of the same training set."""
    split = request.getfixturevalue(set_name)
    prep = prepare_epoch(split, loss, factors, dtype, 1)
    benchmark.group = _epoch_group(split, factors, dtype)
    n = SMOKE_REFERENCE_SLICE if benchmark.disabled else REFERENCE_SLICE
    if loss == "softmax":
        n //= 10
    data = prep.data
    order = np.random.default_rng(1).permutation(n)
    users, items, values = data.users[:n], data.items[:n], data.values[:n]
    state = prep.initial

    # BPR: one negative per positive, uniform over the items (the work of the kernel's);
    # softmax: the runs of one user in the kernel's block order share their negatives
    # WARP: the kernel's 10 candidates per positive
    count = {"softmax": SOFTMAX_NEGATIVES, "warp": 10}.get(loss, 1)
    negatives = np.random.default_rng(2).integers(0, split.n_items, size=(n, count))
    run_users = prep.blocked.users[:n]
    first = np.concatenate(([True], run_users[1:] != run_users[:-1]))

    def setup():
        s = prep.fresh_state()
        if loss == "bpr":
            return ((users, items, order, negatives, s.user_factors, s.item_factors),
                    dict(EPOCH_PARAMS))
        if loss == "warp":
            return ((users, items, order, negatives, s.user_factors, s.item_factors),
                    dict(EPOCH_PARAMS, n_items=split.n_items))
        if loss == "softmax":
            return ((prep.blocked.users, prep.blocked.items, np.arange(n), first, negatives,
                     s.user_factors, s.item_factors), dict(EPOCH_PARAMS, temperature=0.1))
        args = (users, items, values, order, s.user_factors, s.item_factors, s.user_bias,
                s.item_bias, state.global_bias)
        return args, dict(l2_bias=EPOCH_PARAMS["l2"], loss=loss, **EPOCH_PARAMS)

    run = {"bpr": reference.bpr_epoch, "softmax": reference.softmax_epoch,
           "warp": reference.warp_epoch}.get(loss, reference.sgd_epoch)
    total = benchmark.pedantic(run, setup=setup, rounds=1 if benchmark.disabled else 3)
    assert np.isfinite(total)
    record_throughput(n, baseline=True, loss=loss, threads=1, train_loss=total / n)


# ---------------------------------------------------- (c) MovieLens 100K against Surprise
ML_SETTINGS = {"factors": 100, "epochs": 20, "learning_rate": 0.005, "l2": 0.02}


def _smoke_epochs(benchmark, epochs: int) -> int:
    return 1 if benchmark.disabled else epochs


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n_threads", THREADS, ids=[f"t{n}" for n in THREADS])
def test_fit_movielens_fastmf(benchmark, record_throughput, movielens_100k, n_threads,
                              dtype):
    """Full fastmf fit on MovieLens 100K with Surprise's SVD defaults (layout included)."""
    split = movielens_100k
    benchmark.group = "fit movielens-100k k=100 20 epochs (Surprise defaults)"
    epochs = _smoke_epochs(benchmark, ML_SETTINGS["epochs"])
    matrix = split.train_matrix()
    models = []

    def fit(matrix):
        models.append(MatrixFactorization(ML_SETTINGS["factors"], epochs=epochs,
                                          learning_rate=ML_SETTINGS["learning_rate"],
                                          l2=ML_SETTINGS["l2"], num_threads=n_threads,
                                          random_state=0, dtype=dtype).fit(matrix))

    benchmark.pedantic(fit, args=(matrix,), rounds=5, warmup_rounds=1)
    users, items, values = split.test
    record_throughput(split.n_train * epochs, threads=n_threads,
                      rmse=rmse(values, models[-1].predict(users, items)))


def test_fit_movielens_surprise(benchmark, record_throughput, movielens_100k):
    """``surprise.SVD`` with its defaults on the same split (Trainset built untimed)."""
    surprise = pytest.importorskip("surprise")
    split = movielens_100k
    benchmark.group = "fit movielens-100k k=100 20 epochs (Surprise defaults)"
    epochs = _smoke_epochs(benchmark, ML_SETTINGS["epochs"])
    trainset = _shared.surprise_trainset(split)
    algos = []

    def fit():
        algo = surprise.SVD(n_factors=ML_SETTINGS["factors"], n_epochs=epochs,
                            lr_all=ML_SETTINGS["learning_rate"], reg_all=ML_SETTINGS["l2"],
                            random_state=0)
        algos.append(algo.fit(trainset))

    benchmark.pedantic(fit, rounds=1 if benchmark.disabled else 2)
    users, items, values = split.test
    predicted = _shared.surprise_predict(algos[-1], trainset, users, items)
    record_throughput(split.n_train * epochs, baseline=True, threads=1,
                      rmse=rmse(values, predicted))


# ------------------------------------------------------------- (d) logistic against squared
@pytest.mark.big
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_fit_loss(benchmark, record_throughput, synth_1m, loss):
    """Full fits (k=32, 20 epochs, all cores) with each loss on the same synth 1M pairs.

    The squared fit is the group's baseline; test RMSE (squared) or log-loss and AUC
    against the ``rating >= 4`` labels (logistic) go into ``extra_info``.
    """
    split = synth_1m
    benchmark.group = "loss synth-1M k=32 20 epochs fit"
    epochs = _smoke_epochs(benchmark, 20)
    matrix = split.train_matrix(binary=loss == "logistic")
    models = []

    def fit():
        models.append(MatrixFactorization(32, loss=loss, epochs=epochs, learning_rate=0.03,
                                          l2=0.05, random_state=0, num_threads=-1).fit(matrix))

    benchmark.pedantic(fit, rounds=1 if benchmark.disabled else 3)
    users, items, values = split.test
    predicted = models[-1].predict(users, items)
    if loss == "squared":
        metrics = {"rmse": rmse(values, predicted)}
    else:
        labels = _shared.binary_labels(values)
        metrics = {"log_loss": log_loss(labels, predicted), "auc": roc_auc(labels, predicted)}
    record_throughput(split.n_train * epochs, baseline=loss == "squared", loss=loss,
                      **metrics)
