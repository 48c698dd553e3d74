"""The ALS kernel against the NumPy reference, and ALS's behaviour as a solver."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings
from fastmf._kernels import als as kernel

from fastmf import ALSError, MatrixFactorization, _dispatch, reference
from fastmf import _als as driver
from fastmf._threads import single_threaded_blas
from fastmf._validation import check_ratings

MODEL_LOSS = {"explicit": "squared", "implicit": "squared", "logistic": "logistic"}


def _setup(X, model, k=5, dtype=np.float64, seed=None):
    data = check_ratings(X, np.dtype(dtype), loss=MODEL_LOSS[model])
    rng = np.random.default_rng(seed)
    params = [
        rng.normal(0, 0.3, size=(data.n_users, k)).astype(dtype),
        rng.normal(0, 0.3, size=(data.n_items, k)).astype(dtype),
        rng.normal(0, 0.1, size=data.n_users).astype(dtype),
        rng.normal(0, 0.1, size=data.n_items).astype(dtype),
    ]
    if model == "implicit":
        params[2][:] = 0
        params[3][:] = 0
    return data, driver.prepare(data, model), params


def _cfg(model, linear_solver="cholesky", cg_steps=3, newton_steps=1, l2=0.1,
         l2_bias=0.05, weighted_l2=False, biases=True, alpha=2.0):
    return driver.ALSConfig(model=model, linear_solver=linear_solver, cg_steps=cg_steps,
                            newton_steps=newton_steps, l2=l2, l2_bias=l2_bias,
                            weighted_l2=weighted_l2, biases=biases and model != "implicit",
                            alpha=alpha)


def _kernel_half(csr, X, xb, Y, yb, cfg, mu=0.4, threads=1, want_loss=False):
    with single_threaded_blas():
        return driver.half_sweep(csr, X, xb, Y, yb, cfg, global_bias=mu, n_threads=threads,
                                 want_loss=want_loss)


def _reference_half(csr, X, xb, Y, yb, cfg, mu=0.4):
    reference.als_half_sweep(csr, X, xb, Y, yb, model=cfg.model, global_bias=mu, l2=cfg.l2,
                             l2_bias=cfg.l2_bias, weighted_l2=cfg.weighted_l2,
                             biases=cfg.biases, alpha=cfg.alpha,
                             newton_steps=cfg.newton_steps)


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("explicit", {}),
        ("explicit", {"biases": False}),
        ("explicit", {"weighted_l2": True}),
        ("explicit", {"l2": 0.0, "l2_bias": 0.0}),   # full-rank rows solve without penalty
        ("implicit", {}),
        ("implicit", {"alpha": 15.0, "weighted_l2": True}),
        ("logistic", {}),
        ("logistic", {"newton_steps": 3, "biases": False}),
    ],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_half_sweep_matches_reference(model, options, threads):
    if options.get("l2", 1) == 0.0:
        X = random_ratings(30, 40, 0.9, seed=None, binary=False)      # every row is full rank
    else:
        X = random_ratings(50, 40, 0.3, seed=None, binary=model == "logistic")
    _, csrs, (P, Q, bu, bi) = _setup(X, model)
    cfg = _cfg(model, **options)
    for csr, (A, ab, B, bb) in ((csrs.by_user, (P, bu, Q, bi)), (csrs.by_item, (Q, bi, P, bu))):
        ref_A, ref_ab = A.copy(), ab.copy()
        _reference_half(csr, ref_A, ref_ab, B, bb, cfg)
        _kernel_half(csr, A, ab, B, bb, cfg, threads=threads)
        np.testing.assert_allclose(A, ref_A, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(ab, ref_ab, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("model", ["explicit", "implicit", "logistic"])
def test_cg_converges_to_cholesky(model):
    X = random_ratings(40, 30, 0.4, seed=None, binary=model == "logistic")
    _, csrs, (P, Q, bu, bi) = _setup(X, model)
    exact, exact_b = P.copy(), bu.copy()
    _kernel_half(csrs.by_user, exact, exact_b, Q, bi, _cfg(model))
    errors = []
    for steps in (1, 2, 4, 30):
        got, got_b = P.copy(), bu.copy()
        _kernel_half(csrs.by_user, got, got_b, Q, bi, _cfg(model, "cg", cg_steps=steps))
        errors.append(np.abs(got - exact).max() + np.abs(got_b - exact_b).max())
    assert errors[0] > errors[2]           # more steps, closer to the exact solve
    assert errors[-1] < 1e-8 * max(1.0, np.abs(exact).max())


def test_implicit_equals_dense_weighted_least_squares():
    """Each user's factors minimise sum over *all* items c (p - x.y)^2 + l2 |x|^2."""
    rng = np.random.default_rng()
    n_users, n_items, k, alpha, l2 = 7, 6, 3, 4.0, 0.3
    counts = rng.poisson(1.0, size=(n_users, n_items)) * (rng.random((n_users, n_items)) < 0.5)
    counts[0] = 0                                   # a user with no interactions
    X = sp.csr_matrix(counts.astype(float))
    X.eliminate_zeros()
    _, csrs, (P, Q, _, _) = _setup(X, "implicit", k=k)
    zeros_u, zeros_i = np.zeros(n_users), np.zeros(n_items)
    _kernel_half(csrs.by_user, P, zeros_u, Q, zeros_i, _cfg("implicit", l2=l2, alpha=alpha))
    conf = 1.0 + alpha * counts
    pref = (counts > 0).astype(float)
    for u in range(n_users):
        # min |sqrt(c) (p - Q x)|^2 + l2 |x|^2 as one stacked least-squares problem
        lhs = np.vstack([np.sqrt(conf[u])[:, None] * Q, np.sqrt(l2) * np.eye(k)])
        rhs = np.concatenate([np.sqrt(conf[u]) * pref[u], np.zeros(k)])
        want = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
        np.testing.assert_allclose(P[u], want, rtol=1e-8, atol=1e-10)
    assert np.all(P[0] == 0)            # no interactions: zero factors


