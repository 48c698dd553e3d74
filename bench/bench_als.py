"""ALS benchmarks (pytest-benchmark): seconds per sweep of fastmf beside the `implicit`
library and beside the NumPy reference.

Run from outside the source tree, e.g.::

    cd /tmp && python -m pytest /path/to/bench/bench_als.py --benchmark-only \\
        --benchmark-group-by=group --benchmark-columns=min,median,max

Cases (one ``benchmark.group`` each, the competitors side by side in it):

* ``implicit-{cg,cholesky}-t{1,2}``: implicit-feedback ALS, 64 factors, float32, on about
  1M synthetic interactions (20k users x 5k items, Zipf-like popularity; 80 % used for
  training).  One round is one full sweep (all users, then all items) through each
  library's kernels, so data preparation is not timed.  After the rounds each model's
  precision@10 on the held-out 20 % is stored in ``extra_info``: both libraries run the
  same number of sweeps from their own random start, with the same confidence
  (``1 + alpha`` for fastmf equals ``alpha`` for implicit) and regularisation.
* ``explicit-half-sweep-small``: one explicit user half-sweep on a 1k x 500 slice,
  fastmf against the NumPy reference.

The machine is usually shared: compare the libraries within one run, and repeat it.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastmf import _als, reference
from fastmf._threads import single_threaded_blas
from fastmf._validation import check_ratings
from fastmf.datasets import make_ratings

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


@pytest.fixture(scope="module")
def implicit_data():
    n_users, n_items = 20_000, 5_000
    users, items = _interactions(n_users, n_items, 1_000_000, seed=1)
    test = np.random.default_rng(0).random(users.size) < 0.2
    ones = np.ones(users.size, dtype=np.float32)

    def csr(mask):
        return sp.csr_matrix((ones[mask], (users[mask], items[mask])),
                             shape=(n_users, n_items))

    return csr(~test), csr(test)


def precision_at_10(user_factors, item_factors, train, test) -> float:
    """Mean over test users of |top-10 unseen items ∩ held-out items| / 10."""
    hits, n = 0, 0
    test_users = np.flatnonzero(np.diff(test.indptr))
    for start in range(0, test_users.size, 2000):
        us = test_users[start:start + 2000]
        scores = user_factors[us].astype(np.float32) @ item_factors.T.astype(np.float32)
        seen = train[us]
        scores[np.repeat(np.arange(us.size), np.diff(seen.indptr)), seen.indices] = -np.inf
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        held = test[us]
        for j in range(us.size):
            hits += np.isin(top[j], held.indices[held.indptr[j]:held.indptr[j + 1]]).sum()
        n += us.size
    return hits / (10 * n)


def _start(shape_u, shape_i, seed=1):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal(shape_u) * 0.01).astype(np.float32),
            (rng.standard_normal(shape_i) * 0.01).astype(np.float32))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("linear_solver", ["cg", "cholesky"])
def test_implicit_fastmf(benchmark, implicit_data, linear_solver, threads):
    train, test = implicit_data
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

    benchmark.group = f"implicit-{linear_solver}-t{threads}"
    benchmark.pedantic(sweep, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    benchmark.extra_info["interactions_per_s"] = _per_second(benchmark, train.nnz)
    benchmark.extra_info["precision_at_10"] = precision_at_10(P, Q, train, test)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("linear_solver", ["cg", "cholesky"])
def test_implicit_library(benchmark, implicit_data, linear_solver, threads):
    als = pytest.importorskip("implicit.cpu.als")
    train, test = implicit_data
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

    benchmark.group = f"implicit-{linear_solver}-t{threads}"
    benchmark.pedantic(sweep, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    benchmark.extra_info["interactions_per_s"] = _per_second(benchmark, train.nnz)
    benchmark.extra_info["precision_at_10"] = precision_at_10(P, Q, train, test)


@pytest.fixture(scope="module")
def explicit_slice():
    users, items = _interactions(1_000, 500, 30_000, seed=2)
    rng = np.random.default_rng(3)
    X = sp.csr_matrix((rng.integers(1, 6, users.size).astype(np.float64), (users, items)),
                      shape=(1_000, 500))
    data = check_ratings(X, np.dtype(np.float64))
    P = rng.normal(0, 0.1, (1_000, 32))
    Q = rng.normal(0, 0.1, (500, 32))
    return _als.prepare(data, "explicit").by_user, P, Q, float(data.values.mean())


@pytest.mark.parametrize("impl", ["fastmf", "reference"])
def test_explicit_half_sweep_small(benchmark, explicit_slice, impl):
    csr, P0, Q, mu = explicit_slice
    P, bu, bi = P0.copy(), np.zeros(P0.shape[0]), np.zeros(Q.shape[0])
    cfg = _als.ALSConfig(model="explicit", linear_solver="cholesky", cg_steps=3,
                         newton_steps=1, l2=0.1, l2_bias=0.1, weighted_l2=False,
                         biases=True, alpha=1.0)

    def fastmf_half():
        with single_threaded_blas():
            _als.half_sweep(csr, P, bu, Q, bi, cfg, global_bias=mu, n_threads=1)

    def reference_half():
        reference.als_half_sweep(csr, P, bu, Q, bi, model="explicit", global_bias=mu,
                                 l2=0.1, l2_bias=0.1)

    benchmark.group = "explicit-half-sweep-small"
    benchmark.pedantic(fastmf_half if impl == "fastmf" else reference_half,
                       rounds=3, warmup_rounds=1, iterations=1)
    benchmark.extra_info["ratings_per_s"] = _per_second(benchmark, csr.nnz)
