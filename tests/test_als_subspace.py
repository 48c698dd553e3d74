"""The subspace (block coordinate) ALS solver and the frequency-scaled penalty
(``l2_exponent``, ``l2_unobserved``): kernels against the NumPy reference, the
estimator's parameters, files and errors."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings
from fastmf._kernels import als as kernel

import fastmf
from fastmf import ALSError, MatrixFactorization, reference
from fastmf import _als as driver
from fastmf._threads import single_threaded_blas
from fastmf._validation import check_ratings

MODEL_LOSS = {"explicit": "squared", "implicit": "squared", "logistic": "logistic"}
# float32 kernels against the float64 reference
TOL = {np.float64: {"rtol": 1e-6, "atol": 1e-9}, np.float32: {"rtol": 2e-3, "atol": 2e-4}}


def _setup(X, model, k, dtype, seed=None):
    data = check_ratings(X, np.dtype(dtype), loss=MODEL_LOSS[model])
    rng = np.random.default_rng(seed)
    P = rng.normal(0, 0.3, size=(data.n_users, k)).astype(dtype)
    Q = rng.normal(0, 0.3, size=(data.n_items, k)).astype(dtype)
    bu = rng.normal(0, 0.1, size=data.n_users).astype(dtype)
    bi = rng.normal(0, 0.1, size=data.n_items).astype(dtype)
    if model == "implicit":
        bu[:] = 0
        bi[:] = 0
    return data, driver.prepare(data, model), (P, Q, bu, bi)


def _cfg(model, linear_solver="subspace", **options):
    settings = {"cg_steps": 3, "newton_steps": 1, "l2": 0.1, "l2_bias": 0.05,
                "weighted_l2": False, "biases": True, "alpha": 2.0, "block_size": 3}
    settings.update(options)
    settings["biases"] = settings["biases"] and model != "implicit"
    return driver.ALSConfig(model=model, linear_solver=linear_solver, **settings)


def _kernel_half(csr, X, xb, Y, yb, cfg, mu=0.4, threads=1):
    with single_threaded_blas():
        return driver.half_sweep(csr, X, xb, Y, yb, cfg, global_bias=mu, n_threads=threads)


def _reference_half(csr, X, xb, Y, yb, cfg, mu=0.4):
    common = dict(model=cfg.model, global_bias=mu, l2=cfg.l2, l2_bias=cfg.l2_bias,
                  weighted_l2=cfg.weighted_l2, biases=cfg.biases, alpha=cfg.alpha,
                  newton_steps=cfg.newton_steps, l2_exponent=cfg.l2_exponent,
                  l2_unobserved=cfg.l2_unobserved)
    if cfg.linear_solver == "subspace":
        reference.als_subspace_half_sweep(csr, X, xb, Y, yb, block_size=cfg.block_size,
                                          **common)
    else:
        reference.als_half_sweep(csr, X, xb, Y, yb, **common)


def _both_sides(X, model, cfg, dtype, threads, k=7):
    """Kernel and reference on the users, then on the items, from the same start."""
    _, csrs, (P, Q, bu, bi) = _setup(X, model, k, dtype)
    for csr, (A, ab, B, bb) in ((csrs.by_user, (P, bu, Q, bi)), (csrs.by_item, (Q, bi, P, bu))):
        ref_A, ref_ab = A.astype(np.float64), ab.astype(np.float64)
        _reference_half(csr, ref_A, ref_ab, B, bb, cfg)
        _kernel_half(csr, A, ab, B, bb, cfg, threads=threads)
        np.testing.assert_allclose(A, ref_A, **TOL[dtype])
        np.testing.assert_allclose(ab, ref_ab, **TOL[dtype])


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("implicit", {}),
        ("implicit", {"block_size": 1}),
        ("implicit", {"block_size": 4, "alpha": 15.0, "weighted_l2": True}),
        ("implicit", {"block_size": 7}),                    # one block: the exact solve
        ("explicit", {}),
        ("explicit", {"biases": False, "block_size": 2}),
        ("explicit", {"block_size": 4, "weighted_l2": True}),   # bias in the last block
        ("explicit", {"block_size": 8}),                    # one block of d = k + 1
        ("logistic", {}),
        ("logistic", {"newton_steps": 3, "block_size": 5}),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
def test_subspace_half_sweep_matches_reference(model, options, dtype, threads):
    # 70 rows: more than one group of rows solved together (kernel.SUBSPACE_ROWS)
    X = random_ratings(70, 45, 0.3, seed=None, binary=model == "logistic")
    assert X.shape[0] > kernel.SUBSPACE_ROWS
    _both_sides(X, model, _cfg(model, **options), dtype, threads)


@pytest.mark.parametrize("model", ["explicit", "implicit", "logistic"])
@pytest.mark.parametrize("linear_solver", ["cholesky", "subspace"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_frequency_scaled_penalty_matches_reference(model, linear_solver, dtype):
    X = random_ratings(50, 40, 0.3, seed=None, binary=model == "logistic")
    options = {"weighted_l2": True, "l2_exponent": 0.75, "l2": 0.3}
    if model == "implicit":
        options["l2_unobserved"] = 1.5
    _both_sides(X, model, _cfg(model, linear_solver, **options), dtype, threads=2)


def test_penalty_is_rendle_et_al_form():
    """Each user minimises sum over *all* items c (p - x.y)^2 + l2 (n + zeta N / (1 +
    alpha))^nu |x|^2, solved densely here."""
    rng = np.random.default_rng()
    n_users, n_items, k, alpha, l2, nu, zeta = 9, 8, 3, 4.0, 0.3, 0.6, 2.0
    counts = rng.poisson(1.0, size=(n_users, n_items)) * (rng.random((n_users, n_items)) < 0.5)
    counts[0] = 0
    counts[1, 0] = 1
    X = sp.csr_matrix(counts.astype(float))
    X.eliminate_zeros()
    _, csrs, (P, Q, _, _) = _setup(X, "implicit", k, np.float64)
    zeros_u, zeros_i = np.zeros(n_users), np.zeros(n_items)
    cfg = _cfg("implicit", "cholesky", l2=l2, alpha=alpha, weighted_l2=True,
               l2_exponent=nu, l2_unobserved=zeta)
    _kernel_half(csrs.by_user, P, zeros_u, Q, zeros_i, cfg)
    conf = 1.0 + alpha * counts
    pref = (counts > 0).astype(float)
    for u in range(1, n_users):
        lam = l2 * (pref[u].sum() + zeta * n_items / (1 + alpha)) ** nu
        lhs = np.vstack([np.sqrt(conf[u])[:, None] * Q, np.sqrt(lam) * np.eye(k)])
        rhs = np.concatenate([np.sqrt(conf[u]) * pref[u], np.zeros(k)])
        np.testing.assert_allclose(P[u], np.linalg.lstsq(lhs, rhs, rcond=None)[0],
                                   rtol=1e-8, atol=1e-10)
    assert np.all(P[0] == 0)


@pytest.mark.parametrize("model", ["explicit", "implicit", "logistic"])
def test_subspace_passes_converge_to_the_exact_solve(model):
    X = random_ratings(40, 30, 0.4, seed=None, binary=model == "logistic")
    _, csrs, (P, Q, bu, bi) = _setup(X, model, 9, np.float64)
    exact, exact_b = P.copy(), bu.copy()
    # the optimum: one exact solve, or for the logistic loss Newton steps to convergence
    _kernel_half(csrs.by_user, exact, exact_b, Q, bi, _cfg(model, "cholesky",
                                                            newton_steps=30))
    got, got_b = P.copy(), bu.copy()
    errors = []
    for _ in range(300):      # repeated passes (block Gauss-Seidel; re-linearised Newton)
        _kernel_half(csrs.by_user, got, got_b, Q, bi, _cfg(model, block_size=4))
        errors.append(np.abs(got - exact).max() + np.abs(got_b - exact_b).max())
    assert errors[20] < errors[0]
    assert errors[-1] < 1e-8 * max(1.0, np.abs(exact).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subspace_fit_is_bit_identical_for_any_thread_count(dtype):
    X = random_ratings(150, 90, 0.2, seed=None)
    X.data = np.floor(X.data)
    fits = [MatrixFactorization(12, solver="als", feedback="implicit", linear_solver="subspace",
                                block_size=5, epochs=3, random_state=3, num_threads=t,
                                dtype=dtype).fit(X)
            for t in (1, 2, 3)]
    for other in fits[1:]:
        np.testing.assert_array_equal(other.user_factors_, fits[0].user_factors_)
        np.testing.assert_array_equal(other.item_factors_, fits[0].item_factors_)
        assert other.training_loss_ == fits[0].training_loss_


@pytest.mark.parametrize("l2_exponent", [1.0, 0.5])
def test_subspace_objective_never_increases(l2_exponent):
    X = random_ratings(80, 60, 0.2, seed=None)
    data, csrs, (P, Q, bu, bi) = _setup(X, "implicit", 6, np.float64)
    cfg = _cfg("implicit", block_size=4, weighted_l2=True, l2_exponent=l2_exponent,
               l2_unobserved=0.5, alpha=3.0)
    kw = dict(model="implicit", l2=cfg.l2, weighted_l2=True, alpha=3.0,
              l2_exponent=l2_exponent, l2_unobserved=0.5)
    values = [reference.als_objective(csrs.by_user, P, Q, bu, bi, **kw)]
    for _ in range(6):
        driver.sweep(csrs, P, Q, bu, bi, cfg, global_bias=0.0, n_threads=2)
        values.append(reference.als_objective(csrs.by_user, P, Q, bu, bi, **kw))
    assert np.all(np.diff(values) <= 1e-9 * values[0])
    assert values[-1] < 0.9 * values[0]


def test_block_size_beyond_the_unknowns_is_one_exact_block():
    X = random_ratings(50, 40, 0.3, seed=None)
    fits = {size: MatrixFactorization(6, solver="als", linear_solver="subspace", epochs=3,
                                      block_size=size, random_state=0, dtype=np.float64).fit(X)
            for size in (7, 10_000)}       # d = 7 with the bias
    np.testing.assert_array_equal(fits[7].user_factors_, fits[10_000].user_factors_)
    exact = MatrixFactorization(6, solver="als", linear_solver="cholesky", epochs=3,
                                random_state=0, dtype=np.float64).fit(X)
    np.testing.assert_allclose(fits[7].user_factors_, exact.user_factors_, rtol=1e-7,
                               atol=1e-9)


def test_subspace_failing_row_keeps_its_values():
    X = random_ratings(40, 30, 0.5, seed=None)
    _, csrs, (P, Q, bu, bi) = _setup(X, "explicit", 5, np.float64)
    before = P.copy()
    with pytest.raises(ALSError, match="row 0 .*not positive definite"):
        _kernel_half(csrs.by_user, P, bu, np.zeros_like(Q), bi,
                     _cfg("explicit", l2=0.0, l2_bias=0.0))
    np.testing.assert_array_equal(P, before)


@pytest.mark.parametrize(("params", "error", "match"), [
    ({"block_size": 0}, ValueError, "block_size must be >= 1"),
    ({"block_size": -3}, ValueError, "block_size"),
    ({"block_size": 2**40}, ValueError, "block_size must be <="),
    ({"block_size": 2.5}, TypeError, "block_size must be an integer"),
    ({"block_size": True}, TypeError, "block_size"),
    ({"l2_exponent": -0.5}, ValueError, "l2_exponent must be finite and >= 0"),
    ({"l2_exponent": float("nan")}, ValueError, "l2_exponent"),
    ({"l2_exponent": "1"}, TypeError, "l2_exponent"),
    ({"l2_unobserved": -1.0}, ValueError, "l2_unobserved must be finite and >= 0"),
    ({"l2_unobserved": float("inf")}, ValueError, "l2_unobserved"),
    ({"l2_exponent": 0.5, "weighted_l2": False}, ValueError, "needs solver='als' and "
     "weighted_l2=True"),
    ({"l2_unobserved": 1.0, "feedback": "explicit"}, ValueError,
     "needs feedback='implicit'"),
    ({"l2_exponent": 0.5, "solver": "sgd", "feedback": "explicit"}, ValueError,
     "needs solver='als'"),
])
def test_bad_parameters_are_clear_errors(params, error, match):
    X = random_ratings(20, 15, 0.4, seed=None)
    model = MatrixFactorization(4, **{"solver": "als", "feedback": "implicit", **params})
    with pytest.raises(error, match=match):
        model.fit(X)


def test_parameters_round_trip_through_get_params_and_files(tmp_path):
    X = random_ratings(40, 30, 0.3, seed=None)
    model = MatrixFactorization(8, solver="als", feedback="implicit", linear_solver="subspace",
                                block_size=3, l2_exponent=0.8, l2_unobserved=0.25, epochs=2,
                                random_state=0)
    params = model.get_params()
    assert (params["block_size"], params["l2_exponent"], params["l2_unobserved"]) == (
        3, 0.8, 0.25)
    model.fit(X)
    model.save(tmp_path / "m.npz")
    loaded = fastmf.load(tmp_path / "m.npz")
    assert loaded.get_params() == model.get_params()
    clone = MatrixFactorization().set_params(**params)
    np.testing.assert_array_equal(clone.fit(X).user_factors_, model.user_factors_)
    # a file from before these parameters loads with their defaults
    with np.load(tmp_path / "m.npz") as archive:
        entries = {name: archive[name] for name in archive.files}
    doc = json.loads(str(entries["meta"]))
    for name in ("block_size", "l2_exponent", "l2_unobserved"):
        del doc["params"][name]
    np.savez(tmp_path / "old.npz", **{**entries, "meta": np.array(json.dumps(doc))})
    old = fastmf.load(tmp_path / "old.npz")
    assert (old.block_size, old.l2_exponent, old.l2_unobserved) == (16, 1.0, 0.0)
    np.testing.assert_array_equal(old.user_factors_, model.user_factors_)


def test_fold_in_uses_the_frequency_scaled_penalty():
    X = random_ratings(60, 40, 0.3, seed=None)
    X.data = np.floor(X.data)
    model = MatrixFactorization(5, solver="als", feedback="implicit", l2=0.5, alpha=3.0,
                                l2_exponent=0.5, l2_unobserved=2.0, epochs=3,
                                dtype=np.float64, random_state=0).fit(X)
    got, _ = model.transform(X[:7])
    want = np.zeros((7, 5))
    reference.als_half_sweep(X[:7].tocsr(), want, np.zeros(7), model.item_factors_,
                             np.zeros(40), model="implicit", l2=0.5, weighted_l2=True,
                             alpha=3.0, biases=False, l2_exponent=0.5, l2_unobserved=2.0)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