@pytest.mark.parametrize("weighted_l2", [False, True])
@pytest.mark.parametrize("linear_solver", ["cholesky", "cg"])
def test_explicit_objective_never_increases(weighted_l2, linear_solver):
    X = random_ratings(80, 60, 0.2, seed=None)
    data, csrs, (P, Q, bu, bi) = _setup(X, "explicit", k=4)
    cfg = _cfg("explicit", linear_solver, weighted_l2=weighted_l2, l2=0.5, l2_bias=0.1)
    mu = float(data.values.mean())
    kw = dict(model="explicit", global_bias=mu, l2=cfg.l2, l2_bias=cfg.l2_bias,
              weighted_l2=weighted_l2)
    values = [reference.als_objective(csrs.by_user, P, Q, bu, bi, **kw)]
    for _ in range(8):
        loss = driver.sweep(csrs, P, Q, bu, bi, cfg, global_bias=mu, n_threads=2)
        values.append(reference.als_objective(csrs.by_user, P, Q, bu, bi, **kw))
        # the reported loss is the data term of the objective, per rating
        residual = data.values - reference.predict(data.users, data.items, P, Q, bu, bi, mu)
        assert loss * data.nnz == pytest.approx(0.5 * np.sum(residual**2), rel=1e-9)
    diffs = np.diff(values)
    assert np.all(diffs <= 1e-9 * values[0])
    assert values[-1] < 0.7 * values[0]


def test_implicit_reported_loss_is_weighted_objective():
    X = random_ratings(30, 20, 0.3, seed=None)
    model = MatrixFactorization(4, solver="als", feedback="implicit", alpha=3.0, l2=0.2,
                                epochs=3, random_state=0, dtype=np.float64).fit(X)
    full = reference.als_objective(X.tocsr(), model.user_factors_, model.item_factors_,
                                   model.user_bias_, model.item_bias_, model="implicit",
                                   l2=0.0, alpha=3.0)
    assert model.training_loss_[-1] * X.nnz == pytest.approx(full, rel=1e-9)
    assert np.all(np.diff(model.training_loss_) < 0)


@pytest.mark.parametrize("feedback,loss", [("explicit", "squared"), ("implicit", "squared"),
                                           ("explicit", "logistic")])
