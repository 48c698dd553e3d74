"""Unknown ids follow one policy (bias fallback or an error), explicit predictions are
clipped, and recommend(exclude=) takes the full matrix, the requested users' rows or
ratings by id, also after partial_fit grew the model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

import fastmf
from fastmf import MatrixFactorization


@pytest.fixture
def model(ratings):
    return MatrixFactorization(4, epochs=5, random_state=0, dtype=np.float64).fit(ratings)


def test_unknown_users_and_items_get_the_bias_only_prediction(model, ratings):
    """An unknown user raised where Surprise falls back to the baseline estimate."""
    n_users, n_items = ratings.shape
    mu, bu, bi = model.global_bias_, model.user_bias_, model.item_bias_
    raw = model.decision_function([n_users, 3, n_users + 7, 2], [4, n_items, n_items, 1])
    np.testing.assert_allclose(raw[:3], [mu + bi[4], mu + bu[3], mu], rtol=1e-12)
    assert raw[3] == model.decision_function([2], [1])[0]
    pred = model.predict([n_users], [4])
    np.testing.assert_allclose(pred, np.clip(mu + bi[4], 1, 5))
    strict = model.set_params(unknown="raise")
    with pytest.raises(ValueError, match=f"users contains index {n_users}, which the "
                                         "model does not know"):
        strict.predict([n_users], [4])
    with pytest.raises(ValueError, match="unknown"):
        MatrixFactorization(unknown="ignore").fit(ratings)


def test_unknown_ids_in_the_other_methods(model, ratings):
    n_users, n_items = ratings.shape
    ids, scores = model.recommend([n_users], n=5)                 # ranked by item bias
    order = np.argsort(-model.item_bias_, kind="stable")[:5]
    np.testing.assert_array_equal(ids[0], order)
    np.testing.assert_allclose(scores[0], model.global_bias_ + model.item_bias_[order])
    ids, sims = model.similar_items([n_items, 0], n=3)
    assert (ids[0] == -1).all() and np.isneginf(sims[0]).all() and (ids[1] >= 0).all()
    new = ([0, 0, 0], [1, 2, n_items + 4], [5.0, 3.0, 4.0])      # one unknown item
    factors, _ = model.transform(new)
    np.testing.assert_array_equal(factors, model.transform(([0, 0], [1, 2], [5.0, 3.0]))[0])
    model.set_params(unknown="raise")
    for call in (lambda: model.recommend([n_users]), lambda: model.similar_items([n_items]),
                 lambda: model.transform(new)):
        with pytest.raises(ValueError, match="does not know"):
            call()


def test_predictions_are_clipped_to_the_training_range(tmp_path):
    """Predictions reached 0.02 to 5.99 on 1-5 data."""
    X = random_ratings(80, 60, 0.3, seed=1)
    X.data = np.round(X.data)                     # ratings 1..5
    model = MatrixFactorization(8, learning_rate=0.05, l2=0.0, epochs=40,
                                random_state=0).fit(X)
    u, i = np.divmod(np.arange(80 * 60), 60)
    raw = model.decision_function(u, i)
    assert raw.min() < 1 or raw.max() > 5          # the raw scores leave the scale
    pred = model.predict(u, i)
    np.testing.assert_allclose(pred, np.clip(raw, X.data.min(), X.data.max()))
    assert model.set_params(clip=False).predict(u, i).tolist() == raw.tolist()
    np.testing.assert_allclose(model.set_params(clip=(2, 4)).predict(u, i),
                               np.clip(raw, 2, 4))
    model.set_params(clip=True).save(tmp_path / "m.npz")
    np.testing.assert_array_equal(fastmf.load(tmp_path / "m.npz").predict(u, i), pred)
    with pytest.raises(TypeError, match="clip"):
        MatrixFactorization(clip="yes").fit(X)
    with pytest.raises(ValueError, match=r"clip\[1\]"):
        MatrixFactorization(clip=(5, 1)).fit(X)


def test_logistic_and_implicit_predictions_are_not_clipped(labels):
    model = MatrixFactorization(4, loss="logistic", epochs=3, random_state=0).fit(labels)
    p = model.predict([0, 1], [0, 1])
    assert ((p > 0) & (p < 1)).all()
    assert model.predict([0], [0]) == pytest.approx(
        1 / (1 + np.exp(-model.decision_function([0], [0]))))


def test_exclude_takes_the_full_matrix_the_users_rows_or_triples(model, ratings):
    """exclude demanded a full users x items matrix; implicit's users pass the
    requested users' own rows, and the README's tuple train raised."""
    users = np.array([5, 2, 9])
    want, _ = model.recommend(users, n=10, exclude=ratings)
    for seen in (ratings[users], ratings.tocoo(), ratings[users].tolil()):
        got, _ = model.recommend(users, n=10, exclude=seen)
        np.testing.assert_array_equal(got, want)
    coo = ratings.tocoo()
    got, _ = model.recommend(users, n=10, exclude=(coo.row, coo.col, coo.data))
    np.testing.assert_array_equal(got, want)
    got, _ = model.recommend(users, n=10, exclude=(coo.row, coo.col))
    np.testing.assert_array_equal(got, want)
    for row, u in zip(want, users, strict=True):
        assert not set(row.tolist()) & set(ratings[u].indices.tolist())


def test_exclude_keeps_working_after_partial_fit_grows_the_model(model, ratings):
    n_users, n_items = ratings.shape
    new = (np.array([n_users, n_users + 1]), np.array([n_items, 3]), np.array([4.0, 2.0]))
    model.partial_fit(new, epochs=1)
    assert model.user_factors_.shape[0] == n_users + 2
    users = np.array([1, n_users + 1])
    got, _ = model.recommend(users, n=10, exclude=ratings)          # the old matrix
    for row, u in zip(got, users, strict=True):
        rated = set(ratings[u].indices.tolist()) if u < n_users else set()
        assert not set(row.tolist()) & rated
    every, _ = model.recommend([1], n=n_items + 1, exclude=ratings)
    assert n_items in every[0]              # the new item is not excluded: no column
    with pytest.raises(ValueError, match="at most"):
        model.recommend(users, exclude=sp.csr_matrix((n_users + 3, n_items)))


def test_full_exclude_matrix_counts_stored_zeros_and_may_have_no_rows(model, ratings):
    """Only the requested users' rows of a full matrix are read; a stored zero is an
    entry to exclude, and a matrix without rows excludes nothing."""
    n_users, n_items = ratings.shape
    users = np.array([3, 0])
    top, _ = model.recommend(users, n=1)
    marked = ratings.tolil()
    marked[3, int(top[0, 0])] = 1.0
    marked = marked.tocsr()
    marked.data[marked.indices == int(top[0, 0])] = 0.0     # stored, value zero
    got, _ = model.recommend(users, n=n_items, exclude=marked)
    assert int(top[0, 0]) not in got[0].tolist()
    nothing, _ = model.recommend(users, n=n_items, exclude=sp.csr_matrix((0, n_items)))
    np.testing.assert_array_equal(nothing, model.recommend(users, n=n_items)[0])


def test_one_user_ratings_of_a_new_user_alias_the_full_matrix(model, ratings):
    """A matrix with as many rows as the model has users is read as the full matrix,
    whatever the number of requested users."""
    n_users = ratings.shape[0]
    users = np.arange(n_users)[::-1]
    by_full, _ = model.recommend(users, n=5, exclude=ratings)
    for row, u in zip(by_full, users, strict=True):
        assert not set(row.tolist()) & set(ratings[u].indices.tolist())
