"""ALS benchmarks (pytest-benchmark): seconds per sweep of fastmf beside the `implicit`
library and beside the NumPy reference.

Run from outside the source tree, e.g.::

    cd "$(mktemp -d)" && pytest /path/to/fastmf/bench/bench_als.py --benchmark-only \\
        --benchmark-group-by=group --benchmark-columns=min,median,max

Cases (one ``benchmark.group`` each, the competitors side by side in it):

* ``implicit-{cg,cholesky}-t{1,2}``: implicit-feedback ALS, 64 factors, float32, on about
  1M synthetic interactions (a ``big`` case: 20k users x 5k items, Zipf-like popularity;
  80 % used for training); ``implicit-synth-10M-cg-t{1,2}`` the same with CG on synth
  10M (a ``huge`` case: 200k users x 50k items).  One round is one full sweep (all
  users, then all items) through each library's kernels, so data preparation is not
  timed.  After the rounds each model's
  precision@10 on the held-out 20 % is stored in ``extra_info``: both libraries run the
  same number of sweeps from their own random start, with the same confidence
  (``1 + alpha`` for fastmf equals ``alpha`` for implicit) and regularisation.
* ``als-sweep <model> <set> k=<k> <dtype>``: one full sweep of each ALS model (explicit
  Cholesky, implicit Cholesky, implicit CG with 3 steps, implicit subspace with blocks
  of 16, logistic with one Newton step) at 1 thread and all cores, next to the NumPy
  ``reference.als_half_sweep`` (``als_subspace_half_sweep`` for the subspace solver) on
  a slice of user rows sized to a fixed amount of work (the baseline; BLAS limited to
  one thread).
  Throughput: ``ratings_per_s`` and ``rows_per_s``.  The small set runs the full grid of
  factors 32/64/128 x float32/float64; the 1M set (a ``big`` case) the factors in
  float32 and k=64 in float64.

The machine is usually shared: compare the libraries within one run, and repeat it.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
from _shared import as_model
from conftest import size_grid, thread_counts

from fastmf import _als, reference
from fastmf._threads import single_threaded_blas
from fastmf._validation import check_ratings
from fastmf.datasets import make_ratings
from fastmf.metrics import precision_at_k

THREADS = thread_counts()

FACTORS = 64
CONFIDENCE = 10.0        # confidence of an observed interaction, both libraries
REGULARIZATION = 0.01
ROUNDS = 5
WARMUP = 2


def _interactions(n_users: int, n_items: int, n: int, seed: int):
    """Distinct (user, item) pairs of the synthetic benchmark recipe (BENCHMARK-DATA.md)."""
    users, items, _ = make_ratings(n_users, n_items, n, seed=seed)
    return users, items


def _per_second(benchmark, count: int) -> float | None:
    """``count`` over the fastest round, or None when benchmarking is disabled."""
    return None if benchmark.stats is None else count / benchmark.stats.stats.min


def _implicit_split(n_users: int, n_items: int, n: int, seed: int):
    users, items = _interactions(n_users, n_items, n, seed=seed)
    test = np.random.default_rng(0).random(users.size) < 0.2
    ones = np.ones(users.size, dtype=np.float32)

    def csr(mask):
        return sp.csr_matrix((ones[mask], (users[mask], items[mask])),
                             shape=(n_users, n_items))

    return csr(~test), csr(test)


@pytest.fixture(scope="module")
def implicit_data():
    """synth 1M interactions, 80/20."""
    return _implicit_split(20_000, 5_000, 1_000_000, seed=1)


@pytest.fixture(scope="module")
def implicit_data_10m():
    """synth 10M interactions, 80/20."""
    return _implicit_split(200_000, 50_000, 10_000_000, seed=2)


# (data fixture, group prefix, marks, linear solvers): the 1M groups keep their names
# (``implicit-cg-t1``, ...) so that the regression gate's baseline still matches them.
IMPLICIT_SETS = [
    pytest.param("implicit_data", "", "cg", marks=[pytest.mark.big], id="1m-cg"),
    pytest.param("implicit_data", "", "cholesky", marks=[pytest.mark.big], id="1m-cholesky"),
    pytest.param("implicit_data_10m", "synth-10M-", "cg", marks=[pytest.mark.huge],
                 id="10m-cg"),
]


def _start(shape_u, shape_i, seed=1):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal(shape_u) * 0.01).astype(np.float32),
            (rng.standard_normal(shape_i) * 0.01).astype(np.float32))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("data_name", "prefix", "linear_solver"), IMPLICIT_SETS)
def test_implicit_fastmf(benchmark, request, data_name, prefix, linear_solver, threads):
    train, test = request.getfixturevalue(data_name)
    data = _als.prepare(check_ratings(train, np.dtype(np.float32)), "implicit")
    P, Q = _start((train.shape[0], FACTORS), (train.shape[1], FACTORS))
    zu, zi = np.zeros(train.shape[0], np.float32), np.zeros(train.shape[1], np.float32)
    cfg = _als.ALSConfig(model="implicit", linear_solver=linear_solver, cg_steps=3,
                         newton_steps=1, l2=REGULARIZATION, l2_bias=0.0, weighted_l2=False,
                         biases=False, alpha=CONFIDENCE - 1.0)

    def sweep():
        with single_threaded_blas():
            _als.half_sweep(data.by_user, P, zu, Q, zi, cfg, global_bias=0.0,
                            n_threads=threads)
            _als.half_sweep(data.by_item, Q, zi, P, zu, cfg, global_bias=0.0,
                            n_threads=threads)

    benchmark.group = f"implicit-{prefix}{linear_solver}-t{threads}"
    benchmark.pedantic(sweep, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    benchmark.extra_info["interactions_per_s"] = _per_second(benchmark, train.nnz)
    benchmark.extra_info["precision_at_10"] = precision_at_k(as_model(P, Q), test=test,
                                                             train=train, k=10)
    benchmark.extra_info.update({"library": "fastmf", "threads": threads})


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("data_name", "prefix", "linear_solver"), IMPLICIT_SETS)
def test_implicit_library(benchmark, request, data_name, prefix, linear_solver, threads):
    als = pytest.importorskip("implicit.cpu.als")
    train, test = request.getfixturevalue(data_name)
    model = als.AlternatingLeastSquares(factors=FACTORS, regularization=REGULARIZATION,
                                        alpha=CONFIDENCE, use_cg=linear_solver == "cg",
                                        dtype=np.float32, num_threads=threads)
    model.cg_steps = 3
    Cui = (train * CONFIDENCE).astype(np.float32).tocsr()
    Ciu = Cui.T.tocsr()
    P, Q = _start((train.shape[0], FACTORS), (train.shape[1], FACTORS))

    def sweep():
        with single_threaded_blas():
            model.solver(Cui, P, Q, REGULARIZATION, num_threads=threads)
            model.solver(Ciu, Q, P, REGULARIZATION, num_threads=threads)

    benchmark.group = f"implicit-{prefix}{linear_solver}-t{threads}"
    benchmark.pedantic(sweep, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    benchmark.extra_info["interactions_per_s"] = _per_second(benchmark, train.nnz)
    benchmark.extra_info["precision_at_10"] = precision_at_k(as_model(P, Q), test=test,
                                                             train=train, k=10)
    benchmark.extra_info.update({"library": "implicit", "threads": threads,
                                 "baseline": True})


# ------------------------------------------------------- sweeps of every model vs NumPy
SWEEP_MODELS = {
    # group label: (kernel model, linear solver, loss of the input check)
    "explicit": ("explicit", "cholesky", "squared"),
    "implicit-cholesky": ("implicit", "cholesky", "squared"),
    "implicit-cg": ("implicit", "cg", "squared"),
    "implicit-subspace": ("implicit", "subspace", "squared"),
    "logistic-newton": ("logistic", "cholesky", "logistic"),
}
BLOCK_SIZE = 16          # subspace solver: several blocks at every benchmarked k
REFERENCE_WORK = 2e8    # multiply-adds one reference round may take (sets its row slice)
SMOKE_REFERENCE_ROWS = 10


def _sweep_cases() -> list:
    cases = []
    for set_name, marks, grid in size_grid():
        for label in SWEEP_MODELS:
            for k, dtype in grid:
                cases.append(pytest.param(set_name, label, k, dtype, marks=marks,
                                          id=f"{set_name}-{label}-k{k}-{dtype}"))
    return cases


SWEEP_CASES = _sweep_cases()
_SWEEP_DATA: dict[tuple, tuple] = {}


def sweep_data(request, set_name: str, label: str, dtype: str):
    """Both CSR views of the training split for a model (binary labels for logistic,
    ones for implicit), the split's name and its mean value; the latest one is kept."""
    model, _, loss = SWEEP_MODELS[label]
    key = (set_name, model, dtype)
    if key not in _SWEEP_DATA:
        _SWEEP_DATA.clear()
        split = request.getfixturevalue(set_name)
        matrix = split.train_matrix(binary=loss == "logistic")
        if model == "implicit":
            matrix.data = np.ones_like(matrix.data)
        checked = check_ratings(matrix, np.dtype(dtype), loss=loss)
        data = _als.prepare(checked, model)
        mean = float(checked.values.mean())
        mu = 0.0 if model == "implicit" else (
            float(np.log(mean / (1 - mean))) if model == "logistic" else mean)
        _SWEEP_DATA[key] = (data, split.name, mu)
    return _SWEEP_DATA[key]