def test_float32_agrees_with_float64(feedback, loss):
    X = random_ratings(120, 80, 0.2, seed=None, binary=loss == "logistic")
    kw = dict(factors=6, solver="als", feedback=feedback, loss=loss, epochs=5, l2=1.0,
              random_state=3, linear_solver="cholesky")
    m32 = MatrixFactorization(dtype=np.float32, **kw).fit(X)
    m64 = MatrixFactorization(dtype=np.float64, **kw).fit(X)
    assert m32.user_factors_.dtype == np.float32
    coo = X.tocoo()
    np.testing.assert_allclose(m32.decision_function(coo.row, coo.col),
                               m64.decision_function(coo.row, coo.col), rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(m32.training_loss_, m64.training_loss_, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"feedback": "implicit"},
        {"feedback": "implicit", "linear_solver": "cholesky"},
        {"loss": "logistic", "newton_steps": 2},
        {"linear_solver": "cg", "weighted_l2": True},
    ],
)
def test_thread_count_gives_bit_identical_factors(dtype, options):
    X = random_ratings(300, 200, 0.1, seed=None, binary=options.get("loss") == "logistic")
    kw = dict(factors=8, solver="als", epochs=3, l2=0.5, random_state=7, dtype=dtype,
              **options)
    one = MatrixFactorization(num_threads=1, **kw).fit(X)
    two = MatrixFactorization(num_threads=2, **kw).fit(X)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(one, name), getattr(two, name))
    assert one.training_loss_ == two.training_loss_
    other = MatrixFactorization(num_threads=1, **{**kw, "random_state": 8}).fit(X)
    assert not np.array_equal(one.item_factors_, other.item_factors_)


@pytest.mark.parametrize("feedback", ["explicit", "implicit"])
def test_empty_users_and_items(feedback):
    X = random_ratings(40, 30, 0.3, seed=None).tolil()
    X[5, :] = 0
    X[:, 7] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    model = MatrixFactorization(4, solver="als", feedback=feedback, l2=0.5, epochs=4,
                                random_state=0).fit(X)
    assert np.all(model.user_factors_[5] == 0) and np.all(model.item_factors_[7] == 0)
    assert model.user_bias_[5] == 0 and model.item_bias_[7] == 0
    assert np.abs(model.user_factors_).sum() > 0
    pred = model.predict([5, 5], [0, 7])
    if feedback == "explicit":      # bias-only predictions
        assert pred[0] == pytest.approx(model.global_bias_ + model.item_bias_[0], rel=1e-6)
        assert pred[1] == pytest.approx(model.global_bias_, rel=1e-6)
        assert model.global_bias_ == pytest.approx(X.data.mean(), rel=1e-6)
    else:
        assert model.global_bias_ == 0.0
        np.testing.assert_array_equal(pred, 0.0)


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"alpha": -1.0}, ["alpha"]),
        ({"cg_steps": 0}, ["cg_steps"]),
        ({"newton_steps": 0}, ["newton_steps"]),
        ({"feedback": "clicks"}, ["feedback"]),
        ({"linear_solver": "qr"}, ["linear_solver"]),
        ({"feedback": "implicit", "biases": True}, ["biases", "feedback"]),
        ({"feedback": "implicit", "solver": "sgd"}, ["solver", "feedback"]),
        ({"feedback": "implicit", "loss": "logistic"}, ["loss", "feedback"]),
        ({"solver": "newton"}, ["solver"]),
    ],
)
def test_bad_parameters_raise(params, names):
    X = random_ratings(20, 10, 0.5, seed=None, binary=params.get("loss") == "logistic")
    kw = {"solver": "als", **params}
    with pytest.raises(ValueError) as info:
        MatrixFactorization(2, **kw).fit(X)
    for name in names:
        assert name in str(info.value)


def test_biases_auto_and_explicit_false():
    X = random_ratings(30, 20, 0.4, seed=None)
    auto = MatrixFactorization(3, solver="als", epochs=2, random_state=0).fit(X)
    assert np.any(auto.user_bias_ != 0) and auto.global_bias_ != 0
    off = MatrixFactorization(3, solver="als", epochs=2, biases=False, random_state=0).fit(X)
    assert np.all(off.user_bias_ == 0) and np.all(off.item_bias_ == 0)
    assert off.global_bias_ == 0.0
    implicit_off = MatrixFactorization(3, solver="als", feedback="implicit", biases=False,
                                       epochs=1).fit(X)
    assert np.all(implicit_off.user_bias_ == 0)
    with pytest.raises(TypeError, match="weighted_l2"):
        MatrixFactorization(solver="als", weighted_l2="yes").fit(X)


def test_implicit_rejects_negative_values():
    X = random_ratings(20, 10, 0.5, seed=None)
    X.data[3] = -1.0
    with pytest.raises(ValueError, match="non-negative"):
        MatrixFactorization(2, solver="als", feedback="implicit").fit(X)


