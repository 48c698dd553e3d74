"""The estimator's recommend / similar_* / transform against brute-force NumPy."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

from fastmf import MatrixFactorization


def _brute_top(scores, n, exclude_rows=None):
    scores = scores.astype(np.float64).copy()
    if exclude_rows is not None:
        for r, cols in enumerate(exclude_rows):
            scores[r, cols] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    top = np.take_along_axis(scores, order, 1)
    return np.where(np.isneginf(top), -1, order), top      # nothing left: padded


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_recommend_matches_brute_force(loss):
    X = random_ratings(80, 60, 0.2, seed=None, binary=loss == "logistic")
    model = MatrixFactorization(5, loss=loss, epochs=3, random_state=0,
                                dtype=np.float64).fit(X)
    users = np.array([0, 7, 3, 79])
    ids, scores = model.recommend(users, n=6, exclude=X)
    all_items = np.arange(60)
    full = np.stack([model.predict(np.full(60, u), all_items) for u in users])
    seen = [X[u].indices for u in users]
    want_ids, want_scores = _brute_top(full, 6, seen)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-10)
    if loss == "logistic":       # padding (a user who rated every item) is -inf
        real = ids >= 0
        assert real.any() and np.all((scores[real] > 0) & (scores[real] < 1))


def test_recommend_candidates_padding_and_scalar_user(ratings):
    model = MatrixFactorization(4, epochs=2, random_state=0).fit(ratings)
    ids, scores = model.recommend(2, n=5, items=[3, 9, 1])
    assert ids.shape == (1, 5)
    assert sorted(ids[0, :3].tolist()) == [1, 3, 9]
    assert ids[0, 3:].tolist() == [-1, -1] and np.all(np.isneginf(scores[0, 3:]))
    full = model.predict(np.full(3, 2), [3, 9, 1])
    np.testing.assert_allclose(np.sort(scores[0, :3])[::-1], np.sort(full)[::-1], rtol=1e-6)


def test_recommend_for_new_users_folds_in_and_excludes_rated():
    X = random_ratings(100, 50, 0.3, seed=None)
    model = MatrixFactorization(4, epochs=5, random_state=0, dtype=np.float64).fit(X)
    new = X[:3]
    ids, scores = model.recommend(new_users=new, n=4)
    factors, bias = model.transform(new)
    s = model.global_bias_ + bias[:, None] + model.item_bias_ + factors @ model.item_factors_.T
    want_ids, want_scores = _brute_top(s, 4, [new[r].indices for r in range(3)])
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-10)


def test_recommend_argument_errors(ratings):
    model = MatrixFactorization(3, epochs=1, random_state=0).fit(ratings)
    with pytest.raises(ValueError, match="exactly one of users and new_users"):
        model.recommend()
    with pytest.raises(ValueError, match="at most 40 columns"):
        model.recommend([0], exclude=sp.csr_matrix((60, 41)))
    with pytest.raises(ValueError, match="at most 60 rows"):
        model.recommend([0, 1], exclude=sp.csr_matrix((61, 40)))
    with pytest.raises(ValueError, match="users contains index"):
        model.set_params(unknown="raise").recommend([ratings.shape[0]])
    with pytest.raises(ValueError, match="columns"):
        model.recommend(new_users=sp.csr_matrix((2, ratings.shape[1] + 1)))
    with pytest.raises(AttributeError, match="not fitted"):
        MatrixFactorization().recommend([0])


def test_similar_items_and_users_are_cosine_neighbours(ratings):
    model = MatrixFactorization(6, epochs=3, random_state=0, dtype=np.float64).fit(ratings)
    for method, F in ((model.similar_items, model.item_factors_),
                      (model.similar_users, model.user_factors_)):
        ids, sims = method([0, 5], n=4)
        unit = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-300)
        cos = unit[[0, 5]] @ unit.T
        cos[0, 0] = cos[1, 5] = -np.inf        # the query itself is excluded
        want_ids, want = _brute_top(cos, 4)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(sims, want, rtol=1e-10)


def _dense_fold_in(X, Q, bi, mu, l2, l2_bias, weighted):
    """One dense regularised least-squares solve per row on [p, b]."""
    k = Q.shape[1]
    out = np.zeros((X.shape[0], k + 1))
    for r in range(X.shape[0]):
        row = X[r]
        if row.nnz == 0:
            continue
        Z = np.hstack([Q[row.indices], np.ones((row.nnz, 1))])
        scale = row.nnz if weighted else 1
        reg = np.diag([l2 * scale] * k + [l2_bias * scale])
        out[r] = np.linalg.solve(Z.T @ Z + reg, Z.T @ (row.data - mu - bi[row.indices]))
    return out[:, :k], out[:, k]


@pytest.mark.parametrize(("solver", "weighted"), [("sgd", True), ("als", False),
                                                  ("als", True)])
def test_transform_is_the_regularised_least_squares_solve(solver, weighted):
    X = random_ratings(60, 40, 0.3, seed=None)
    model = MatrixFactorization(5, solver=solver, epochs=2, l2=0.3, l2_bias=0.05,
                                weighted_l2=weighted and solver == "als", random_state=0,
                                dtype=np.float64).fit(X)
    new = X[:6].tolil()
    new[2, :] = 0
    new = new.tocsr()
    new.eliminate_zeros()
    factors, bias = model.transform(new)
    want_f, want_b = _dense_fold_in(new, model.item_factors_, model.item_bias_,
                                    model.global_bias_, 0.3, 0.05, weighted)
    np.testing.assert_allclose(factors, want_f, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(bias, want_b, rtol=1e-8, atol=1e-10)
    assert not factors[2].any() and bias[2] == 0


def test_transform_recovers_a_known_user():
    X = random_ratings(60, 40, 0.3, seed=None)
    model = MatrixFactorization(4, solver="als", epochs=2, l2=1e-9, l2_bias=1e-9,
                                weighted_l2=False, random_state=0, dtype=np.float64).fit(X)
    rng = np.random.default_rng()
    p, b = rng.normal(size=4), 0.7
    y = model.global_bias_ + b + model.item_bias_ + model.item_factors_ @ p
    factors, bias = model.transform(sp.csr_matrix(y))
    np.testing.assert_allclose(factors[0], p, atol=1e-6)
    assert bias[0] == pytest.approx(b, abs=1e-6)


def test_transform_logistic_reaches_the_optimum():
    X = random_ratings(80, 50, 0.3, seed=None, binary=True)
    model = MatrixFactorization(4, loss="logistic", epochs=3, learning_rate=0.05, l2=0.2,
                                random_state=0, dtype=np.float64).fit(X)
    new = X[:5]
    factors, bias = model.transform(new)
    Q, bi, mu = model.item_factors_, model.item_bias_, model.global_bias_
    for r in range(5):
        row = new[r]
        Z = np.hstack([Q[row.indices], np.ones((row.nnz, 1))])
        w = np.append(factors[r], bias[r])
        s = mu + bi[row.indices] + Z @ w
        penalty = 0.2 * row.nnz          # SGD's per-rating penalty
        grad = Z.T @ (1 / (1 + np.exp(-s)) - row.data) + penalty * w
        np.testing.assert_allclose(grad, 0.0, atol=1e-8)


def test_transform_implicit_uses_the_gram_form():
    X = random_ratings(50, 30, 0.3, seed=None)
    X.data[:] = 1.0
    model = MatrixFactorization(3, solver="als", feedback="implicit", alpha=2.0, l2=0.5,
                                weighted_l2=False, epochs=2, random_state=0,
                                dtype=np.float64).fit(X)
    factors, _ = model.transform(X[:4])
    Y = model.item_factors_
    for r in range(4):
        c = np.ones(30)
        pref = np.zeros(30)
        c[X[r].indices] += 2.0
        pref[X[r].indices] = 1.0
        A = Y.T @ (c[:, None] * Y) + 0.5 * np.eye(3)
        np.testing.assert_allclose(factors[r], np.linalg.solve(A, Y.T @ (c * pref)),
                                   rtol=1e-8)


def test_transform_of_rows_without_ratings_gives_zeros(ratings):
    """Rows with no ratings get zero factors and bias (the docstring's promise), also
    when no row has any rating."""
    model = MatrixFactorization(4, epochs=2, random_state=0).fit(ratings)
    factors, bias = model.transform(sp.csr_matrix((3, ratings.shape[1])))
    assert factors.shape == (3, 4) and bias.shape == (3,)
    assert not factors.any() and not bias.any()
    empty = (np.array([], dtype=int), np.array([], dtype=int), np.array([]))
    factors, bias = model.transform(empty)
    assert factors.shape == (0, 4) and bias.shape == (0,)


def test_recommend_for_new_users_without_ratings_ranks_by_bias(ratings):
    model = MatrixFactorization(4, epochs=2, random_state=0).fit(ratings)
    ids, scores = model.recommend(new_users=sp.csr_matrix((2, ratings.shape[1])), n=5)
    order = np.argsort(-model.item_bias_, kind="stable")[:5]
    np.testing.assert_array_equal(ids, np.tile(order, (2, 1)))
    np.testing.assert_allclose(scores[0], model.global_bias_ + model.item_bias_[order],
                               rtol=1e-6)


def test_recommend_caps_n_at_the_number_of_items(ratings):
    """n=10**8 used to allocate rows of 10**8 ids and scores (1.5 GiB for one user)."""
    model = MatrixFactorization(4, epochs=1, random_state=0).fit(ratings)
    n_items = ratings.shape[1]
    ids, scores = model.recommend([0, 1], n=10**8)
    assert ids.shape == scores.shape == (2, n_items)
    np.testing.assert_array_equal(ids, model.recommend([0, 1], n=n_items)[0])
    assert model.similar_items([0], n=10**12)[0].shape == (1, n_items)


def test_ctrl_c_lands_between_kernel_calls_of_a_long_recommend(ratings, monkeypatch):
    """The whole request was one uninterruptible kernel call (a Ctrl-C during a 10-second
    recommend landed about 6 s late); now it is cut into calls of bounded work."""
    import signal

    from fastmf import _dispatch, _topk

    X = random_ratings(40, 300, 0.1, seed=None)
    model = MatrixFactorization(8, epochs=1, random_state=0, num_threads=1).fit(X)
    users = np.arange(40).repeat(50)                   # 2000 query rows
    expected = model.recommend(users, n=7)
    tile = _topk.tile_sizes(8, model.user_factors_.dtype.itemsize)[0]   # 16 to 512 rows
    monkeypatch.setattr(_topk, "_CALL_WORK", tile * 300 * 9)              # a tile a call
    module = _dispatch.kernel("topk")                  # the build the driver calls
    kernel, rows = module.topk, []

    def counting(queries, *args):
        rows.append(queries.shape[0])
        return kernel(queries, *args)

    monkeypatch.setattr(module, "topk", counting)
    got = model.recommend(users, n=7)
    for a, b in zip(got, expected, strict=True):       # bit-identical to one call
        np.testing.assert_array_equal(a, b)
    assert sum(rows) == 2000 and max(rows) <= tile and len(rows) > 1
    assert all(r == tile for r in rows[:-1])           # calls start at whole row tiles

    def interrupted(queries, *args):
        rows.append(queries.shape[0])
        status = kernel(queries, *args)
        signal.raise_signal(signal.SIGINT)             # Ctrl-C during this call
        return status

    rows.clear()
    monkeypatch.setattr(module, "topk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.recommend(users, n=7)
    assert rows == [tile]                              # it stopped after the first call
