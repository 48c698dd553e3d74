"""recommend / similar / fold_in against brute-force NumPy on fresh random models."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastmf import _dispatch
from fastmf.recommend import fold_in, recommend, similar

DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]
THREADS = [1, 2]


def integer_model(rng, n_users, n_items, k, dtype):
    """Small-integer factors and biases: every score is exact in float32 and float64, so
    ties are exact and the kernel must match the reference id for id."""
    users = rng.integers(-2, 3, size=(n_users, k)).astype(dtype)
    items = rng.integers(-2, 3, size=(n_items, k)).astype(dtype)
    bias = rng.integers(-2, 3, size=n_items).astype(dtype)
    return users, items, bias


def random_exclusion(rng, n_rows, n_items, density, index_dtype):
    mask = rng.random((n_rows, n_items)) < density
    csr = sp.csr_matrix(mask.astype(np.float64))
    csr.indptr = csr.indptr.astype(index_dtype)
    csr.indices = csr.indices.astype(index_dtype)
    return csr, mask


def brute_force(users, items, bias, n, mask=None, candidates=None, self_ids=None):
    """Stable argsort of all scores: ties resolved by lower item id."""
    scores = (users.astype(np.float64) @ items.astype(np.float64).T + bias).astype(users.dtype)
    allowed = np.ones(scores.shape, dtype=bool)
    if mask is not None:
        allowed &= ~mask
    if candidates is not None:
        keep = np.zeros(items.shape[0], dtype=bool)
        keep[candidates] = True
        allowed &= keep
    if self_ids is not None:
        allowed[np.arange(len(self_ids)), self_ids] = False
    ids = np.full((users.shape[0], n), -1, dtype=np.int64)
    out = np.full((users.shape[0], n), -np.inf, dtype=users.dtype)
    for u in range(users.shape[0]):
        idx = np.flatnonzero(allowed[u])
        order = idx[np.argsort(-scores[u, idx], kind="stable")][:n]
        ids[u, : order.size] = order
        out[u, : order.size] = scores[u, order]
    return ids, out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_threads", THREADS)
def test_matches_brute_force_with_ties(dtype, num_threads):
    rng = np.random.default_rng()
    # more than one row tile (64) and item tile (1024), with many exact ties
    users, items, bias = integer_model(rng, 150, 2100, 4, dtype)
    ids, scores = recommend(users, items, bias, n=25, num_threads=num_threads)
    ref_ids, ref_scores = brute_force(users, items, bias, 25)
    assert ids.dtype == np.int64 and scores.dtype == dtype
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores)


# (row tile, item tile) pairs: one row and the smallest item tile, a row tile that is not
# a whole number of the kernel's row blocks, and tiles larger than the request.
TILES = [(1, 32), (7, 96), (16, 128), (64, 512), (512, 8192)]


@pytest.mark.parametrize("level", _dispatch.levels())
@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_result_does_not_depend_on_tile_sizes(level, dtype):
    """The tile sizes come from the cache sizes of the machine (recommend.tile_sizes),
    recommend cuts long requests at row tiles and recommend_all at any batch size: every
    tiling must give the same bits, with several item tiles per row as well."""
    topk = _dispatch.kernel("topk", level).topk
    rng = np.random.default_rng()
    m, n_items, k, n = 75, 700, 13, 20
    exclude, mask = random_exclusion(rng, m, n_items, 0.2, np.int64)
    cand = np.arange(n_items, dtype=np.int64)
    no_self = np.full(m, -1, dtype=np.int64)

    def run(users, items, bias, row_tile, item_tile):
        ids = np.empty((m, n), dtype=np.int64)
        scores = np.empty((m, n), dtype=dtype)
        assert topk(users, items, bias, np.zeros(m, dtype), cand, exclude.indptr,
                    exclude.indices, no_self, ids, scores, row_tile, item_tile, 2) == 0
        return ids, scores

    exact = integer_model(rng, m, n_items, k, dtype)       # exact scores and ties
    want = brute_force(*exact, n, mask=mask)
    real = tuple(rng.normal(size=shape).astype(dtype)
                 for shape in ((m, k), (n_items, k), (n_items,)))
    first = run(*real, *TILES[0])
    for row_tile, item_tile in TILES:
        for got, ref in zip(run(*exact, row_tile, item_tile), want, strict=True):
            np.testing.assert_array_equal(got, ref)
        for got, ref in zip(run(*real, row_tile, item_tile), first, strict=True):
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("num_threads", THREADS)
def test_exclusion(dtype, index_dtype, num_threads):
    rng = np.random.default_rng()
    users, items, bias = integer_model(rng, 90, 1300, 3, dtype)
    exclude, mask = random_exclusion(rng, 90, 1300, 0.3, index_dtype)
    ids, scores = recommend(users, items, bias, n=40, exclude=exclude,
                            num_threads=num_threads)
    ref_ids, ref_scores = brute_force(users, items, bias, 40, mask=mask)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores)
    assert not mask[np.arange(90)[:, None], ids].any()


def test_unsorted_exclusion_indices_and_caller_untouched():
    rng = np.random.default_rng()
    users, items, bias = integer_model(rng, 30, 200, 3, np.float64)
    exclude, mask = random_exclusion(rng, 30, 200, 0.2, np.int32)
    # reverse the column order inside every row: still the same matrix
    for r in range(30):
        lo, hi = exclude.indptr[r], exclude.indptr[r + 1]
        exclude.indices[lo:hi] = exclude.indices[lo:hi][::-1].copy()
    exclude.has_sorted_indices = False
    before = exclude.indices.copy()
    ids, _ = recommend(users, items, bias, n=15, exclude=exclude)
    np.testing.assert_array_equal(exclude.indices, before)
    np.testing.assert_array_equal(ids, brute_force(users, items, bias, 15, mask=mask)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_threads", THREADS)
def test_candidate_subset_with_exclusion(dtype, num_threads):
    rng = np.random.default_rng()
    users, items, bias = integer_model(rng, 70, 1500, 3, dtype)
    exclude, mask = random_exclusion(rng, 70, 1500, 0.2, np.int64)
    cand = rng.choice(1500, size=400, replace=False)
    cand_with_dupes = np.concatenate([cand, cand[:50]])
    ids, scores = recommend(users, items, bias, n=12, exclude=exclude,
                            items=cand_with_dupes, num_threads=num_threads)
    ref_ids, ref_scores = brute_force(users, items, bias, 12, mask=mask, candidates=cand)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores)
    assert np.isin(ids, cand).all()


@pytest.mark.parametrize("num_threads", THREADS)
def test_n_larger_than_available_pads(num_threads):
    rng = np.random.default_rng()
    users, items, bias = integer_model(rng, 20, 30, 3, np.float32)
    exclude, mask = random_exclusion(rng, 20, 30, 0.5, np.int32)
    mask[0] = True                      # a row with every item excluded
    exclude = sp.csr_matrix(mask.astype(np.float32))
    cand = np.arange(0, 30, 2)
    ids, scores = recommend(users, items, bias, n=50, exclude=exclude, items=cand,
                            num_threads=num_threads)
    assert ids.shape == scores.shape == (20, 30)      # n is capped at the 30 items
    ref_ids, ref_scores = brute_force(users, items, bias, 30, mask=mask, candidates=cand)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores)
    available = (~mask[:, cand]).sum(axis=1)
    np.testing.assert_array_equal((ids >= 0).sum(axis=1), available)
    assert (ids[0] == -1).all() and np.isneginf(scores[0]).all()
    assert np.isneginf(scores[ids == -1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_continuous_scores_are_the_top_n(dtype):
    """Random real factors: returned scores are the n largest, sorted, and correct."""
    rng = np.random.default_rng()
    users = rng.normal(size=(64 * 3 + 5, 16)).astype(dtype)
    items = rng.normal(size=(3000, 16)).astype(dtype)
    bias = rng.normal(size=3000).astype(dtype)
    ubias = rng.normal(size=users.shape[0]).astype(dtype)
    ids, scores = recommend(users, items, bias, n=10, user_bias=ubias, num_threads=2)
    full = users.astype(np.float64) @ items.astype(np.float64).T + bias
    tol = 1e-4 if dtype == np.float32 else 1e-10
    expected = -np.sort(-full, axis=1)[:, :10] + ubias[:, None]
    np.testing.assert_allclose(scores, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        scores, np.take_along_axis(full, ids, axis=1) + ubias[:, None], rtol=tol, atol=tol
    )
    assert (np.diff(scores, axis=1) <= 0).all()
    assert all(len(set(row)) == 10 for row in ids)


def test_exclude_ids_and_thread_independence():
    rng = np.random.default_rng()
    users, items, bias = integer_model(rng, 100, 500, 3, np.float64)
    self_ids = rng.integers(-1, 500, size=100)
    one = recommend(users, items, bias, n=7, exclude_ids=self_ids, num_threads=1)
    two = recommend(users, items, bias, n=7, exclude_ids=self_ids, num_threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    mask = np.zeros((100, 500), dtype=bool)
    has = self_ids >= 0
    mask[np.flatnonzero(has), self_ids[has]] = True
    np.testing.assert_array_equal(one[0], brute_force(users, items, bias, 7, mask=mask)[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_similar_is_cosine_without_self(dtype):
    rng = np.random.default_rng()
    factors = rng.normal(size=(300, 8)).astype(dtype)
    factors[[5, 17]] = 0.0                              # zero-norm rows
    queries = np.array([0, 5, 17, 299, 3])
    ids, scores = similar(queries, factors, n=20, num_threads=2)
    assert np.isfinite(scores).all()
    f = factors.astype(np.float64)
    norms = np.linalg.norm(f, axis=1)
    unit = f / np.where(norms > 0, norms, 1.0)[:, None]
    cos = unit[queries] @ unit.T
    cos[np.arange(len(queries)), queries] = -np.inf
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(scores, -np.sort(-cos, axis=1)[:, :20], atol=tol)
    np.testing.assert_allclose(scores, np.take_along_axis(cos, ids, axis=1), atol=tol)
    assert not (ids == queries[:, None]).any()
    # a zero row is equally (un)similar to everything: ties by lower id
    np.testing.assert_array_equal(ids[1], [i for i in range(21) if i != 5][:20])
    np.testing.assert_array_equal(scores[1], 0.0)


def test_similar_pads_when_too_few_rows():
    factors = np.random.default_rng().normal(size=(4, 3))
    ids, scores = similar([2], factors, n=6)
    assert sorted(ids[0, :3]) == [0, 1, 3]
    assert (ids[0, 3:] == -1).all() and np.isneginf(scores[0, 3:]).all()


def test_inputs_not_modified():
    rng = np.random.default_rng()
    users, items, bias = integer_model(rng, 10, 50, 3, np.float32)
    copies = [a.copy() for a in (users, items, bias)]
    recommend(users, items, bias, n=5, items=np.arange(10))
    similar([1, 2], items, n=3)
    for a, c in zip((users, items, bias), copies, strict=True):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n": 0}, ValueError, "n must be >= 1"),
        ({"n": 2.5}, TypeError, "n must be an integer"),
        ({"user_vectors": np.ones(3)}, ValueError, "user_vectors must be two-dimensional"),
        ({"user_vectors": np.ones((2, 4))}, ValueError, "same number of factors"),
        ({"item_bias": np.ones(7)}, ValueError, r"item_bias must have shape \(6,\)"),
        ({"item_bias": np.full(6, np.nan)}, ValueError, "item_bias contains NaN"),
        ({"item_factors": np.full((6, 3), np.inf)}, ValueError, "item_factors contains"),
        ({"exclude": sp.csr_matrix((3, 6))}, ValueError, r"exclude must have shape \(2, 6\)"),
        ({"exclude": np.zeros((2, 6))}, TypeError, "exclude must be a scipy.sparse"),
        ({"items": [0, 6]}, ValueError, "items contains index 6"),
        ({"items": [-1]}, ValueError, "items contains negative"),
        ({"exclude_ids": [0, 6]}, ValueError, "exclude_ids must lie in"),
        ({"exclude_ids": [0]}, ValueError, r"exclude_ids must have shape \(2,\)"),
        ({"user_bias": np.ones(3)}, ValueError, r"user_bias must have shape \(2,\)"),
        ({"num_threads": 0}, ValueError, "num_threads=0"),
    ],
)
def test_recommend_validation(kwargs, exc, match):
    args = {
        "user_vectors": np.ones((2, 3)),
        "item_factors": np.ones((6, 3)),
        "item_bias": None,
        "n": 3,
    }
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        recommend(**args)


def test_recommend_rejects_out_of_range_exclusion_columns():
    bad = sp.csr_matrix((np.ones(1), np.array([9]), np.array([0, 1, 1])), shape=(2, 6))
    with pytest.raises(ValueError, match="exclude holds column indices outside"):
        recommend(np.ones((2, 3)), np.ones((6, 3)), exclude=bad)


def test_similar_validation():
    with pytest.raises(ValueError, match="query_ids contains index 4"):
        similar([4], np.ones((4, 2)))
    with pytest.raises(ValueError, match="n must be >= 1"):
        similar([0], np.ones((4, 2)), n=0)


# ---------------------------------------------------------------------------
# fold-in
# ---------------------------------------------------------------------------


def dense_fold_in(rows, cols, y, items, ibias, mu, l2, l2_bias, n_new, biases=True):
    """One explicit dense solve per user of the augmented normal equations."""
    k = items.shape[1]
    d = k + 1 if biases else k
    out = np.zeros((n_new, d))
    for u in range(n_new):
        sel = rows == u
        if not sel.any():
            continue
        x = items[cols[sel]]
        if biases:
            x = np.hstack([x, np.ones((sel.sum(), 1))])
        reg = np.diag([l2] * k + ([l2_bias] if biases else []))
        out[u] = np.linalg.solve(x.T @ x + reg, x.T @ (y[sel] - mu - ibias[cols[sel]]))
    return out


@pytest.mark.parametrize("biases", [True, False])
def test_fold_in_matches_dense_solve(biases):
    rng = np.random.default_rng()
    n_new, n_items, k = 25, 60, 5
    items = rng.normal(size=(n_items, k))
    ibias = rng.normal(size=n_items)
    mask = rng.random((n_new, n_items)) < 0.2
    mask[3] = False                                    # a user without ratings
    rows, cols = np.nonzero(mask)
    y = rng.normal(3.0, 1.0, size=rows.size)
    X = sp.csr_matrix((y, (rows, cols)), shape=(n_new, n_items))
    factors, bias = fold_in(X, items, ibias, 3.1, l2=0.3, l2_bias=0.05, biases=biases)
    ref = dense_fold_in(rows, cols, y, items, ibias, 3.1, 0.3, 0.05, n_new, biases)
    np.testing.assert_allclose(factors, ref[:, :k], rtol=1e-10, atol=1e-10)
    if biases:
        np.testing.assert_allclose(bias, ref[:, k], rtol=1e-10, atol=1e-10)
    else:
        np.testing.assert_array_equal(bias, 0.0)
    np.testing.assert_array_equal(factors[3], 0.0)
    assert bias[3] == 0.0


def test_fold_in_batches_agree(monkeypatch):
    """Tiny scratch bound forces one user per batch: same answer."""
    import fastmf.recommend as rec

    rng = np.random.default_rng()
    items = rng.normal(size=(40, 3))
    X = sp.random(30, 40, density=0.3, random_state=rng, format="csr")
    full = fold_in(X, items, None, 0.0, l2=0.1)
    monkeypatch.setattr(rec, "_FOLD_IN_SCRATCH", 1)
    small = fold_in(X, items, None, 0.0, l2=0.1)
    np.testing.assert_allclose(full[0], small[0], rtol=1e-12)
    np.testing.assert_allclose(full[1], small[1], rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fold_in_recovers_known_user(dtype):
    rng = np.random.default_rng()
    k, n_items = 6, 80
    items = rng.normal(size=(n_items, k)).astype(dtype)
    ibias = rng.normal(size=n_items).astype(dtype)
    p_true = rng.normal(size=(4, k))
    b_true = rng.normal(size=4)
    y = 3.5 + ibias + b_true[:, None] + p_true @ items.astype(np.float64).T
    X = sp.csr_matrix(y)
    factors, bias = fold_in(X, items, ibias, 3.5, l2=1e-12, l2_bias=1e-12)
    assert factors.dtype == dtype and bias.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(factors, p_true, atol=tol)
    np.testing.assert_allclose(bias, b_true, atol=tol)


def test_fold_in_logistic_is_stationary():
    """Newton result: the gradient of the penalised logistic objective vanishes."""
    rng = np.random.default_rng()
    k, n_items, n_new = 4, 50, 12
    items = rng.normal(size=(n_items, k))
    ibias = rng.normal(size=n_items)
    mask = rng.random((n_new, n_items)) < 0.5
    rows, cols = np.nonzero(mask)
    labels = rng.choice([-1.0, 1.0], size=rows.size)        # {-1, +1} accepted
    X = sp.csr_matrix((labels, (rows, cols)), shape=(n_new, n_items))
    l2, l2_bias, mu = 0.5, 0.2, -0.3
    factors, bias = fold_in(X, items, ibias, mu, l2=l2, l2_bias=l2_bias, loss="logistic")
    for u in range(n_new):
        sel = rows == u
        x = np.hstack([items[cols[sel]], np.ones((sel.sum(), 1))])
        w = np.append(factors[u], bias[u])
        s = mu + ibias[cols[sel]] + x @ w
        y01 = (labels[sel] > 0).astype(float)
        grad = x.T @ (1 / (1 + np.exp(-s)) - y01) + np.append(np.full(k, l2), l2_bias) * w
        np.testing.assert_allclose(grad, 0.0, atol=1e-8)


def test_fold_in_validation():
    items = np.ones((5, 2))
    X = sp.csr_matrix(np.ones((2, 5)))
    with pytest.raises(TypeError, match="X_rows must be a scipy.sparse"):
        fold_in(np.ones((2, 5)), items)
    with pytest.raises(ValueError, match="X_rows has 4 columns"):
        fold_in(sp.csr_matrix((2, 4)), items)
    with pytest.raises(ValueError, match="l2 must be finite"):
        fold_in(X, items, l2=-1.0)
    with pytest.raises(ValueError, match="loss must be one of"):
        fold_in(X, items, loss="hinge")
    with pytest.raises(ValueError, match="needs binary labels"):
        fold_in(sp.csr_matrix(np.full((2, 5), 3.0)), items, loss="logistic")
    with pytest.raises(ValueError, match="item_bias must have shape"):
        fold_in(X, items, item_bias=np.ones(4))
    with pytest.raises(ValueError, match="global_bias must be a finite"):
        fold_in(X, items, global_bias=np.nan)


def test_read_only_inputs():
    """Kernel inputs are const memoryviews: read-only arrays and matrices are accepted."""
    rng = np.random.default_rng()
    users, items, bias = integer_model(rng, 20, 90, 3, np.float32)
    exclude, mask = random_exclusion(rng, 20, 90, 0.3, np.int32)
    for a in (users, items, bias, exclude.indices, exclude.indptr, exclude.data):
        a.setflags(write=False)
    ids, _ = recommend(users, items, bias, n=8, exclude=exclude)
    np.testing.assert_array_equal(ids, brute_force(users, items, bias, 8, mask=mask)[0])


def test_zero_factors_rank_by_bias():
    """A model with no factors ranks by item bias alone."""
    rng = np.random.default_rng()
    bias = rng.permutation(40).astype(np.float64)
    ids, scores = recommend(np.zeros((3, 0)), np.zeros((40, 0)), bias, n=5)
    np.testing.assert_array_equal(ids, np.tile(np.argsort(-bias)[:5], (3, 1)))
    np.testing.assert_array_equal(scores, np.tile(-np.sort(-bias)[:5], (3, 1)))
