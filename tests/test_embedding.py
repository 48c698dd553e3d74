"""fastmf inside other programs: the C-level Cython API and the thread rules of the
Python API.

The C-level tests compile a small Cython extension in a temporary folder against the
*installed* fastmf (``fastmf.get_include()``), exactly as an embedder would, and check what
it computes inside ``with nogil`` against the Python API and NumPy.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from fastmf._kernels import sgd as sgd_kernel

import fastmf
from fastmf import MatrixFactorization
from fastmf.datasets import make_ratings

EXT_NAME = "fastmf_embed_check"

EXT_SOURCE = '''
# cython: language_level=3, boundscheck=False, wraparound=False
from cython cimport floating
from libc.stdint cimport int32_t, int64_t

# Every .pxd that fastmf ships, cimported together: their C must not collide.
{every_pxd}
from _common cimport fmf_aligned_alloc, fmf_aligned_free

from fastmf_capi cimport (FMF_LOSS_LOGISTIC, FMF_LOSS_SQUARED, FMF_NONFINITE, FMF_NOT_PD,
                          FMF_OK, als_explicit_problem, als_solve_row, als_work_alloc,
                          als_work_free, fmf_als_problem, fmf_sgd_params, predict_pair,
                          sgd_pass, top_k)

import numpy as np

CODES = {"squared": FMF_LOSS_SQUARED, "logistic": FMF_LOSS_LOGISTIC,
         "ok": FMF_OK, "not_pd": FMF_NOT_PD, "nonfinite": FMF_NONFINITE}


def predict(const floating[:, ::1] P, const floating[:, ::1] Q,
            const floating[::1] bu, const floating[::1] bi, double mu,
            const int64_t[::1] users, const int64_t[::1] items, int loss,
            floating[::1] out):
    cdef Py_ssize_t j
    cdef int k = P.shape[1]
    with nogil:
        for j in range(users.shape[0]):
            out[j] = predict_pair(&P[0, 0], &Q[0, 0], &bu[0], &bi[0], <floating> mu, k,
                                  users[j], items[j], loss)


def sgd(int loss, const int32_t[::1] users, const int32_t[::1] items,
        const floating[::1] values, floating[:, ::1] P, floating[:, ::1] Q,
        floating[::1] bu, floating[::1] bi, double mu, double learning_rate, double l2,
        double l2_bias, bint biases):
    cdef fmf_sgd_params prm
    cdef double total
    prm.learning_rate = learning_rate
    prm.l2 = l2
    prm.l2_bias = l2_bias
    prm.mu = mu
    prm.biases = biases
    prm.k = P.shape[1]
    with nogil:
        total = sgd_pass(loss, &users[0], &items[0], &values[0], users.shape[0],
                         &P[0, 0], &Q[0, 0], &bu[0], &bi[0], &prm)
    return total


def als_row(const int32_t[::1] cols, const double[::1] vals, const double[:, ::1] Y,
            const double[::1] y_bias, double[::1] x, double[::1] x_bias, double mu,
            double l2, double l2_bias, bint biases):
    cdef fmf_als_problem pb
    cdef void *work
    cdef int status
    with nogil:
        pb = als_explicit_problem(Y.shape[1], biases, mu, l2, l2_bias, False, cols.shape[0])
        work = als_work_alloc(&pb, sizeof(double))
        if work == NULL:
            status = -1
        else:
            status = als_solve_row(&pb, &cols[0], &vals[0], cols.shape[0], &Y[0, 0],
                                   &y_bias[0], &x[0], &x_bias[0], work)
        als_work_free(work)
    if status == -1:
        raise MemoryError()
    return status


def topk(const floating[::1] scores, int64_t k):
    out = np.zeros(max(k, 0), dtype=np.int64)
    cdef int64_t[::1] idx = out
    cdef int64_t m
    with nogil:
        m = top_k(&scores[0], scores.shape[0], k, &idx[0] if k > 0 else NULL)
    return out[:m]


def aligned_block_address(size_t n):
    """The address of a fresh block from the kernels' allocator, modulo 64."""
    cdef void *p = fmf_aligned_alloc(n)
    if p == NULL:
        raise MemoryError()
    cdef size_t address = <size_t> p
    fmf_aligned_free(p)
    return address % 64
