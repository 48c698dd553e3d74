"""Bad input gets a clear exception naming the problem; the caller's data is untouched."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

from fastmf import MatrixFactorization


def _fit(X, **params):
    return MatrixFactorization(**{"factors": 3, "epochs": 2, "random_state": 0, **params}).fit(X)


@pytest.mark.parametrize(
    ("params", "exc", "match"),
    [
        ({"factors": 0}, ValueError, "factors must be >= 1"),
        ({"factors": 2.5}, TypeError, "factors must be an integer"),
        ({"epochs": -1}, ValueError, "epochs must be >= 0"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be finite and > 0"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
        ({"l2": -0.01}, ValueError, "l2 must be finite and >= 0"),
        ({"l2_bias": -1.0}, ValueError, "l2_bias"),
        ({"l2": float("inf")}, ValueError, "l2"),
        ({"init_scale": -1.0}, ValueError, "init_scale"),
        ({"loss": "hinge"}, ValueError, "loss must be one of"),
        ({"solver": "adam"}, ValueError, "solver must be one of"),
        ({"dtype": np.int32}, ValueError, "dtype must be float32 or float64"),
        ({"dtype": "float16"}, ValueError, "dtype"),
        ({"num_threads": 0}, ValueError, "num_threads=0"),
        ({"num_threads": 1.5}, TypeError, "num_threads"),
        ({"random_state": -3}, ValueError, "random_state"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"biases": "yes"}, TypeError, "biases"),
    ],
)
def test_bad_parameters(ratings, params, exc, match):
    with pytest.raises(exc, match=match):
        _fit(ratings, **params)


def test_parameters_are_stored_untouched_and_checked_only_in_fit():
    model = MatrixFactorization(factors=-5, loss="nope")
    assert model.factors == -5 and model.loss == "nope"
    with pytest.raises(ValueError):
        model.fit(random_ratings(seed=0))


def test_dense_input_is_rejected_with_advice():
    with pytest.raises(TypeError, match="csr_matrix"):
        _fit(np.ones((5, 4)))
    with pytest.raises(TypeError, match="scipy.sparse"):
        _fit("ratings.csv")


def test_empty_matrix():
    with pytest.raises(ValueError, match="no ratings"):
        _fit(sp.csr_matrix((10, 5)))
    with pytest.raises(ValueError, match="no ratings"):
        _fit((np.array([], int), np.array([], int), np.array([])))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_ratings(ratings, bad):
    ratings.data[3] = bad
    with pytest.raises(ValueError, match="non-finite rating"):
        _fit(ratings)


def test_triples_checks():
    u, i, v = np.array([0, 1, 2]), np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="same length"):
        _fit((u, i[:2], v))
    with pytest.raises(ValueError, match="users contains negative index -1"):
        _fit((np.array([0, -1, 2]), i, v))
    with pytest.raises(ValueError, match="items contains negative index"):
        _fit((u, np.array([0, -2, 1]), v))
    with pytest.raises(TypeError, match="integer indices"):
        _fit((np.array([0.5, 1, 2]), i, v))
    with pytest.raises(TypeError, match="real numbers"):
        _fit((u, i, np.array(["a", "b", "c"])))
    with pytest.raises(ValueError, match="one-dimensional"):
        _fit((u.reshape(3, 1), i, v))


def test_duplicate_pairs_are_an_error_not_summed():
    u, i, v = np.array([0, 1, 0]), np.array([2, 1, 2]), np.array([4.0, 3.0, 5.0])
    with pytest.raises(ValueError, match=r"more than one rating for \(user 0, item 2\)"):
        _fit((u, i, v))
    # a COO matrix with a repeated entry would be summed by tocsr(); fastmf refuses it
    with pytest.raises(ValueError, match="more than one rating"):
        _fit(sp.coo_matrix((v, (u, i)), shape=(2, 3)))


@pytest.mark.parametrize("labels", [[0.0, 2.0, 1.0], [-1.0, 0.0, 1.0], [0.5, 1.0, 0.0]])
def test_logistic_labels_must_be_binary(labels):
    u, i = np.array([0, 1, 2]), np.array([0, 1, 0])
    with pytest.raises(ValueError, match="binary labels"):
        _fit((u, i, np.array(labels)), loss="logistic")


def test_logistic_accepts_both_label_conventions():
    rng = np.random.default_rng()
    u, i = np.repeat(np.arange(20), 10), np.tile(np.arange(10), 20)
    y01 = rng.integers(0, 2, size=200).astype(float)
    a = _fit((u, i, y01), loss="logistic")
    b = _fit((u, i, 2 * y01 - 1), loss="logistic")
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)


def test_predict_checks(ratings):
    model = _fit(ratings).set_params(unknown="raise")
    n_users, n_items = ratings.shape
    with pytest.raises(ValueError, match=f"users contains index {n_users}"):
        model.predict([0, n_users], [0, 1])
    with pytest.raises(ValueError, match="items contains index"):
        model.predict([0], [n_items + 5])
    with pytest.raises(ValueError, match="users contains negative index"):
        model.predict([-1], [0])
    with pytest.raises(ValueError, match="same length"):
        model.predict([0, 1], [0])
    with pytest.raises(TypeError, match="integer"):
        model.predict(["a"], [0])
    with pytest.raises(AttributeError, match="not fitted"):
        MatrixFactorization().predict([0], [0])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_input_never_modified(ratings, fmt, index_dtype):
    X = ratings.asformat(fmt)
    if fmt in ("csr", "csc"):
        X.indices = X.indices.astype(index_dtype)
        X.indptr = X.indptr.astype(index_dtype)
        X.has_sorted_indices = False     # tempt an in-place sort
    before = X.copy()
    _fit(X)
    _fit(X, loss="squared", dtype=np.float64)
    assert X.format == fmt
    assert (X != before).nnz == 0
    if fmt in ("csr", "csc"):
        assert X.indices.dtype == index_dtype and X.indptr.dtype == index_dtype


def test_triples_never_modified():
    rng = np.random.default_rng()
    u = rng.integers(0, 30, 100)
    i = rng.integers(0, 20, 100)
    keep = np.unique(u * 20 + i, return_index=True)[1]
    u, i = u[keep], i[keep]
    v = rng.integers(0, 2, u.size).astype(np.float64) * 2 - 1     # {-1, +1}
    copies = (u.copy(), i.copy(), v.copy())
    _fit((u, i, v), loss="logistic")
    for a, b in zip((u, i, v), copies, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("form", ["csr", "coo", "tuple"])
def test_complex_ratings_are_refused(form):
    """A complex sparse matrix was accepted and its imaginary part dropped silently."""
    rows, cols = np.array([0, 1, 2]), np.array([1, 0, 2])
    values = np.array([4 + 1j, 3 + 0j, 5 - 2j])
    X = (rows, cols, values) if form == "tuple" else sp.coo_matrix(
        (values, (rows, cols)), shape=(3, 3)).asformat(form)
    with pytest.raises(TypeError, match="complex"):
        MatrixFactorization(2, epochs=1).fit(X)


def test_complex_ratings_are_refused_by_transform_and_fold_in(ratings):
    from fastmf.recommend import fold_in

    model = MatrixFactorization(3, epochs=1).fit(ratings)
    rows = sp.csr_matrix(np.eye(2, ratings.shape[1]) * (1 + 1j))
    with pytest.raises(TypeError, match="complex"):
        model.transform(rows)
    with pytest.raises(TypeError, match="complex"):
        model.recommend(new_users=rows)
    with pytest.raises(TypeError, match="real"):
        fold_in(rows, model.item_factors_)


def test_ratings_beyond_float32_are_named():
    with pytest.raises(ValueError, match=r"1e\+300.*beyond the range of float32"):
        MatrixFactorization(2, epochs=1).fit((np.array([0, 1]), np.array([1, 0]),
                                              np.array([1e300, 3.0])))


@pytest.mark.parametrize("name", ["factors", "cg_steps", "newton_steps"])
def test_counts_beyond_a_c_int_are_refused(ratings, name):
    with pytest.raises(ValueError, match=f"{name} must be <= 2147483647"):
        MatrixFactorization(**{"solver": "als", name: 2**31}).fit(ratings)


def _unaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` at an odd address (as arrays received through Dask can be)."""
    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(raw[1:].data, dtype=a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


def test_unaligned_arrays_reach_the_kernels_aligned(monkeypatch):
    """The sanitizer build found the implicit Gram matrix, received by a Dask worker at an
    odd address, read by the ALS kernel as doubles (undefined behaviour in C)."""
    from fastmf import _als, _dispatch
    from fastmf import recommend as rec
    from fastmf._params import check_params
    from fastmf._validation import check_ratings

    seen = []

    def spy(kernel):
        def call(*args):
            seen.extend(a.flags.aligned for a in args if isinstance(a, np.ndarray))
            return kernel(*args)
        return call

    # the SIMD builds the drivers call
    als_kernel, topk_kernel = _dispatch.kernel("als"), _dispatch.kernel("topk")
    monkeypatch.setattr(als_kernel, "solve_rows", spy(als_kernel.solve_rows))
    monkeypatch.setattr(topk_kernel, "topk", spy(topk_kernel.topk))
    rng = np.random.default_rng()
    X = random_ratings(30, 20, 0.3, seed=None)
    model = MatrixFactorization(4, solver="als", feedback="implicit", epochs=2,
                                dtype=np.float64, random_state=0).fit(X)
    cfg = check_params(model).als_settings()
    csr = _als.prepare(check_ratings(X, np.dtype(np.float64)), cfg.model).by_user
    odd = sp.csr_matrix((_unaligned(csr.data), _unaligned(csr.indices),
                         _unaligned(csr.indptr)), shape=csr.shape, copy=False)
    results = []
    for matrix, gram in ((csr, _als.gram(model.item_factors_)),
                         (odd, _unaligned(_als.gram(model.item_factors_)))):
        rows, bias = np.zeros((30, 4)), np.zeros(30)
        _als.half_sweep(matrix, rows, bias, np.array(model.item_factors_),
                        np.zeros(20), cfg, global_bias=0.0, n_threads=1, gram_matrix=gram)
        results.append(rows)
    np.testing.assert_array_equal(*results)
    queries, items = rng.normal(size=(7, 4)), rng.normal(size=(20, 4))
    a = rec.recommend(queries, items, n=5)
    b = rec.recommend(_unaligned(queries), _unaligned(items), n=5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert seen and all(seen)
