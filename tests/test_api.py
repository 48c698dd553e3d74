"""The estimator follows scikit-learn conventions and predicts what the model says."""

import copy
import io
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings
from fastmf._kernels import _parallel

import fastmf
from fastmf import MatrixFactorization, reference
from fastmf._threads import WORK_PER_THREAD, effective_n_threads, threads_for


def test_get_set_params_and_repr():
    model = MatrixFactorization(16, learning_rate=0.05, random_state=3)
    params = model.get_params()
    assert params["factors"] == 16 and params["learning_rate"] == 0.05
    assert params["random_state"] == 3 and params["solver"] == "sgd"
    assert model.set_params(epochs=7, l2=0.1) is model
    assert model.epochs == 7 and model.l2 == 0.1
    with pytest.raises(ValueError, match="invalid parameter 'rank'"):
        model.set_params(rank=4)
    assert repr(model) == (
        "MatrixFactorization(factors=16, epochs=7, learning_rate=0.05, l2=0.1, random_state=3)"
    )


def test_fit_returns_self_and_sets_attributes(ratings):
    model = MatrixFactorization(5, epochs=3, random_state=0)
    assert model.fit(ratings) is model
    n_users, n_items = ratings.shape
    assert model.user_factors_.shape == (n_users, 5)
    assert model.item_factors_.shape == (n_items, 5)
    assert model.user_bias_.shape == (n_users,) and model.item_bias_.shape == (n_items,)
    assert model.global_bias_ == pytest.approx(ratings.data.mean(), rel=1e-6)
    assert len(model.training_loss_) == 3
    assert model.n_threads_ >= 1


def test_sklearn_clone():
    base = pytest.importorskip("sklearn.base")
    model = MatrixFactorization(8, loss="logistic", random_state=1)
    clone = base.clone(model)
    assert clone is not model and clone.get_params() == model.get_params()


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_pickle_and_deepcopy_round_trip(loss):
    X = random_ratings(seed=None, binary=loss == "logistic")
    model = MatrixFactorization(4, loss=loss, epochs=3, random_state=0).fit(X)
    u, i = X.nonzero()
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        np.testing.assert_array_equal(other.predict(u, i), model.predict(u, i))
        assert other.get_params() == model.get_params()


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_matches_reference(loss, dtype):
    X = random_ratings(seed=None, binary=loss == "logistic")
    model = MatrixFactorization(6, loss=loss, epochs=3, dtype=dtype, random_state=0).fit(X)
    rng = np.random.default_rng()
    u = rng.integers(0, X.shape[0], 500)
    i = rng.integers(0, X.shape[1], 500)
    args = (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_,
            model.global_bias_)
    got = model.predict(u, i)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, reference.predict(u, i, *args, loss=loss), rtol=tol)
    np.testing.assert_allclose(model.decision_function(u, i),
                               reference.predict(u, i, *args, loss=loss, raw=True),
                               rtol=tol, atol=tol)
    if loss == "logistic":
        assert np.all((got > 0) & (got < 1))


def test_predict_accepts_lists_and_empty():
    model = MatrixFactorization(3, epochs=1, random_state=0).fit(random_ratings(seed=0))
    assert model.predict([], []).shape == (0,)
    assert model.predict([0, 1], [2, 3]).shape == (2,)
    assert model.predict(np.array([0, 1], np.int32), np.array([2, 3], np.uint16)).shape == (2,)


def test_unrated_users_and_items_get_bias_only_predictions():
    X = random_ratings(30, 20, 0.4, seed=None).tolil()
    X[5, :] = 0
    X[:, 7] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    model = MatrixFactorization(4, epochs=5, random_state=0).fit(X)
    assert not model.user_factors_[5].any() and model.user_bias_[5] == 0
    assert not model.item_factors_[7].any() and model.item_bias_[7] == 0
    items = np.arange(20)
    np.testing.assert_allclose(model.predict(np.full(20, 5), items),
                               model.global_bias_ + model.item_bias_, rtol=1e-6)


def test_explicit_zeros_are_ratings():
    rows, cols = np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 0, 2])
    vals = np.array([0.0, 4.0, 0.0, 5.0, 3.0])
    X = sp.csr_matrix((vals, (rows, cols)), shape=(3, 3))
    assert X.nnz == 5
    model = MatrixFactorization(2, epochs=1, random_state=0).fit(X)
    assert model.global_bias_ == pytest.approx(vals.mean())


