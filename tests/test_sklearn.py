"""scikit-learn: tags, score, the searches with fastmf's splitters, and the common
estimator checks that apply to a model fitted on ratings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

from fastmf import MatrixFactorization
from fastmf.datasets import make_binary_ratings, make_ratings
from fastmf.metrics import ndcg_at_k, rmse, roc_auc
from fastmf.model_selection import KFold, per_user_split, train_test_split

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402
from sklearn.utils import get_tags  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

# The common checks feed estimators dense (n_samples, n_features) arrays of random
# floats, and expect one prediction per row.  fastmf fits ratings: a sparse users x
# items matrix, (users, items, values) triples or a DataFrame of (user, item, rating)
# rows.  A dense array is refused with a TypeError that says so, since a zero in it
# could be a rating or a missing one.  These checks cannot apply:
_DENSE = ("they fit a dense array of random features; fastmf fits ratings (sparse "
          "matrix, triples or DataFrame) and refuses a dense array with a TypeError")
_EXPECTED_FAILURES = {name: _DENSE for name in [
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_complex_data",
    "check_dtype_object", "check_estimators_empty_data_messages",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array",
    "check_transformer_general", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_n_features_in", "check_fit1d", "check_fit2d_predict1d",
]}
_EXPECTED_FAILURES.update({
    "check_estimators_unfitted": (
        "an unfitted model raises AttributeError ('not fitted yet: call fit(X) first'), "
        "not scikit-learn's NotFittedError class: scikit-learn is not a dependency "
        "(sklearn.utils.validation.check_is_fitted works, through __sklearn_is_fitted__)"),
    "check_estimator_sparse_array": (
        "predict takes (users, items) pairs, one prediction per pair: a sparse X is the "
        "users x items matrix itself, not rows of samples to predict one value each"),
    "check_estimator_sparse_matrix": (
        "predict takes (users, items) pairs, one prediction per pair: a sparse X is the "
        "users x items matrix itself, not rows of samples to predict one value each"),
})


@parametrize_with_checks([MatrixFactorization(2, epochs=2, random_state=0)],
                         expected_failed_checks=lambda est: _EXPECTED_FAILURES)
def test_common_checks(estimator, check):
    check(estimator)


def test_tags_and_clone():
    model = MatrixFactorization(8, solver="als", l2=0.1, unknown="raise", clip=(1, 5))
    tags = get_tags(model)
    assert tags.input_tags.sparse and tags.input_tags.string
    assert not tags.target_tags.required and tags.requires_fit
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()


def _frame(n_users=120, n_items=80, n=4_000, seed=0):
    users, items, ratings = make_ratings(n_users, n_items, n, seed=seed)
    return pd.DataFrame({"user": [f"u{u}" for u in users], "item": items,
                         "rating": ratings})


def test_grid_search_with_fastmf_kfold_on_a_dataframe():
    """GridSearchCV failed with AttributeError: '__sklearn_tags__'; there was no score
    and fit took no y."""
    df = _frame()
    search = GridSearchCV(MatrixFactorization(epochs=5, random_state=0),
                          {"factors": [2, 8], "l2": [0.02, 0.2]},
                          cv=KFold(n_splits=3, random_state=0))
    search.fit(df)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (4,) and np.isfinite(scores).all() and (scores < 0).all()
    best = search.best_estimator_
    assert best.user_ids_ is not None and best.get_params()["factors"] in (2, 8)
    # a test fold's score is minus the RMSE of the predictions of its rows
    (train_pos, test_pos), *_ = KFold(n_splits=3, random_state=0).split(df)
    model = clone(best).fit(df.iloc[train_pos])
    test = df.iloc[test_pos]
    pred = model.predict(test["user"].to_numpy(), test["item"].to_numpy())
    assert model.score(test) == pytest.approx(-rmse(test["rating"], pred))


def test_randomized_search():
    df = _frame(seed=1)
    search = RandomizedSearchCV(
        MatrixFactorization(epochs=3, random_state=0),
        {"factors": [2, 4, 8], "learning_rate": [0.005, 0.01, 0.02]}, n_iter=3,
        cv=KFold(n_splits=2, random_state=0), random_state=0)
    search.fit(df)
    assert len(search.cv_results_["params"]) == 3
    assert np.isfinite(search.best_score_)


def test_score_explicit_is_minus_rmse_of_clipped_predictions():
    train, test = train_test_split(make_ratings(300, 200, 9_000, seed=2), random_state=0)
    model = MatrixFactorization(8, random_state=0).fit(train)
    pred = np.clip(model.decision_function(test[0], test[1]), 1, 5)
    assert model.score(test, None) == pytest.approx(-rmse(test[2], pred), rel=1e-6)
    matrix = sp.csr_matrix((test[2], (test[0], test[1])), shape=test.shape)
    coo = matrix.tocoo()
    assert model.score(matrix) == pytest.approx(
        -rmse(coo.data, model.predict(coo.row, coo.col)), rel=1e-6)


def test_score_logistic_is_the_auc_of_the_labels():
    train, test = train_test_split(make_binary_ratings(300, 200, 9_000, seed=3),
                                   random_state=0)
    model = MatrixFactorization(8, loss="logistic", random_state=0).fit(train)
    assert model.score(test) == pytest.approx(
        roc_auc(test[2], model.predict(test[0], test[1])))


def test_score_implicit_ranks_with_the_training_items_left_out():
    X = random_ratings(80, 60, 0.2, seed=4)
    X.data[:] = 1.0
    train, test = per_user_split(X, test_size=0.3, random_state=0)
    model = MatrixFactorization(4, solver="als", feedback="implicit", epochs=3,
                                random_state=0).fit(train)
    assert model.score(test) == pytest.approx(ndcg_at_k(model, test=test, train=train,
                                                        k=10))
    assert model.score(test) != pytest.approx(ndcg_at_k(model, test=test, k=10))


def test_score_implicit_after_partial_fit_leaves_out_every_training_pair():
    """partial_fit adds its pairs to those of the fit, new users and items included;
    a stored zero is a pair the model trained on too."""
    X = random_ratings(80, 60, 0.2, seed=6)
    X.data[:] = 1.0
    train, test = per_user_split(X, test_size=0.3, random_state=1)
    coo = train.tocoo()
    old = (coo.row < 60) & (coo.col < 50)
    first = sp.csr_matrix((coo.data[old], (coo.row[old], coo.col[old])), shape=(60, 50))
    values = coo.data[~old].copy()
    values[::7] = 0.0                            # stored zeros: trained on, so seen
    second = sp.csr_matrix((values, (coo.row[~old], coo.col[~old])), shape=train.shape)
    assert second.nnz == (~old).sum() and (second.data == 0).any()
    model = MatrixFactorization(4, solver="als", feedback="implicit", epochs=3,
                                random_state=0).fit(first)
    model.partial_fit(second, epochs=2)
    assert model.user_factors_.shape[0] == 80 and model.item_factors_.shape[0] == 60
    assert model.score(test) == pytest.approx(ndcg_at_k(model, test=test, train=train,
                                                        k=10))


def test_fit_takes_and_ignores_y():
    X = random_ratings(30, 20, 0.3, seed=5)
    a = MatrixFactorization(3, epochs=2, random_state=0).fit(X, None)
    b = MatrixFactorization(3, epochs=2, random_state=0).fit(X, np.zeros(7))
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    c = MatrixFactorization(3, epochs=2, random_state=0).partial_fit(X, None)
    np.testing.assert_array_equal(a.user_factors_, c.user_factors_)