def _sweep_start(data, k: int, dtype: str):
    rng = np.random.default_rng(1)
    n_users, n_items = data.by_user.shape
    return ((rng.standard_normal((n_users, k)) * 0.1).astype(dtype),
            (rng.standard_normal((n_items, k)) * 0.1).astype(dtype),
            np.zeros(n_users, dtype), np.zeros(n_items, dtype))


def _record_sweep(benchmark, impl, threads, ratings: int, rows: int, baseline: bool):
    info = benchmark.extra_info
    info.update({"library": impl, "threads": threads, "baseline": baseline,
                 "ratings": ratings, "rows": rows})
    stats = getattr(benchmark, "stats", None)
    if not benchmark.disabled and stats is not None:
        info["ratings_per_s"] = ratings / stats.stats.mean
        info["rows_per_s"] = rows / stats.stats.mean


@pytest.mark.parametrize(("impl", "threads"),
                         [pytest.param("fastmf", n, id=f"fastmf-t{n}") for n in THREADS]
                         + [pytest.param("reference", 1, id="reference")])
@pytest.mark.parametrize(("set_name", "label", "factors", "dtype"), SWEEP_CASES)
def test_als_sweep(benchmark, request, set_name, label, factors, dtype, impl, threads):
    """One full ALS sweep (users then items) with fastmf, or the NumPy reference's user
    half-sweep on a slice of rows.  Throughput counts each rating once per half-sweep
    it enters, so the full sweep processes ``2 nnz`` and the slice its own ratings."""
    data, name, mu = sweep_data(request, set_name, label, dtype)
    model, solver, _ = SWEEP_MODELS[label]
    P, Q, bu, bi = _sweep_start(data, factors, dtype)
    biases = model != "implicit"
    cfg = _als.ALSConfig(model=model, linear_solver=solver, cg_steps=3, newton_steps=1,
                         l2=0.1, l2_bias=0.1, weighted_l2=False, biases=biases,
                         alpha=CONFIDENCE - 1.0, block_size=BLOCK_SIZE)
    benchmark.group = f"als-sweep {label} {name} k={factors} {dtype}"
    if impl == "fastmf":
        def run():
            _als.sweep(data, P, Q, bu, bi, cfg, global_bias=mu, n_threads=threads)

        benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
        _record_sweep(benchmark, impl, threads, 2 * data.nnz, sum(data.by_user.shape),
                      baseline=False)
        return
    n_cols = data.by_user.shape[1]
    per_row = n_cols * factors**2 if model == "implicit" else \
        (data.nnz / data.by_user.shape[0]) * factors**2 + factors**3
    rows = SMOKE_REFERENCE_ROWS if benchmark.disabled else \
        int(np.clip(REFERENCE_WORK / per_row, 5, 2_000))
    csr = data.by_user[:rows].astype(np.float64)
    Q64, bi64 = Q.astype(np.float64), bi.astype(np.float64)
    solve = reference.als_half_sweep
    if solver == "subspace":
        solve = partial(reference.als_subspace_half_sweep, block_size=BLOCK_SIZE)

    def run():
        X, xb = P[:rows].astype(np.float64), np.zeros(rows)
        solve(csr, X, xb, Q64, bi64, model=model, global_bias=mu, l2=0.1, l2_bias=0.1,
              biases=biases, alpha=CONFIDENCE - 1.0, newton_steps=1)

    with single_threaded_blas():
        benchmark.pedantic(run, rounds=2, warmup_rounds=0, iterations=1)
    _record_sweep(benchmark, impl, 1, int(csr.nnz), rows, baseline=True)