def test_duplicates_raise():
    users, items = np.array([0, 1, 1, 2]), np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="more than one rating"):
        MatrixFactorization(2, solver="als").fit((users, items, np.ones(4)))


@pytest.mark.parametrize("linear_solver", ["cholesky", "cg"])
def test_rank_deficient_row_without_penalty_raises(linear_solver):
    """l2 = 0 and a user with 2 ratings but k + 1 = 5 unknowns: no unique solution."""
    X = random_ratings(30, 20, 0.6, seed=None).tolil()
    X[4, :] = 0
    X[4, 2] = 4.0
    X[4, 3] = 2.0
    X = X.tocsr()
    X.eliminate_zeros()
    model = MatrixFactorization(4, solver="als", l2=0.0, l2_bias=0.0, epochs=2,
                                linear_solver="cholesky", random_state=0)
    with pytest.raises(ALSError, match=r"user 4 \(2 ratings\).*not positive definite.*l2"):
        model.fit(X)


def test_nonfinite_factors_are_reported_not_returned():
    X = random_ratings(20, 15, 0.5, seed=None)
    for linear_solver in ("cholesky", "cg", "subspace"):
        _, csrs, (P, Q, bu, bi) = _setup(X, "explicit")
        Q[3, 1] = np.nan
        before = P.copy()
        with pytest.raises(ALSError, match="non-finite"):
            _kernel_half(csrs.by_user, P, bu, Q, bi, _cfg("explicit", linear_solver))
        assert np.all(np.isfinite(P)) and np.all(np.isfinite(bu))
        raters = csrs.by_item.indices[csrs.by_item.indptr[3]:csrs.by_item.indptr[4]]
        np.testing.assert_array_equal(P[raters], before[raters])   # failing rows untouched


def _settings(model, linear_solver, mu=0.0):
    """The kernel's scalar arguments (its SweepSettings): l2 = l2_bias = 0.1, biases."""
    return {"model": kernel.MODELS[model], "linear_solver": kernel.LINEAR_SOLVERS[linear_solver],
            "cg_steps": 3, "newton_steps": 1, "mu": mu, "l2": 0.1, "l2_bias": 0.1,
            "alpha": 1.0, "weighted_l2": False, "l2_exponent": 1.0, "l2_unobserved": 0.0,
            "block_size": 2, "biases": True, "want_loss": False}


def test_kernel_reports_first_failing_row_and_status():
    X = random_ratings(20, 15, 0.5, seed=None)
    _, csrs, (P, Q, bu, bi) = _setup(X, "explicit")
    Q[:, :] = np.inf
    csr = csrs.by_user
    status, row = kernel.solve_rows(
        csr.indptr, csr.indices, csr.data, P, bu, Q, bi, np.zeros((0, 0)),
        _settings("explicit", "cholesky"), np.zeros(P.shape[0]), 2)
    first = int(np.flatnonzero(np.diff(csr.indptr))[0])
    assert status == kernel.STATUS["nonfinite"] and row == first


def test_int64_indices_match_int32():
    X = random_ratings(30, 25, 0.3, seed=None)
    _, csrs, (P, Q, bu, bi) = _setup(X, "explicit")
    csr = csrs.by_user
    assert csr.indices.dtype == np.int32
    out = []
    for dtype in (np.int32, np.int64):
        A, ab = P.copy(), bu.copy()
        status, _ = kernel.solve_rows(
            csr.indptr.astype(dtype), csr.indices.astype(dtype), csr.data, A, ab, Q, bi,
            np.zeros((0, 0)), _settings("explicit", "cholesky", mu=0.5), np.zeros(A.shape[0]),
            1)
        assert status == kernel.STATUS["ok"]
        out.append((A, ab))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])


def _one_long_item_row():
    """9,000 users who all rated item 0 (a row longer than CG's gather buffer), and a few
    other ratings."""
    rng = np.random.default_rng()
    n_users = 9000
    users = np.concatenate([np.arange(n_users), rng.integers(0, n_users, 50)])
    items = np.concatenate([np.zeros(n_users, int), rng.integers(1, 5, 50)])
    pairs = np.unique(np.stack([users, items], 1), axis=0)
    return sp.csr_matrix((rng.random(len(pairs)), (pairs[:, 0], pairs[:, 1])))


