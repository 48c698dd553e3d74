"""The thread-safety contract: read-only methods on one fitted model are safe from many
threads, also while another thread fits that model; thread counts are bounded; BLAS
limits are restored exactly under concurrency."""

import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import random_ratings
from fastmf._kernels import _parallel

import fastmf
from fastmf import MatrixFactorization
from fastmf import metrics as fm
from fastmf._threads import effective_n_threads, max_threads, single_threaded_blas

threadpoolctl = pytest.importorskip("threadpoolctl")
_OPENMP = _parallel.openmp_enabled()


def _readers_view(model, users, items, new_rows) -> list:
    """What each read-only method returns for fixed queries: one entry per call (each
    call takes the model's state once; two calls may see two different fits)."""
    return [model.predict(users, items), model.decision_function(users, items),
            model.recommend(users, n=5), model.similar_items(items[:3], n=4),
            model.similar_users(users[:3], n=4), model.transform(new_rows),
            model.recommend(new_users=new_rows, n=3), model.recommend_all(4, batch_size=16)]


def _equal(x, y) -> bool:
    if isinstance(x, tuple):
        return all(np.array_equal(a, b) for a, b in zip(x, y, strict=True))
    return np.array_equal(x, y)


def _same(a, b) -> bool:
    return all(_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture
def two_fits():
    """Ratings A and B of the same shape, and what a model fitted to each returns."""
    A = random_ratings(60, 40, 0.3, seed=None)
    B = random_ratings(60, 40, 0.3, seed=None)
    params = {"factors": 4, "epochs": 4, "random_state": 0}
    users, items = np.arange(60) % 60, np.arange(60) % 40
    new_rows = random_ratings(5, 40, 0.3, seed=None)
    views = [_readers_view(MatrixFactorization(**params).fit(X), users, items, new_rows)
             for X in (A, B)]
    return A, B, params, (users, items, new_rows), views


def test_read_during_fit_sees_the_old_parameters(two_fits):
    """predict from another thread while a refit sits between its epochs returns the
    previous fit's predictions, never half-trained ones."""
    A, B, params, queries, (view_a, view_b) = two_fits
    model = MatrixFactorization(**params).fit(A)
    seen = []

    def read_from_another_thread(epoch, m, metrics):
        if epoch == 2:
            reader = threading.Thread(target=lambda: seen.append(_readers_view(m, *queries)))
            reader.start()
            reader.join()

    model.fit(B, callback=read_from_another_thread)
    assert _same(seen[0], view_a)
    assert _same(_readers_view(model, *queries), view_b)


def test_read_during_a_shrinking_refit_never_reads_out_of_bounds():
    """The refit has fewer users: a reader that checked its ids against the old model
    must not index the new, smaller arrays with them."""
    big = random_ratings(80, 40, 0.3, seed=None)
    small = random_ratings(20, 10, 0.5, seed=None)
    model = MatrixFactorization(4, epochs=3, random_state=0).fit(big)
    users, items = np.arange(60, 80), np.arange(20, 40)
    expected = model.predict(users, items)
    seen = []

    def read(epoch, m, metrics):
        reader = threading.Thread(target=lambda: seen.append(m.predict(users, items)))
        reader.start()
        reader.join()

    model.fit(small, callback=read)
    assert len(seen) == 3 and all(np.array_equal(s, expected) for s in seen)
    with pytest.raises(ValueError, match="users contains index 60"):
        model.set_params(unknown="raise").predict(users, items)


def test_fitting_thread_sees_the_parameters_being_trained(ratings):
    losses = []
    model = MatrixFactorization(4, epochs=3, random_state=0)
    model.fit(ratings, callback=lambda e, m, metrics: losses.append(
        (len(m.training_loss_), m.predict([0], [0])[0])))
    assert [n for n, _ in losses] == [1, 2, 3]
    assert losses[-1][1] == model.predict([0], [0])[0]


def test_race_readers_against_a_refitting_thread(two_fits):
    """Four reader threads call every read-only method while a fifth refits the model
    on A and B in turn: every result equals A's or B's, never a mix, and nothing
    crashes."""
    A, B, params, queries, views = two_fits
    model = MatrixFactorization(**params).fit(A)
    test = random_ratings(60, 40, 0.2, seed=None)
    expected_precision = [fm.precision_at_k(MatrixFactorization(**params).fit(X), test=test, k=5)
                          for X in (A, B)]
    stop = time.monotonic() + 2.0
    failures, counts = [], [0, 0]

    def fitter():
        i = 0
        while time.monotonic() < stop:
            model.fit(B if i % 2 == 0 else A)
            i += 1

    def reader():
        while time.monotonic() < stop:
            try:
                view = _readers_view(model, *queries)
                for j, result in enumerate(view):
                    fits = [_equal(result, v[j]) for v in views]
                    if not any(fits):
                        failures.append(f"call {j} returned a mix of two fits")
                    counts[fits.index(True) if any(fits) else 0] += 1
                if fm.precision_at_k(model, test=test, k=5) not in expected_precision:
                    failures.append("precision of neither fit")
            except Exception as exc:        # noqa: BLE001 - any exception is a failure
                failures.append(repr(exc))

    threads = [threading.Thread(target=fitter)] + [threading.Thread(target=reader)
                                                   for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert min(counts) > 0          # both fits were seen


def test_save_during_a_fit_writes_one_consistent_model(tmp_path, two_fits):
    A, B, params, queries, (view_a, _) = two_fits
    model = MatrixFactorization(**params).fit(A)

    def save_from_another_thread(epoch, m, metrics):
        if epoch == 1:
            t = threading.Thread(target=m.save, args=(tmp_path / "m.npz",))
            t.start()
            t.join()

    model.fit(B, callback=save_from_another_thread)
    assert _same(_readers_view(fastmf.load(tmp_path / "m.npz"), *queries), view_a)


# ---------------------------------------------------------------- thread counts

def test_thread_count_is_clamped_with_a_warning():
    cap = max_threads()
    assert cap >= 64
    with pytest.warns(RuntimeWarning, match=f"at most {cap}"):
        assert effective_n_threads(100_000) == cap
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert effective_n_threads(cap) == (cap if _OPENMP else 1)


def _run(code: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter, run outside the source tree."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, **(env or {})})


_FIT = """
import numpy as np, fastmf
rng = np.random.default_rng(0)
users, items = np.divmod(rng.permutation(2000)[:600], 40)
fastmf.MatrixFactorization(4, epochs=1, num_threads=NUM).fit(
    (users, items, rng.random(600) * 4 + 1))
print("fitted")
"""


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_absurd_thread_counts_do_not_kill_the_process(how, tmp_path):
    """num_threads=100000 or OMP_NUM_THREADS=100000 made libgomp abort the process."""
    if how == "argument":
        result = _run(_FIT.replace("NUM", "100_000"), tmp_path)
    else:
        result = _run(_FIT.replace("NUM", "None"), tmp_path,
                      env={"OMP_NUM_THREADS": "100000"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fitted" in result.stdout
    if _OPENMP:
        assert f"at most {max_threads()}" in result.stderr


def test_absurd_thread_count_on_the_command_line(tmp_path):
    data = tmp_path / "u.data"
    data.write_text("".join(f"{u}\t{i}\t{(u * i) % 5 + 1}\t0\n"
                            for u in range(30) for i in range(20) if (u + i) % 3 == 0))
    result = subprocess.run(
        [sys.executable, "-m", "fastmf", "fit", str(data), "--threads", "100000",
         "--epochs", "1", "--factors", "4", "-o", str(tmp_path / "m.npz")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    if _OPENMP:
        assert result.stderr.count("\n") == 1 and "warning" in result.stderr


# ---------------------------------------------------------------- BLAS limits
# Each case runs in a fresh process: threadpoolctl lets only the first thread that sets an
# OpenBLAS limit change it later, so a test process whose main thread already limited BLAS
# could not show a worker thread's mistake.

_BLAS_PRELUDE = """
import threading
import numpy as np, scipy.sparse as sp, threadpoolctl
import fastmf
from fastmf._threads import single_threaded_blas
def blas():
    return [p["num_threads"] for p in threadpoolctl.threadpool_info()
            if p["user_api"] == "blas"]
before = blas()
assert before and min(before) > 1, before
"""

_BLAS_CASES = {
    # thread A enters, B enters, A leaves and ends, B leaves
    "overlap": """
a_in, a_done = threading.Event(), threading.Event()
def a():
    with single_threaded_blas():
        a_in.set()
        b_in.wait()
def b():
    a_in.wait()
    with single_threaded_blas():
        b_in.set()
        a_thread.join()
b_in = threading.Event()
a_thread, b_thread = threading.Thread(target=a), threading.Thread(target=b)
a_thread.start(); b_thread.start(); b_thread.join()
""",
    # the main thread enters first, a worker leaves last
    "main-first": """
t_in, release = threading.Event(), threading.Event()
def t():
    with single_threaded_blas():
        t_in.set()
        release.wait()
with single_threaded_blas():
    worker = threading.Thread(target=t); worker.start(); t_in.wait()
release.set(); worker.join()
""",
    # the reproducer: two threads calling recommend at once
    "recommend": """
rng = np.random.default_rng(0)
X = sp.random(300, 2000, density=0.05, random_state=0, format="csr")
model = fastmf.MatrixFactorization(16, epochs=1).fit(X)
def work():
    for _ in range(300):
        model.recommend(np.arange(50), n=5)
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
""",
}


@pytest.mark.parametrize("case", sorted(_BLAS_CASES))
def test_blas_limits_are_restored_exactly_under_concurrency(case, tmp_path):
    code = (_BLAS_PRELUDE + _BLAS_CASES[case]
            + "\nprint('restored' if blas() == before else f'stuck: {before} -> {blas()}')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    if "AssertionError" in result.stderr:
        pytest.skip("BLAS runs on one thread here: a stuck limit cannot show")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "restored"


def test_single_threaded_blas_nests_and_limits_in_its_thread():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = [p["num_threads"] for p in threadpoolctl.threadpool_info()
                  if p["user_api"] == "blas"]
        with single_threaded_blas(), single_threaded_blas():
            inside = {p["num_threads"] for p in threadpoolctl.threadpool_info()
                      if p["user_api"] == "blas"}
        after = [p["num_threads"] for p in threadpoolctl.threadpool_info()
                 if p["user_api"] == "blas"]
    assert not before or inside == {1}
    assert after == before