def test_all_input_forms_give_the_same_model(ratings):
    coo = ratings.tocoo()
    kw = dict(factors=4, epochs=3, random_state=9, dtype=np.float64)
    want = MatrixFactorization(**kw).fit(ratings)
    for X in (ratings.tocsc(), coo, ratings.todok(), (coo.row, coo.col, coo.data),
              sp.csr_array(ratings)):
        got = MatrixFactorization(**kw).fit(X)
        np.testing.assert_array_equal(got.user_factors_, want.user_factors_)
        np.testing.assert_array_equal(got.item_bias_, want.item_bias_)


def test_zero_epochs_keeps_initial_parameters(ratings):
    model = MatrixFactorization(4, epochs=0, random_state=2, init_scale=0.5).fit(ratings)
    assert model.training_loss_ == []
    assert 0.3 < model.user_factors_[ratings.getnnz(axis=1) > 0].std() < 0.7
    assert not model.user_bias_.any()


def test_no_biases_means_pure_dot_product(ratings):
    model = MatrixFactorization(4, epochs=3, biases=False, clip=False,
                                random_state=0).fit(ratings)
    assert model.global_bias_ == 0 and not model.user_bias_.any() and not model.item_bias_.any()
    u, i = ratings.nonzero()
    expected = np.einsum("ij,ij->i", model.user_factors_[u], model.item_factors_[i])
    np.testing.assert_allclose(model.predict(u, i), expected, rtol=1e-5, atol=1e-6)


def test_show_config_reports_openmp():
    out = io.StringIO()
    info = fastmf.show_config(file=out)
    assert info["openmp"] == _parallel.openmp_enabled()
    assert "openmp" in out.getvalue()
    assert info["default_threads"] >= 1


def test_get_include_holds_pxd_files():
    from pathlib import Path

    folder = Path(fastmf.get_include())
    assert (folder / "_vec.pxd").exists() and (folder / "fastmf_vec.h").exists()


def test_effective_threads_rules():
    procs = _parallel.num_procs()
    if not _parallel.openmp_enabled():
        assert effective_n_threads(4) == 1
        return
    assert effective_n_threads(3) == 3
    assert effective_n_threads(-1) == procs
    assert effective_n_threads(-procs - 5) == 1
    assert effective_n_threads(None) == _parallel.max_threads()
    with pytest.raises(ValueError):
        effective_n_threads(0)
    with pytest.raises(TypeError):
        effective_n_threads(True)


def test_small_calls_run_on_fewer_threads():
    assert threads_for(8, 0) == 1
    assert threads_for(8, WORK_PER_THREAD - 1) == 1
    assert threads_for(8, 3 * WORK_PER_THREAD) == 3
    assert threads_for(2, 100 * WORK_PER_THREAD) == 2


def test_single_threaded_blas_limits_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastmf._threads import single_threaded_blas

    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]

    before = blas_threads()
    with single_threaded_blas(), single_threaded_blas():     # nests
        assert blas_threads() and set(blas_threads()) == {1}
    assert blas_threads() == before


def test_threads_reach_the_kernels():
    if not _parallel.openmp_enabled():
        pytest.skip("serial build")
    assert _parallel.threads_used(1) == 1
    assert _parallel.threads_used(2) == 2


def test_threadpoolctl_limits_default_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _parallel.openmp_enabled():
        pytest.skip("serial build")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert effective_n_threads(None) == 1


def test_fitted_arrays_are_read_only_and_assignable_whole(ratings):
    model = MatrixFactorization(4, epochs=1, random_state=0).fit(ratings)
    with pytest.raises(ValueError, match="read-only"):
        model.user_factors_[0, 0] = 1.0
    new = np.ones_like(model.user_factors_)
    model.user_factors_ = new
    new[0, 0] = 5.0                          # the model keeps its own copy
    assert (model.user_factors_ == 1.0).all()
    u, i = ratings.nonzero()
    expected = (model.global_bias_ + model.user_bias_[u] + model.item_bias_[i]
                + model.item_factors_[i].sum(axis=1))
    np.testing.assert_allclose(model.predict(u, i), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="bias lengths"):
        model.user_bias_ = np.zeros(3)
    with pytest.raises(AttributeError, match="not fitted"):
        MatrixFactorization().user_factors_ = new
