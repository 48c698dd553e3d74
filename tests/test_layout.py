"""The counting-sort kernels that build the ALS rating matrices, against SciPy."""

import numpy as np
import pytest
import scipy.sparse as sp
from fastmf._kernels import layout

from fastmf import _als
from fastmf._validation import check_ratings


def _triples(rng, n_rows, n_cols, nnz):
    keys = rng.choice(n_rows * n_cols, size=nnz, replace=False)
    rows, cols = (keys // n_cols).astype(np.int32), (keys % n_cols).astype(np.int32)
    return rows, cols, rng.normal(size=nnz)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_and_transpose_match_scipy(threads, index, dtype):
    rng = np.random.default_rng()
    n_rows, n_cols = 300, 70_000           # > 2**16 columns: three radix digits
    rows, cols, values = _triples(rng, n_rows, n_cols, 20_000)
    rows[:400] = 5                         # one long row takes the radix sort
    cols[:400] = rng.choice(n_cols, 400, replace=False)
    keep = np.unique(rows.astype(np.int64) * n_cols + cols, return_index=True)[1]
    rows, cols, values = rows[keep], cols[keep], values[keep].astype(dtype)
    want = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, n_cols))
    want.sort_indices()

    indptr = np.empty(n_rows + 1, dtype=index)
    indices = np.empty(rows.size, dtype=index)
    data = np.empty(rows.size, dtype=dtype)
    assert layout.csr_from_triples(rows, cols, values, n_cols, indptr, indices, data,
                                   threads) == (0, -1)
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)
    np.testing.assert_array_equal(data, want.data)

    t_indptr = np.empty(n_cols + 1, dtype=index)
    t_indices = np.empty(rows.size, dtype=index)
    t_data = np.empty(rows.size, dtype=dtype)
    layout.csr_transpose(indptr, indices, data, t_indptr, t_indices, t_data, threads)
    want_t = want.T.tocsr()
    want_t.sort_indices()
    np.testing.assert_array_equal(t_indptr, want_t.indptr)
    np.testing.assert_array_equal(t_indices, want_t.indices)
    np.testing.assert_array_equal(t_data, want_t.data)


def test_duplicate_pair_is_reported_in_input_ids():
    rng = np.random.default_rng(1)
    rows, cols, values = _triples(rng, 50, 40, 300)
    rows = np.append(rows, rows[17])
    cols = np.append(cols, cols[17])
    values = np.append(values, 1.0)
    data = check_ratings((rows, cols, values), np.dtype(np.float64))
    with pytest.raises(ValueError, match=rf"\(user {rows[17]}, item {cols[17]}\)"):
        _als.prepare(data, "explicit", 2)


def test_prepare_does_not_depend_on_order_or_threads():
    rng = np.random.default_rng(2)
    rows, cols, values = _triples(rng, 400, 300, 5_000)
    one = _als.prepare(check_ratings((rows, cols, values), np.dtype(np.float32)),
                       "explicit", 1)
    perm = rng.permutation(rows.size)
    two = _als.prepare(check_ratings((rows[perm], cols[perm], values[perm]),
                                     np.dtype(np.float32)), "explicit", 2)
    for a, b in ((one.by_user, two.by_user), (one.by_item, two.by_item)):
        for name in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.indptr.dtype == a.indices.dtype
