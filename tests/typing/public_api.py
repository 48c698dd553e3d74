"""Code written against fastmf's public API, as a user would: ``mypy`` (``--strict``,
see ``[tool.mypy]``) must accept it and infer the types asserted here.

It is type-checked only, never run: pytest does not collect this folder (no ``test_``
prefix).  An annotation that drifts from what the API returns, or a public function
that loses its annotations, makes the ``types`` CI job fail.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

import fastmf
from fastmf import metrics, model_selection, recommend
from fastmf.data import IdMap, Interactions, from_arrays
from fastmf.datasets import load_movielens, make_binary_ratings, make_ratings, train_test_split

if TYPE_CHECKING:
    from typing_extensions import assert_type
else:
    def assert_type(value: object, _type: object) -> object:
        return value

Floats = NDArray[np.floating[Any]]
Ids = np.ndarray[tuple[int, int], np.dtype[np.int64]]
# a model's ids: row indices (int64), or raw ids of any dtype (raw_ids=)
ModelIds = np.ndarray[tuple[Any, ...], np.dtype[Any]]


def fit_and_serve() -> None:
    users, items, ratings = make_ratings(100, 50, 1_000, seed=0)
    train, test = train_test_split(users, items, ratings, test_size=0.2, seed=0)
    model = fastmf.MatrixFactorization(8, solver="als", l2=0.1, random_state=0,
                                       dtype=np.float64)
    assert_type(model.fit(train), fastmf.MatrixFactorization)
    assert_type(model.fit(train, validation=test,
                          callback=lambda epoch, m, metrics: epoch < 3),
                fastmf.MatrixFactorization)
    assert_type(model.partial_fit(test, epochs=2), fastmf.MatrixFactorization)
    assert_type(model.predict(test[0], test[1]), Floats)
    assert_type(model.decision_function([0, 1], [2, 3]), Floats)
    ids, scores = model.recommend([0, 1], n=5, exclude=test, raw_ids=False)
    assert_type(ids, ModelIds)
    assert_type(scores, Floats)
    assert_type(model.similar_items([3], n=2), tuple[ModelIds, Floats])
    assert_type(model.similar_users(np.arange(3), n=2), tuple[ModelIds, Floats])
    assert_type(model.score(test), float)
    assert_type(model.transform(test), tuple[Floats, Floats])
    assert_type(model.get_params(), dict[str, Any])
    assert_type(model.set_params(epochs=3), fastmf.MatrixFactorization)
    model.save("model.npz")
    assert_type(fastmf.load("model.npz"), fastmf.MatrixFactorization)
    assert_type(fastmf.show_config(file=io.StringIO()), dict[str, Any])
    assert_type(fastmf.get_include(), str)
    assert_type(fastmf.__version__, str)


def evaluate(model: fastmf.MatrixFactorization) -> None:
    labels = make_binary_ratings(100, 50, 1_000, seed=0)
    data = from_arrays(labels[0], labels[1], labels[2])
    assert_type(data, Interactions)
    assert_type(data.users, IdMap)
    assert_type(data.users.get(3), int | None)
    assert_type(data.users.get(3, -1), int)
    train, test = model_selection.per_user_split(data.matrix, test_size=0.2, random_state=0)
    assert_type(metrics.precision_at_k(model, test=test, k=10, train=train), float)
    assert_type(metrics.ndcg_at_k(model, test=test), float)
    assert_type(metrics.roc_auc_per_user(model, test=test, train=train), float)
    assert_type(metrics.rmse([1.0, 2.0], [1.5, 2.0]), float)
    assert_type(metrics.roc_auc(labels[2], model.decision_function(labels[0], labels[1])),
                float)
    folds = model_selection.KFold(n_splits=3, random_state=0).folds(data.matrix)
    assert_type(folds, Iterator[tuple[Any, Any]])
    positions = model_selection.KFold(n_splits=3, random_state=0).split(data.matrix)
    assert_type(positions, Iterator[tuple[np.ndarray, np.ndarray]])
    ids, _ = recommend.recommend(model.user_factors_, model.item_factors_, n=3)
    assert_type(ids, Ids)


def load(path: str) -> None:
    users, items, ratings, user_ids, item_ids = load_movielens(path)
    assert_type(users, np.ndarray)
    fig = fastmf.plot_history(fastmf.load(path))
    fig.savefig("history.png")
