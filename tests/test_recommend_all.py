"""recommend_all: every user's top n in batches, equal to recommend."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

from fastmf import MatrixFactorization
from fastmf import recommend as rec


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_equals_recommend_for_every_user(loss, batch_size):
    X = random_ratings(90, 70, 0.2, seed=None, binary=loss == "logistic")
    model = MatrixFactorization(6, loss=loss, epochs=3, random_state=0).fit(X)
    users = np.arange(X.shape[0])
    want = model.recommend(users, 8, exclude=X)
    got = model.recommend_all(8, exclude=X.tocoo(), batch_size=batch_size)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    plain = model.recommend_all(8, batch_size=batch_size)
    np.testing.assert_array_equal(plain[0], model.recommend(users, 8)[0])


def test_exclude_takes_the_forms_recommend_takes():
    """Ratings by id, and a matrix from before partial_fit grew the model, exclude the
    same items as in recommend."""
    X = random_ratings(40, 30, 0.3, seed=None)
    model = MatrixFactorization(4, epochs=2, random_state=0).fit(X)
    coo = X.tocoo()
    new = (np.array([40, 40]), np.array([0, 30]), np.array([4.0, 2.0]))   # a user, an item
    model.partial_fit(new, epochs=1)
    users = np.arange(41)
    want = model.recommend(users, 6, exclude=X)
    for exclude in (X, (coo.row, coo.col)):          # 40 x 30: the model is 41 x 31
        got = model.recommend_all(6, exclude=exclude, batch_size=8)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert not (model.recommend_all(6, exclude=X)[0][:40] == model.recommend_all(6)[0][:40]).all()


def test_a_raw_id_model_gives_item_rows():
    users = np.array(["a", "b", "b", "c"])
    items = np.array(["x", "x", "y", "z"])
    model = MatrixFactorization(1, epochs=2, random_state=0).fit(
        (users, items, np.array([5.0, 3.0, 4.0, 1.0])))
    ids, scores = model.recommend_all(2, exclude=(users, items))
    raw, raw_scores = model.recommend(model.user_ids_, n=2, exclude=(users, items))
    np.testing.assert_array_equal(np.where(ids >= 0, model.item_ids_[ids], ""), raw)
    np.testing.assert_array_equal(scores, raw_scores)


def test_writes_into_memory_mapped_output(tmp_path):
    X = random_ratings(60, 50, 0.2, seed=None)
    model = MatrixFactorization(4, epochs=2, random_state=1, dtype=np.float32).fit(X)
    ids = np.lib.format.open_memmap(tmp_path / "ids.npy", mode="w+", dtype=np.int64,
                                    shape=(60, 5))
    scores = np.lib.format.open_memmap(tmp_path / "scores.npy", mode="w+",
                                       dtype=np.float32, shape=(60, 5))
    got = model.recommend_all(5, exclude=X, batch_size=16, out=(ids, scores))
    assert got[0] is ids and got[1] is scores
    ids.flush()
    scores.flush()
    want = model.recommend(np.arange(60), 5, exclude=X)
    np.testing.assert_array_equal(np.load(tmp_path / "ids.npy"), want[0])
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), want[1])


def test_bad_arguments_raise_clear_errors():
    X = random_ratings(30, 20, 0.3, seed=0)
    model = MatrixFactorization(3, epochs=1, random_state=0, dtype=np.float64).fit(X)
    with pytest.raises(ValueError, match="out ids must have shape"):
        model.recommend_all(4, out=(np.empty((30, 3), np.int64), np.empty((30, 4))))
    with pytest.raises(ValueError, match="out scores must have shape .* dtype float64"):
        model.recommend_all(4, out=(np.empty((30, 4), np.int64),
                                    np.empty((30, 4), np.float32)))
    with pytest.raises(ValueError, match="C-contiguous"):
        model.recommend_all(4, out=(np.empty((4, 30), np.int64).T, np.empty((30, 4))))
    with pytest.raises(TypeError, match="tuple"):
        model.recommend_all(4, out=np.empty((30, 4)))
    with pytest.raises(ValueError, match="batch_size"):
        model.recommend_all(4, batch_size=0)
    with pytest.raises(ValueError, match="exclude has 31 rows: give the full users x items"):
        model.recommend_all(4, exclude=sp.csr_matrix((31, 20)))
    with pytest.raises(ValueError, match="it must have at most 20 columns"):
        model.recommend_all(4, exclude=sp.csr_matrix((30, 21)))
    with pytest.raises(ValueError, match="user_factors must have shape"):
        rec.recommend_all(np.zeros((5, 2)), model.item_factors_)


def test_caps_n_at_the_number_of_items_and_reports_overflow():
    X = random_ratings(30, 20, 0.3, seed=0)
    model = MatrixFactorization(3, epochs=1, random_state=0).fit(X)
    ids, scores = model.recommend_all(10**8, exclude=X)       # never 30 x 10**8 arrays
    assert ids.shape == scores.shape == (30, 20)
    want = model.recommend(np.arange(30), n=20, exclude=X)
    np.testing.assert_array_equal(ids, want[0])
    np.testing.assert_array_equal(scores, want[1])
    huge = np.full((4, 2), 1e30, dtype=np.float32)
    with pytest.raises(FloatingPointError, match="overflowed float32"):
        rec.recommend_all(huge, huge)
