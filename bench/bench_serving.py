"""Serving benchmarks (pytest-benchmark): predict, recommend and fold-in beside NumPy.

Groups (one ``benchmark.group`` per operation, set, factors and dtype):

* ``predict <set> k=<k> <dtype>``: ``MatrixFactorization.predict`` on the test pairs at
  1 thread and all cores, next to ``fastmf.reference.predict`` (NumPy gather and
  ``einsum``, the baseline).  Throughput: pairs per second.
* ``recommend <set> k=<k> <dtype>``: top-10 of ``USERS`` users with their training items
  excluded, ``MatrixFactorization.recommend`` (the tiled ``topk`` kernel) next to a NumPy
  brute force (score matrix, mask, ``argpartition``, sort of the ten; the baseline).
  Throughput: users (rows) per second.
* ``fold-in <set> k=<k> <dtype>``: factors of ``NEW_USERS`` users from their ratings,
  ``MatrixFactorization.transform`` (the ALS row kernel) and ``fastmf.reference.fold_in``
  (batched NumPy), next to ``reference.als_half_sweep`` (one ``np.linalg.solve`` per row,
  the baseline).  Throughput: ratings per second.

The model is fitted briefly (two SGD epochs) before timing: serving cost depends on the
shapes, not on how good the factors are.  NumPy rows run with BLAS limited to one thread
(``single_threaded_blas``), as fastmf's kernels do: on a shared machine a multi-threaded
BLAS call per row mostly measures contention.  Sets: ``synth_small`` always, ``synth_1m`` as a
``big`` case (see ``conftest.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import size_grid, thread_counts

from fastmf import MatrixFactorization, reference
from fastmf._threads import single_threaded_blas

THREADS = thread_counts()
USERS = 2_000           # recommendation queries per round
NEW_USERS = 200         # fold-in rows per round
N = 10
ROUNDS = 5

_MODELS: dict[tuple, tuple] = {}


def _cases() -> list:
    cases = []
    for set_name, marks, grid in size_grid():
        for k, dtype in grid:
            cases.append(pytest.param(set_name, k, dtype, marks=marks,
                                      id=f"{set_name}-k{k}-{dtype}"))
    return cases


CASES = _cases()


def fitted(request, set_name: str, factors: int, dtype: str):
    """A model with factors of the requested shape, the split and its training CSR.

    Only the latest model is kept, so the cases (ordered by set, factors, dtype) do not
    pile up memory.
    """
    key = (set_name, factors, dtype)
    if key not in _MODELS:
        _MODELS.clear()
        split = request.getfixturevalue(set_name)
        # l2 given, not left to the defaults: the NumPy fold-in takes the same value
        model = MatrixFactorization(factors=factors, epochs=2, learning_rate=0.01, l2=0.02,
                                    dtype=np.dtype(dtype), random_state=0)
        train = split.train_matrix().tocsr()
        model.fit(train)
        _MODELS[key] = (split, model, train)
    return _MODELS[key]


def _rate(benchmark, count: int) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if benchmark.disabled or stats is None else count / stats.stats.mean


def _record(benchmark, impl: str, count: int, unit: str, *, baseline: bool = False,
            threads: int | None = None) -> None:
    info = benchmark.extra_info
    info.update({"library": impl, "baseline": baseline, "threads": threads, "count": count})
    info[f"{unit}_per_s"] = _rate(benchmark, count)


# ------------------------------------------------------------------------------ predict
def _impls_threads():
    return ([pytest.param("fastmf", n, id=f"fastmf-t{n}") for n in THREADS]
            + [pytest.param("reference", None, id="reference")])


@pytest.mark.parametrize(("impl", "threads"), _impls_threads())
@pytest.mark.parametrize(("set_name", "factors", "dtype"), CASES)
def test_predict(benchmark, request, set_name, factors, dtype, impl, threads):
    split, model, _ = fitted(request, set_name, factors, dtype)
    users, items = split.test[0], split.test[1]
    benchmark.group = f"predict {split.name} k={factors} {dtype}"
    if impl == "fastmf":
        model.num_threads = threads

        def run():
            return model.predict(users, items)
    else:
        args = (model.user_factors_, model.item_factors_, model.user_bias_,
                model.item_bias_, model.global_bias_)

        def run():
            return reference.predict(users, items, *args)
    with single_threaded_blas():
        out = benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert out.shape == users.shape
    _record(benchmark, impl, users.size, "pairs", baseline=impl == "reference",
            threads=threads)


# ---------------------------------------------------------------------------- recommend
def numpy_recommend(user_factors, item_factors, item_bias, exclude, n: int):
    """Top-``n`` items per row by brute force: full score matrix, excluded items set to
    -inf, ``argpartition`` then a sort of the ``n`` kept.  Returns ``(ids, scores)``."""
    scores = user_factors @ item_factors.T + item_bias
    rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
    scores[rows, exclude.indices] = -np.inf
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, 1)


@pytest.mark.parametrize(("impl", "threads"), _impls_threads())
@pytest.mark.parametrize(("set_name", "factors", "dtype"), CASES)
def test_recommend(benchmark, request, set_name, factors, dtype, impl, threads):
    split, model, train = fitted(request, set_name, factors, dtype)
    users = np.arange(min(USERS, split.n_users))
    benchmark.group = f"recommend {split.name} k={factors} {dtype}"
    if impl == "fastmf":
        model.num_threads = threads

        def run():
            return model.recommend(users, N, exclude=train)
    else:
        seen = train[users]

        def run():
            return numpy_recommend(model.user_factors_[users], model.item_factors_,
                                   model.item_bias_, seen, N)
    with single_threaded_blas():
        ids, _ = benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert ids.shape == (users.size, N)
    _record(benchmark, impl, users.size, "rows", baseline=impl == "reference",
            threads=threads)


# ------------------------------------------------------------------------------ fold-in
def _new_users(train: sp.csr_matrix) -> sp.csr_matrix:
    """The training rows of ``NEW_USERS`` users drawn at random, as new users' ratings."""
    rng = np.random.default_rng(0)
    return train[np.sort(rng.choice(train.shape[0], NEW_USERS, replace=False))]


@pytest.mark.parametrize(("impl", "threads"),
                         _impls_threads() + [pytest.param("fold_in-numpy", None,
                                                          id="fold_in-numpy")])
@pytest.mark.parametrize(("set_name", "factors", "dtype"), CASES)
def test_fold_in(benchmark, request, set_name, factors, dtype, impl, threads):
    split, model, train = fitted(request, set_name, factors, dtype)
    rows = _new_users(train)
    benchmark.group = f"fold-in {split.name} k={factors} {dtype}"
    l2 = model.l2
    if impl == "fastmf":
        model.num_threads = threads

        def run():
            return model.transform(rows)
    elif impl == "fold_in-numpy":
        def run():
            return reference.fold_in(rows, model.item_factors_, model.item_bias_,
                                     model.global_bias_, l2=l2)
    else:
        csr = rows.astype(np.float64)
        Q = model.item_factors_.astype(np.float64)
        bi = model.item_bias_.astype(np.float64)

        def run():
            P = np.zeros((rows.shape[0], factors))
            bu = np.zeros(rows.shape[0])
            reference.als_half_sweep(csr, P, bu, Q, bi, model="explicit",
                                     global_bias=model.global_bias_, l2=l2, l2_bias=l2)
            return P, bu
    with single_threaded_blas():
        P, _ = benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    assert P.shape == (rows.shape[0], factors)
    _record(benchmark, impl, int(rows.nnz), "ratings", baseline=impl == "reference",
            threads=threads)
