"""Raw ids are first-class: a model fitted on a DataFrame, Interactions or string ids
keeps its id maps, saves them, grows them, and every method takes and returns raw ids
through ``raw_ids=``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import fastmf
from fastmf import MatrixFactorization
from fastmf.data import from_arrays
from fastmf.datasets import make_ratings

pd = pytest.importorskip("pandas")


def _frame(seed=0, n_users=60, n_items=40, n=1_500):
    users, items, ratings = make_ratings(n_users, n_items, n, seed=seed)
    return pd.DataFrame({"who": [f"user-{u}" for u in users],
                         "what": [f"item-{i}" for i in items], "stars": ratings,
                         "when": np.arange(n)})


def test_fit_on_a_dataframe_equals_the_fit_on_its_indices():
    """fit(DataFrame) was a TypeError."""
    df = _frame()
    model = MatrixFactorization(4, epochs=5, random_state=0).fit(df)   # first 3 columns
    users = np.unique(df["who"])
    items = np.unique(df["what"])
    np.testing.assert_array_equal(model.user_ids_, users)
    np.testing.assert_array_equal(model.item_ids_, items)
    index = (np.searchsorted(users, df["who"]), np.searchsorted(items, df["what"]),
             df["stars"].to_numpy())
    plain = MatrixFactorization(4, epochs=5, random_state=0).fit(index)
    np.testing.assert_array_equal(model.user_factors_, plain.user_factors_)
    assert plain.user_ids_ is None
    np.testing.assert_array_equal(
        model.predict(df["who"][:5], df["what"][:5]),
        plain.predict(index[0][:5], index[1][:5]))


def test_columns_name_the_dataframe_columns():
    df = _frame()[["when", "stars", "what", "who"]]
    model = MatrixFactorization(4, epochs=2, random_state=0,
                                columns=("who", "what", "stars")).fit(df)
    assert model.user_ids_[0] == "user-0"
    implicit = MatrixFactorization(4, solver="als", feedback="implicit", epochs=2,
                                   columns=("who", "what")).fit(df)     # values 1
    assert implicit.item_ids_[0] == "item-0"
    with pytest.raises(ValueError, match="column 'nope' is not in the DataFrame"):
        MatrixFactorization(columns=("who", "nope")).fit(df)
    with pytest.raises(ValueError, match="columns must be None or the names"):
        MatrixFactorization(columns="who").fit(df)


def test_interactions_and_string_triples_keep_their_ids():
    data = from_arrays([10, 30, 10, 20], [7, 7, 9, 9], [4.0, 2.0, 5.0, 3.0])
    model = MatrixFactorization(1, epochs=3, random_state=0).fit(data)
    np.testing.assert_array_equal(model.user_ids_, [10, 20, 30])
    assert model.predict([30], [7]).shape == (1,)
    by_string = MatrixFactorization(1, epochs=3, random_state=0).fit(
        (["b", "a", "b"], ["x", "x", "y"], [1.0, 2.0, 3.0]))
    assert by_string.user_ids_.tolist() == ["a", "b"]


def test_raw_ids_argument_on_every_method():
    df = _frame()
    model = MatrixFactorization(4, epochs=5, random_state=0).fit(df)
    u, i = model.user_ids_, model.item_ids_
    np.testing.assert_array_equal(model.predict(u[[3, 5]], i[[1, 2]]),
                                  model.predict([3, 5], [1, 2], raw_ids=False))
    np.testing.assert_array_equal(model.decision_function(u[[3]], i[[1]]),
                                  model.decision_function([3], [1], raw_ids=False))
    raw, scores = model.recommend(u[[3]], n=4)
    rows, same = model.recommend([3], n=4, raw_ids=False)
    np.testing.assert_array_equal(raw, i[rows])
    np.testing.assert_array_equal(scores, same)
    raw, sims = model.similar_items(i[[2]], n=3)
    np.testing.assert_array_equal(raw, i[model.similar_items([2], n=3, raw_ids=False)[0]])
    raw, _ = model.similar_users(u[[2]], n=3)
    assert str(raw[0, 0]).startswith("user-")
    new = pd.DataFrame({"who": ["newbie"] * 2, "what": i[[0, 1]], "stars": [5.0, 1.0]})
    factors, bias = model.transform(new)
    index_rows = sp.csr_matrix(([5.0, 1.0], ([0, 0], [0, 1])), shape=(1, len(i)))
    np.testing.assert_allclose(factors, model.transform(index_rows)[0], rtol=1e-6)
    ids, _ = model.recommend(new_users=new, n=3)
    assert not set(ids[0].tolist()) & set(i[[0, 1]].tolist())      # rated: excluded
    with pytest.raises(TypeError, match="raw_ids=False"):
        model.predict([3], [1])                    # integers to a string-id model
    plain = MatrixFactorization(2, epochs=1).fit(sp.random(5, 4, 0.5, format="csr"))
    with pytest.raises(ValueError, match="fitted on row indices"):
        plain.predict([0], [0], raw_ids=True)


def test_ids_survive_save_load_and_grow_with_partial_fit(tmp_path):
    df = _frame(n_users=30, n_items=20, n=300)
    model = MatrixFactorization(3, epochs=3, random_state=0).fit(df)
    model.save(tmp_path / "m.npz")
    loaded = fastmf.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.user_ids_, model.user_ids_)
    np.testing.assert_array_equal(loaded.predict(["user-1"], ["item-2"]),
                                  model.predict(["user-1"], ["item-2"]))
    before = model.predict(["user-1"], ["item-2"])
    more = pd.DataFrame({"who": ["aaa-new", "user-1"], "what": ["item-2", "zzz-new"],
                         "stars": [4.0, 2.0]})
    model.partial_fit(more, epochs=1)
    # new ids come after the known ones, which keep their rows
    assert model.user_ids_[-1] == "aaa-new" and model.item_ids_[-1] == "zzz-new"
    assert model.user_factors_.shape[0] == len(model.user_ids_) == 31
    assert model.predict(["aaa-new"], ["zzz-new"]).shape == (1,)
    assert model.predict(["user-1"], ["item-2"]) != pytest.approx(before, abs=0)
    model.save(tmp_path / "grown.npz")              # ids no longer sorted: still valid
    grown = fastmf.load(tmp_path / "grown.npz")
    np.testing.assert_array_equal(grown.user_ids_, model.user_ids_)
    np.testing.assert_array_equal(grown.predict(["aaa-new"], ["item-2"]),
                                  model.predict(["aaa-new"], ["item-2"]))
    with pytest.raises(ValueError, match="give its ratings with raw ids too"):
        model.partial_fit(sp.random(31, 21, 0.3, format="csr"))
    index_model = MatrixFactorization(3, epochs=1).fit(sp.random(5, 4, 0.5, format="csr"))
    with pytest.raises(ValueError, match="fitted on row indices"):
        index_model.partial_fit(more)


def test_validation_data_by_raw_id():
    df = _frame()
    train, val = df.iloc[:1200], df.iloc[1200:]
    model = MatrixFactorization(4, epochs=3, random_state=0).fit(train, validation=val)
    assert len(model.history_["val_rmse"]) == 3
    assert model.history_["val_rmse"][-1] == pytest.approx(-model.score(val), rel=1e-6)