def test_large_systems_and_long_rows_match_reference():
    """k + 1 > 128 takes LAPACK's potrf; a row longer than the CG gather buffer is
    applied rating by rating."""
    X = random_ratings(60, 50, 0.5, seed=None)
    _, csrs, (P, Q, bu, bi) = _setup(X, "explicit", k=130)
    cfg = _cfg("explicit", l2=1.0)
    ref_P, ref_bu = P.copy(), bu.copy()
    _reference_half(csrs.by_user, ref_P, ref_bu, Q, bi, cfg)
    _kernel_half(csrs.by_user, P, bu, Q, bi, cfg, threads=2)
    np.testing.assert_allclose(P, ref_P, rtol=1e-6, atol=1e-9)

    X = _one_long_item_row()
    _, csrs, (P, Q, bu, bi) = _setup(X, "implicit", k=3)
    cfg = _cfg("implicit", "cg", cg_steps=20, l2=0.5)
    ref_Q, ref_bi = Q.copy(), bi.copy()
    _reference_half(csrs.by_item, ref_Q, ref_bi, P, bu, _cfg("implicit", l2=0.5))
    _kernel_half(csrs.by_item, Q, bi, P, bu, cfg)
    np.testing.assert_allclose(Q, ref_Q, rtol=1e-6, atol=1e-9)


def test_als_recovers_low_rank_signal():
    rng = np.random.default_rng()
    n_users, n_items, k = 400, 300, 3
    u = rng.normal(size=(n_users, k))
    v = rng.normal(size=(n_items, k))
    pairs = np.unique(rng.integers(0, n_users * n_items, 40000))
    users, items = pairs // n_items, pairs % n_items
    values = 3 + (u[users] * v[items]).sum(1) + 0.1 * rng.normal(size=pairs.size)
    test = rng.random(pairs.size) < 0.1
    model = MatrixFactorization(8, solver="als", epochs=15, l2=1.0, weighted_l2=False,
                                random_state=0)
    model.fit((users[~test], items[~test], values[~test]))
    rmse = np.sqrt(np.mean((model.predict(users[test], items[test]) - values[test]) ** 2))
    assert rmse < 0.25 * np.std(values[test])


@pytest.mark.parametrize("level", _dispatch.levels())
@pytest.mark.parametrize("k", [16, 32, 64, 128])
def test_cg_at_compiled_widths_matches_reference(level, k, monkeypatch):
    """CG has loops compiled for d = 16, 32, 64 and 128, in every SIMD build; run to
    convergence it gives the exact solution, for gathered rows and for a row longer than
    the gather buffer."""
    monkeypatch.setattr(driver, "kernel", lambda name: _dispatch.kernel(name, level))
    X = random_ratings(60, 40, 0.4, seed=None)
    _, csrs, (P, Q, bu, bi) = _setup(X, "implicit", k=k)
    cfg = _cfg("implicit", "cg", cg_steps=4 * k, l2=2.0)
    for csr, (A, ab, B, bb) in ((csrs.by_user, (P, bu, Q, bi)), (csrs.by_item, (Q, bi, P, bu))):
        ref_A = A.copy()
        _reference_half(csr, ref_A, ab.copy(), B, bb, _cfg("implicit", l2=2.0))
        _kernel_half(csr, A, ab, B, bb, cfg, threads=2)
        np.testing.assert_allclose(A, ref_A, rtol=1e-6, atol=1e-8)
    if k == 16:
        X = _one_long_item_row()
        _, csrs, (P, Q, bu, bi) = _setup(X, "implicit", k=k)
        ref_Q = Q.copy()
        _reference_half(csrs.by_item, ref_Q, bi.copy(), P, bu, _cfg("implicit", l2=2.0))
        _kernel_half(csrs.by_item, Q, bi, P, bu, cfg)
        np.testing.assert_allclose(Q, ref_Q, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gram_is_bit_identical_for_any_thread_count(dtype):
    Y = np.random.default_rng().standard_normal((3 * driver._GRAM_CHUNK + 17, 6)).astype(dtype)
    with single_threaded_blas():
        grams = [driver.gram64(Y, n_threads=n) for n in (1, 2, 3, 8)]
    for other in grams[1:]:
        np.testing.assert_array_equal(other, grams[0])
    np.testing.assert_allclose(grams[0], Y.astype(np.float64).T @ Y.astype(np.float64),
                               rtol=1e-12)