'''

SETUP_SOURCE = f'''
import fastmf
from Cython.Build import cythonize
from setuptools import Extension, setup

inc = fastmf.get_include()
setup(
    name="{EXT_NAME}",
    ext_modules=cythonize(
        [Extension("{EXT_NAME}", ["{EXT_NAME}.pyx"], include_dirs=[inc])],
        include_path=[inc],
        quiet=True,
    ),
    script_args=["build_ext", "--inplace"],
)
'''


def _have_c_compiler(tmp) -> str | None:
    """None if setuptools can compile a C file here, else the reason it cannot."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    src = os.path.join(tmp, "probe.c")
    with open(src, "w") as f:
        f.write("int fastmf_probe(void) { return 0; }\n")
    try:
        compiler = new_compiler()
        customize_compiler(compiler)
        compiler.compile([src], output_dir=tmp)
    except Exception as exc:  # any failure means "no usable compiler"
        return f"no working C compiler: {exc}"
    return None


def _shipped_pxd() -> list[str]:
    """The module names of the .pxd files in ``fastmf.get_include()``."""
    return sorted(name[:-4] for name in os.listdir(fastmf.get_include())
                  if name.endswith(".pxd"))


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    """The embedder's extension, built against the installed fastmf."""
    pytest.importorskip("Cython", reason="Cython is needed to build the embedding test")
    tmp = tmp_path_factory.mktemp("embed")
    reason = _have_c_compiler(str(tmp))
    if reason is not None:
        pytest.skip(reason)
    every_pxd = "\n".join(f"cimport {name}" for name in _shipped_pxd())
    (tmp / f"{EXT_NAME}.pyx").write_text(
        textwrap.dedent(EXT_SOURCE).replace("{every_pxd}", every_pxd))
    (tmp / "setup.py").write_text(SETUP_SOURCE)
    proc = subprocess.run([sys.executable, "setup.py"], cwd=tmp, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, f"building the embedding extension failed:\n{proc.stderr}"
    built = [p for p in tmp.iterdir()
             if p.name.startswith(EXT_NAME) and p.suffix in (".so", ".pyd")]
    assert len(built) == 1, [p.name for p in tmp.iterdir()]
    loader = importlib.machinery.ExtensionFileLoader(EXT_NAME, str(built[0]))
    spec = importlib.util.spec_from_file_location(EXT_NAME, built[0], loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_get_include_holds_the_api():
    inc = fastmf.get_include()
    for name in ("fastmf_capi.pxd", "_sgd_update.pxd", "_als_row.pxd", "_vec.pxd",
                 "_losses.pxd", "_blas.pxd", "_common.pxd", "_heap.pxd", "fastmf_vec.h",
                 "fastmf_chol.h", "fastmf_common.h", "fastmf_tile.h"):
        assert os.path.isfile(os.path.join(inc, name)), name


def test_every_shipped_pxd_compiles_in_one_extension(ext):
    # the extension cimports all of them (see EXT_SOURCE); the kernels' shared C (the
    # allocator among it) is then defined once, and works
    assert {"fastmf_capi", "_als_row", "_common", "_losses", "_heap", "_vec"} <= set(
        _shipped_pxd())
    for n in (1, 1000, 1 << 20):
        assert ext.aligned_block_address(n) == 0


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_pair_matches_predict(ext, loss, dtype):
    users, items, values = make_ratings(300, 200, 5000, seed=3)
    if loss == "logistic":
        values = (values > np.median(values)).astype(np.float64)
    model = MatrixFactorization(8, loss=loss, epochs=3, random_state=0, dtype=dtype,
                                num_threads=1).fit((users, items, values))
    rng = np.random.default_rng(1)
    u = rng.integers(0, 300, 1000).astype(np.int64)
    i = rng.integers(0, 200, 1000).astype(np.int64)
    out = np.empty(u.size, dtype=dtype)
    ext.predict(model.user_factors_, model.item_factors_, model.user_bias_,
                model.item_bias_, model.global_bias_, u, i, ext.CODES[loss], out)
    expected = model.predict(u, i)
    # Same formula; only the summation order of the dot product may differ with the
    # embedder's compiler flags.
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    assert np.abs(out - expected).max() < 1e-3 * np.abs(expected).max()


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_sgd_pass_is_the_kernels_update(ext, loss):
    """One block (B = 1): the SGD kernel's epoch is sgd_pass over the ratings in the order
    the kernel visits them."""
    users, items, values = make_ratings(50, 40, 800, seed=5)
    if loss == "logistic":
        values = (values > np.median(values)).astype(np.float64)
    users = users.astype(np.int32)
    items = items.astype(np.int32)
    values = values.astype(np.float64)
    rng = np.random.default_rng(0)
    P = rng.normal(scale=0.1, size=(50, 6))
    Q = rng.normal(scale=0.1, size=(40, 6))
    bu = rng.normal(scale=0.1, size=50)
    bi = rng.normal(scale=0.1, size=40)
    mu = float(values.mean()) if loss == "squared" else 0.0
    hyper = dict(learning_rate=0.05, l2=0.02, l2_bias=0.01)
    code = ext.CODES[loss]
    block_ptr = np.array([0, users.size], dtype=np.int64)

    state = np.array([12345], dtype=np.uint64)
    order = sgd_kernel.epoch_order(block_ptr, 1, state.copy())
    kP, kQ, kbu, kbi = P.copy(), Q.copy(), bu.copy(), bi.copy()
    k_loss, status = sgd_kernel.sgd_epoch(
        users, items, values, block_ptr, 1, kP, kQ, kbu, kbi,
        dict(hyper, mu=mu, biases=True, loss_code=code), state, 1)
    assert status == sgd_kernel.STATUS["ok"]

    eP, eQ, ebu, ebi = P.copy(), Q.copy(), bu.copy(), bi.copy()
    e_loss = ext.sgd(code, users[order], items[order], values[order], eP, eQ, ebu, ebi, mu,
                     hyper["learning_rate"], hyper["l2"], hyper["l2_bias"], True)
    for got, want in ((eP, kP), (eQ, kQ), (ebu, kbu), (ebi, kbi)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert e_loss == pytest.approx(k_loss, rel=1e-10)
    assert not np.allclose(eP, P)       # the pass did move the factors


def test_sgd_pass_float32_without_biases_leaves_biases(ext):
    users = np.array([0, 1, 1, 2], dtype=np.int32)
    items = np.array([1, 0, 2, 2], dtype=np.int32)
    values = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    rng = np.random.default_rng(2)
    P = rng.normal(size=(3, 4)).astype(np.float32)
    Q = rng.normal(size=(3, 4)).astype(np.float32)
    bu = np.zeros(3, dtype=np.float32)
    bi = np.zeros(3, dtype=np.float32)
    P0, Q0 = P.copy(), Q.copy()
    total = ext.sgd(ext.CODES["squared"], users, items, values, P, Q, bu, bi, 0.0, 0.1,
                    0.0, 0.0, False)
    # First step by hand: g = y - p.q, p <- p + lr g q_old, q <- q + lr g p_old.
    g = values[0] - P0[0] @ Q0[1]
    assert total >= 0.5 * g * g * (1 - 1e-6)
    np.testing.assert_allclose(P[0], P0[0] + np.float32(0.1) * g * Q0[1], rtol=1e-5)
    assert not bu.any() and not bi.any()


@pytest.mark.parametrize("biases", [True, False])
def test_als_row_matches_numpy_least_squares(ext, biases):
    rng = np.random.default_rng(7)
    n_cols, k, n = 30, 5, 12
    Y = rng.normal(size=(n_cols, k))
    y_bias = rng.normal(size=n_cols)
    cols = rng.choice(n_cols, n, replace=False).astype(np.int32)
    vals = rng.normal(3.0, 1.0, n)
    mu, l2, l2_bias = 3.1, 0.3, 0.05
    x = rng.normal(size=k)
    x_bias = np.array([0.7])
    assert ext.als_row(cols, vals, Y, y_bias, x, x_bias, mu, l2, l2_bias,
                       biases) == ext.CODES["ok"]

    # min |Z x - v|^2 + x^T diag(lam) x as one stacked least-squares problem
    if biases:
        Z = np.hstack([Y[cols], np.ones((n, 1))])
        v = vals - mu - y_bias[cols]
        lam = np.array([l2] * k + [l2_bias])
    else:
        Z, v, lam = Y[cols], vals, np.full(k, l2)
    A = np.vstack([Z, np.diag(np.sqrt(lam))])
    rhs = np.concatenate([v, np.zeros(Z.shape[1])])
    want = np.linalg.lstsq(A, rhs, rcond=None)[0]
    np.testing.assert_allclose(x, want[:k], rtol=1e-9, atol=1e-12)
    if biases:
        assert x_bias[0] == pytest.approx(want[k], rel=1e-9)
    else:
        assert x_bias[0] == 0.7


def test_als_row_reports_a_singular_system_and_keeps_the_row(ext):
    Y = np.ones((4, 3))                 # rank one: with l2 = 0 the system is singular
    cols = np.array([0, 1, 2], dtype=np.int32)
    x = np.array([1.0, 2.0, 3.0])
    x_bias = np.array([0.5])
    status = ext.als_row(cols, np.ones(3), Y, np.zeros(4), x, x_bias, 0.0, 0.0, 0.0, False)
    assert status == ext.CODES["not_pd"]
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [0, 1, 5, 37, 200, 500])
def test_top_k_matches_numpy(ext, dtype, k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 40, 300).astype(dtype)      # many ties
    scores[rng.choice(300, 20, replace=False)] = np.nan
    order = np.argsort(-scores, kind="stable")
    want = order[~np.isnan(scores[order])][:k]
    np.testing.assert_array_equal(ext.topk(scores, k), want)


def _fit(seed: int, solver: str) -> MatrixFactorization:
    users, items, values = make_ratings(2000, 800, 60_000, seed=seed)
    return MatrixFactorization(16, solver=solver, epochs=4, random_state=seed,
                               num_threads=1).fit((users, items, values))


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_concurrent_fits_equal_sequential_fits(solver):
    sequential = [_fit(seed, solver) for seed in (1, 2)]
    results: dict[int, MatrixFactorization] = {}
    errors: list[BaseException] = []

    def work(seed):
        try:
            results[seed] = _fit(seed, solver)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for seed, model in zip((1, 2), sequential, strict=True):
        for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
            np.testing.assert_array_equal(getattr(results[seed], name), getattr(model, name))
        assert results[seed].training_loss_ == model.training_loss_


def test_other_threads_run_while_a_fit_holds_no_gil():
    """A counter thread keeps ticking during a fit dominated by kernel time.  One ALS
    sweep is two kernel calls, each about 40 % of the fit: if a kernel kept the GIL, the
    counter would stall for one of them."""
    users, items, values = make_ratings(20_000, 5_000, 400_000, seed=1)
    model = MatrixFactorization(64, solver="als", epochs=1, random_state=0, num_threads=1)
    ticks: list[float] = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        start = time.perf_counter()
        model.fit((users, items, values))
        end = time.perf_counter()
    finally:
        stop.set()
        counter.join()
    during = np.array([t for t in ticks if start <= t <= end])
    gaps = np.diff(np.concatenate([[start], during, [end]]))
    assert end - start > 0.1, "the fit is too short to tell"
    assert during.size > 100
    # The longest stall is far shorter than a kernel call (GIL switch interval, OS noise).
    assert gaps.max() < 0.25 * (end - start), (gaps.max(), end - start)
