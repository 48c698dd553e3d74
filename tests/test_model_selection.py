"""Splitters partition the stored entries exactly and never touch their input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastmf import MatrixFactorization
from fastmf.data import Triples
from fastmf.model_selection import KFold, per_user_split, train_test_split


def random_matrix(rng, n_users=50, n_items=40, density=0.2, fmt="csr"):
    mask = rng.random((n_users, n_items)) < density
    mask[0, :] = True
    mask[1, :] = False
    mask[2, :] = False
    mask[2, 5] = True                      # a user with a single entry
    rows, cols = np.nonzero(mask)
    values = rng.integers(0, 6, size=rows.size).astype(np.float32)   # explicit zeros too
    return sp.coo_matrix((values, (rows, cols)), shape=mask.shape).asformat(fmt)


def positions(X):
    coo = X.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def assert_partition(X, train, test):
    assert train.shape == X.shape and test.shape == X.shape
    assert train.format == "csr" and test.format == "csr"
    assert train.dtype == X.dtype and test.dtype == X.dtype
    tr, te = positions(train), positions(test)
    assert not tr & te
    assert tr | te == positions(X)
    assert train.nnz + test.nnz == X.nnz
    np.testing.assert_array_equal((train + test).toarray(), X.toarray())
    assert train.has_sorted_indices and test.has_sorted_indices


def index_array(X):
    return X.row if X.format == "coo" else X.indices


def snapshot(X):
    return X.copy(), [a.copy() for a in (X.data, index_array(X))]


def assert_unchanged(X, snap):
    copy, arrays = snap
    np.testing.assert_array_equal(X.toarray(), copy.toarray())
    for a, b in zip((X.data, index_array(X)), arrays, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc"])
def test_train_test_split_partitions(fmt):
    rng = np.random.default_rng()
    X = random_matrix(rng, fmt=fmt)
    snap = snapshot(X)
    train, test = train_test_split(X, test_size=0.25, random_state=int(rng.integers(1 << 30)))
    assert_unchanged(X, snap)
    assert_partition(X, train, test)
    assert test.nnz == round(0.25 * X.nnz)
    train, test = train_test_split(X, test_size=7)
    assert test.nnz == 7
    assert_partition(X, train, test)


def test_train_test_split_is_reproducible_and_random():
    rng = np.random.default_rng()
    X = random_matrix(rng)
    a = train_test_split(X, random_state=3)[1]
    b = train_test_split(X, random_state=3)[1]
    c = train_test_split(X, random_state=4)[1]
    assert positions(a) == positions(b)
    assert positions(a) != positions(c)


def test_duplicates_are_summed_before_splitting():
    X = sp.coo_matrix((np.array([1.0, 2.0, 3.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))),
                      shape=(2, 2))
    train, test = train_test_split(X, test_size=1, random_state=0)
    assert train.nnz + test.nnz == 2
    np.testing.assert_array_equal((train + test).toarray(), [[0.0, 3.0], [3.0, 0.0]])


@pytest.mark.parametrize("kwargs", [{}, {"test_size": 0.5}, {"test_items": 2}])
def test_per_user_split(kwargs):
    rng = np.random.default_rng()
    X = random_matrix(rng)
    snap = snapshot(X)
    train, test = per_user_split(X, random_state=rng, **kwargs)
    assert_unchanged(X, snap)
    assert_partition(X, train, test)
    n_u = np.diff(X.tocsr().indptr)
    n_test = np.diff(test.indptr)
    n_train = np.diff(train.indptr)
    many = n_u >= 2
    assert (n_test[many] >= 1).all() and (n_train[many] >= 1).all()
    assert (n_test[~many] == 0).all()
    if "test_items" in kwargs:
        np.testing.assert_array_equal(n_test[many], np.minimum(2, n_u[many] - 1))
    else:
        frac = kwargs.get("test_size", 0.2)
        expected = np.clip(np.rint(frac * n_u), 1, n_u - 1)
        np.testing.assert_array_equal(n_test[many], expected[many])


def test_per_user_split_picks_items_at_random():
    rng = np.random.default_rng()
    X = sp.csr_matrix(np.ones((1, 200)))
    seen = set()
    for seed in rng.integers(0, 1 << 30, size=5):
        seen |= positions(per_user_split(X, test_items=1, random_state=int(seed))[1])
    assert len(seen) > 1


@pytest.mark.parametrize("shuffle", [True, False])
def test_kfold(shuffle):
    rng = np.random.default_rng()
    X = random_matrix(rng)
    snap = snapshot(X)
    folds = list(KFold(n_splits=4, shuffle=shuffle, random_state=1).folds(X))
    assert_unchanged(X, snap)
    assert len(folds) == 4
    tests = [positions(te) for _, te in folds]
    for train, test in folds:
        assert_partition(X, train, test)
    union = set().union(*tests)
    assert union == positions(X)
    assert sum(len(t) for t in tests) == X.nnz           # each entry tested exactly once
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1
    if not shuffle:
        first = sorted(tests[0])
        assert first == sorted(positions(X))[: len(first)]


def test_validation():
    X = sp.csr_matrix(np.eye(4))
    with pytest.raises(TypeError, match="X must be a scipy.sparse"):
        train_test_split(np.eye(4))
    with pytest.raises(ValueError, match="test_size must lie strictly between 0 and 1"):
        train_test_split(X, test_size=1.5)
    with pytest.raises(ValueError, match=r"test_size=4 entries must lie in \[1, 3\]"):
        train_test_split(X, test_size=4)
    with pytest.raises(ValueError, match="at least 2 stored entries"):
        train_test_split(sp.csr_matrix((3, 3)))
    with pytest.raises(ValueError, match="not both"):
        per_user_split(X, test_size=0.2, test_items=1)
    with pytest.raises(ValueError, match="test_items must be >= 1"):
        per_user_split(X, test_items=0)
    with pytest.raises(ValueError, match="n_splits must be >= 2"):
        KFold(n_splits=1)
    with pytest.raises(ValueError, match="larger than the 4 stored entries"):
        KFold(n_splits=5).split(X)


# ---------------------------------------------------------------- (users, items, values)
def triples_of(X):
    """The stored entries of canonical CSR ``X`` as a triple, in row-major order, with
    dtypes other than the matrix's (the parts must keep them)."""
    coo = sp.csr_matrix(X).tocoo()
    return coo.row.astype(np.int32), coo.col.astype(np.int64), coo.data.astype(np.float64)


