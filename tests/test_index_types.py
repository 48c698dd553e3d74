"""The int64 index paths, at small scale.

Past 2**31 - 2 ratings the CSR arrays the ALS, fold-in and distributed kernels read
switch from int32 to int64 (``fastmf._validation.index_dtype``).  Lowering the threshold
to 0 sends small data through those paths; the result must be bit-identical to the int32
paths, and the kernels must really have received int64 arrays.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

from fastmf import MatrixFactorization, _dispatch, _validation
from fastmf import recommend as rec


@pytest.fixture
def kernel_index_types(monkeypatch):
    """Records the dtype of the row pointers each ALS and top-k kernel call receives (in
    the SIMD build the drivers call)."""
    als_kernel, topk_kernel = _dispatch.kernel("als"), _dispatch.kernel("topk")
    seen = {"als": set(), "topk": set()}
    solve_rows, topk = als_kernel.solve_rows, topk_kernel.topk

    def spy_als(indptr, *args):
        seen["als"].add(indptr.dtype)
        return solve_rows(indptr, *args)

    def spy_topk(queries, items, ibias, qbias, ids, indptr, *args):
        seen["topk"].add(indptr.dtype)
        return topk(queries, items, ibias, qbias, ids, indptr, *args)

    monkeypatch.setattr(als_kernel, "solve_rows", spy_als)
    monkeypatch.setattr(topk_kernel, "topk", spy_topk)
    return seen


def _fit_and_serve(X, **params):
    model = MatrixFactorization(**{"factors": 5, "solver": "als", "epochs": 3, "l2": 0.2,
                                   "random_state": 0, **params}).fit(X)
    new = random_ratings(7, X.shape[1], 0.3, seed=5, binary=params.get("loss") == "logistic")
    return model, [model.user_factors_, model.item_factors_, model.user_bias_,
                   model.item_bias_, *model.transform(new),
                   *model.recommend(np.arange(10), n=4, exclude=X)]


@pytest.mark.parametrize("params", [
    {},
    {"feedback": "implicit", "alpha": 2.0},
    {"loss": "logistic"},
    {"linear_solver": "cg", "dtype": np.float64},
])
def test_int64_paths_match_int32_bit_for_bit(params, kernel_index_types, monkeypatch):
    X = random_ratings(50, 30, 0.3, seed=1, binary=params.get("loss") == "logistic")
    _, narrow = _fit_and_serve(X, **params)
    assert kernel_index_types["als"] == {np.dtype(np.int32)}
    kernel_index_types["als"].clear()
    monkeypatch.setattr(_validation, "INT32_INDEX_LIMIT", 0)
    X64 = sp.csr_matrix(X)
    X64.indptr, X64.indices = X64.indptr.astype(np.int64), X64.indices.astype(np.int64)
    _, wide = _fit_and_serve(X64, **params)
    assert kernel_index_types["als"] == {np.dtype(np.int64)}
    for a, b in zip(narrow, wide, strict=True):
        np.testing.assert_array_equal(a, b)


def test_int64_exclusions_and_candidates_in_recommend(kernel_index_types):
    rng = np.random.default_rng()
    users, items = rng.normal(size=(40, 6)), rng.normal(size=(90, 6))
    exclude = sp.random(40, 90, density=0.2, format="csr", random_state=3)
    wide = exclude.copy()
    wide.indptr, wide.indices = wide.indptr.astype(np.int64), wide.indices.astype(np.int64)
    a = rec.recommend(users, items, n=9, exclude=exclude, items=np.arange(0, 90, 2))
    b = rec.recommend(users, items, n=9, exclude=wide, items=np.arange(0, 90, 2))
    assert kernel_index_types["topk"] == {np.dtype(np.int32), np.dtype(np.int64)}
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_ratings_beyond_int32_ids_are_refused():
    """User and item ids are int32 in every kernel: at most 2**31 - 1 per axis."""
    big = sp.coo_matrix(([1.0], ([0], [2**31])), shape=(1, 2**31 + 1))
    with pytest.raises(ValueError, match="at most 2\\*\\*31 - 1 per axis"):
        MatrixFactorization(2).fit(big)


def test_index_dtype_threshold():
    assert _validation.index_dtype(10) is np.int32
    assert _validation.index_dtype(2**31 - 2) is np.int32
    assert _validation.index_dtype(2**31 - 1) is np.int64
    assert _validation.index_dtype(2**40) is np.int64