def assert_triple_partition(triple, train, test):
    for part in (train, test):
        assert isinstance(part, tuple) and len(part) == 3
        assert [a.dtype for a in part] == [a.dtype for a in triple]
        for out in part:
            assert not any(np.shares_memory(out, a) for a in triple)
    rows = {tuple(r) for r in zip(*(a.tolist() for a in triple), strict=True)}
    tr = [tuple(r) for r in zip(*(a.tolist() for a in train), strict=True)]
    te = [tuple(r) for r in zip(*(a.tolist() for a in test), strict=True)]
    assert len(tr) + len(te) == len(triple[0])
    assert set(tr) | set(te) == rows and not set(tr) & set(te)


def test_train_test_split_of_triples_is_a_seeded_partition():
    rng = np.random.default_rng()
    triple = triples_of(random_matrix(rng))
    before = [a.copy() for a in triple]
    seed = int(rng.integers(1 << 30))
    train, test = train_test_split(triple, test_size=0.25, random_state=seed)
    assert_triple_partition(triple, train, test)
    assert len(test[0]) == round(0.25 * len(triple[0]))
    for a, b in zip(triple, before, strict=True):
        np.testing.assert_array_equal(a, b)
    again = train_test_split(triple, test_size=0.25, random_state=seed)
    for a, b in zip((*train, *test), (*again[0], *again[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    # the test part is the head of a permutation drawn from the seed
    order = np.random.default_rng(seed).permutation(len(triple[0]))[:len(test[0])]
    np.testing.assert_array_equal(test[1], triple[1][order])


def test_datasets_train_test_split_is_the_triple_split():
    from fastmf.datasets import make_ratings
    from fastmf.datasets import train_test_split as datasets_split

    users, items, ratings = make_ratings(200, 100, 3_000, seed=4)
    old = datasets_split(users, items, ratings, test_size=0.3, seed=9)
    new = train_test_split((users, items, ratings), test_size=0.3, random_state=9)
    for a, b in zip((*old[0], *old[1]), (*new[0], *new[1]), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


@pytest.mark.parametrize("kwargs", [{"test_items": 2}, {"test_size": 0.3}])
def test_per_user_split_of_triples_holds_out_what_the_matrix_split_does(kwargs):
    """Entries in row-major order get the same random keys either way, so the triple's
    parts are the matrix's parts, and their rows keep the triple's order."""
    rng = np.random.default_rng()
    X = sp.csr_matrix(random_matrix(rng))
    triple = triples_of(X)
    seed = int(rng.integers(1 << 30))
    train, test = per_user_split(triple, random_state=seed, **kwargs)
    assert_triple_partition(triple, train, test)
    m_train, m_test = per_user_split(X, random_state=seed, **kwargs)
    for part, matrix in ((train, m_train), (test, m_test)):
        np.testing.assert_array_equal(triples_of(matrix)[0], part[0])
        np.testing.assert_array_equal(triples_of(matrix)[1], part[1])
        np.testing.assert_array_equal(triples_of(matrix)[2], part[2])
    shuffled = rng.permutation(len(triple[0]))             # any order of rows works
    train, test = per_user_split(tuple(a[shuffled] for a in triple), random_state=seed,
                                 **kwargs)
    counts = np.bincount(triple[0])
    held = np.bincount(test[0], minlength=counts.size)
    assert np.all(held[counts >= 2] >= 1) and np.all(held[counts < 2] == 0)
    assert np.all(np.bincount(train[0], minlength=counts.size)[counts >= 1] >= 1)


@pytest.mark.parametrize("shuffle", [True, False])
def test_kfold_of_triples_follows_the_matrix_folds(shuffle):
    rng = np.random.default_rng()
    X = sp.csr_matrix(random_matrix(rng))
    triple = triples_of(X)
    folds = KFold(n_splits=4, shuffle=shuffle, random_state=3)
    for (train, test), (m_train, m_test) in zip(folds.folds(triple), folds.folds(X),
                                                strict=True):
        assert_triple_partition(triple, train, test)
        np.testing.assert_array_equal(test[2], triples_of(m_test)[2])
        np.testing.assert_array_equal(train[0], triples_of(m_train)[0])


def test_triples_are_validated():
    x = np.arange(10)
    with pytest.raises(ValueError, match="users, items and values must have the same"):
        train_test_split((x, x[:9], x))
    with pytest.raises(ValueError, match="users must be one-dimensional"):
        train_test_split((x.reshape(2, 5), x, x))
    with pytest.raises(ValueError, match="at least 2 ratings"):
        train_test_split((x[:1], x[:1], x[:1]))
    with pytest.raises(ValueError, match=r"test_size=10 entries must lie in \[1, 9\]"):
        train_test_split((x, x, x), test_size=10)
    with pytest.raises(ValueError, match="users contains negative index"):
        per_user_split((x - 1, x, x))
    with pytest.raises(TypeError, match="users must hold integer indices"):
        per_user_split((x + 0.5, x, x))
    with pytest.raises(ValueError, match="larger than the 10 ratings"):
        next(KFold(n_splits=11).split((x, x, x)))


# ---------------------------------------------------------------- shapes and DataFrames
def test_parts_of_triples_keep_the_shape_of_the_whole():
    """A model fitted on a training part sized itself from the part's largest ids, so an
    id seen only in the test part broke predict ("items contains index 1681, but the
    model knows only 1681")."""
    users = np.array([0, 1, 2, 3, 4, 5])
    items = np.array([0, 1, 2, 3, 4, 9])
    values = np.arange(6.0)
    for X in [(users, items, values), Triples(users, items, values, shape=(8, 12))]:
        whole = getattr(X, "shape", (6, 10))
        parts = [*train_test_split(X, test_size=1, random_state=0),
                 *per_user_split(X, random_state=0),
                 *next(KFold(n_splits=3, random_state=0).folds(X))]
        for part in parts:
            assert isinstance(part, Triples) and part.shape == whole
        train, test = train_test_split(X, test_size=3, random_state=1)
        model = MatrixFactorization(2, epochs=2, random_state=0).fit(train)
        assert model.user_factors_.shape[0] == whole[0]
        assert model.item_factors_.shape[0] == whole[1]
        model.predict(test[0], test[1])                  # every test id has a row


def test_string_id_triples_split_as_they_are():
    users, items = np.array(["a", "b", "c", "a"]), np.array(["x", "y", "x", "y"])
    train, test = train_test_split((users, items, np.ones(4)), test_size=1, random_state=0)
    assert not isinstance(train, Triples) and len(train[0]) == 3
    assert sorted(np.concatenate([train[0], test[0]]).tolist()) == sorted(users.tolist())


def test_dataframes_split_by_row():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"user": ["a", "b", "c", "a", "b", "c"], "item": [1, 1, 2, 2, 3, 3],
                       "rating": np.arange(6.0)})
    train, test = train_test_split(df, test_size=2, random_state=0)
    assert len(train) == 4 and len(test) == 2
    assert sorted(train.index.tolist() + test.index.tolist()) == list(range(6))
    train, test = per_user_split(df, test_items=1, random_state=0)
    assert sorted(test["user"].tolist()) == ["a", "b", "c"]
    folds = list(KFold(n_splits=3, random_state=0).folds(df))
    assert sorted(sum((t.index.tolist() for _, t in folds), [])) == list(range(6))


@pytest.mark.parametrize("make", ["matrix", "triples", "frame"])
def test_kfold_split_yields_positions_that_match_folds(make):
    """scikit-learn's splitter protocol: split(X, y, groups) yields positions."""
    rng = np.random.default_rng()
    X = sp.csr_matrix(random_matrix(rng))
    if make != "matrix":
        X = triples_of(X)
    if make == "frame":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame({"u": X[0], "i": X[1], "r": X[2]})
    cv = KFold(n_splits=3, random_state=5)
    assert cv.get_n_splits(X, None, None) == 3
    split = list(cv.split(X, None, groups=None))
    for (train_pos, test_pos), (_, test) in zip(split, cv.folds(X), strict=True):
        assert train_pos.dtype == np.int64 and np.intersect1d(train_pos, test_pos).size == 0
        n = X.nnz if make == "matrix" else len(X) if make == "frame" else len(X[0])
        assert train_pos.size + test_pos.size == n
        if make == "frame":
            assert X.iloc[test_pos].equals(test)
        elif make == "triples":
            np.testing.assert_array_equal(X[2][test_pos], test[2])
        else:
            np.testing.assert_array_equal(np.sort(X.data[test_pos]), np.sort(test.data))
