"""Thread-count rules shared by every solver, and the process-wide BLAS limit."""

from __future__ import annotations

import numbers
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController

from ._kernels import _parallel

# Floor of the thread cap: enough for any reproducibility check or small container.
_MIN_THREAD_CAP = 64
# Threads per processor beyond which a kernel only oversubscribes the machine.
_THREADS_PER_PROC = 4


def max_threads() -> int:
    """The most OpenMP threads a fastmf kernel starts on this machine:
    ``max(64, 4 * processors)``.  Larger requests are clamped to it (with a warning): the
    kernels gain nothing from more threads than that, while tens of thousands of threads
    make the OpenMP runtime abort the whole process."""
    return max(_MIN_THREAD_CAP, _THREADS_PER_PROC * int(_parallel.num_procs()))


def _clamped(n: int, source: str) -> int:
    cap = max_threads()
    if n > cap:
        warnings.warn(
            f"{source} asks for {n} threads; fastmf uses at most {cap} on this machine "
            f"(4 per processor, at least 64) and runs with {cap}",
            RuntimeWarning, stacklevel=3)
        return cap
    return n


def check_num_threads(num_threads: object) -> int | None:
    """``num_threads`` checked for type and value (``None``, ``-1`` ... or ``n >= 1``),
    without resolving or clamping it."""
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral)
    ):
        raise TypeError(f"num_threads must be an int or None, got {num_threads!r}")
    if num_threads == 0:
        raise ValueError("num_threads=0 is not valid: use None (default), -1 (all) or >= 1")
    return None if num_threads is None else int(num_threads)


def effective_n_threads(num_threads: int | None) -> int:
    """Number of OpenMP threads a kernel call should use.

    ``None`` takes ``omp_get_max_threads()``, so ``OMP_NUM_THREADS`` and threadpoolctl
    apply; ``-1`` means every processor, ``-2`` all but one, and so on (never below 1);
    a positive integer is used as given; ``0`` is an error.  Whatever the source, the
    count is clamped to :func:`max_threads` with a ``RuntimeWarning``.  A build without
    OpenMP always runs on one thread.
    """
    check_num_threads(num_threads)
    if not _parallel.openmp_enabled():
        return 1
    if num_threads is None:
        return _clamped(max(1, int(_parallel.max_threads())),
                        "OMP_NUM_THREADS (or a threadpoolctl limit)")
    if num_threads < 0:
        return max(1, int(_parallel.num_procs()) + 1 + int(num_threads))
    return _clamped(int(num_threads), f"num_threads={int(num_threads)}")


# Multiply-adds below which one more OpenMP thread costs more (start-up and join, and
# waiting for a core on a busy machine) than it saves.
WORK_PER_THREAD = 1 << 17


def threads_for(n_threads: int, work: int) -> int:
    """At most ``n_threads``, and no more than one thread per ``WORK_PER_THREAD``
    multiply-adds of ``work``: small calls (a few predictions, one user's top-k) run on
    one thread instead of paying for a parallel region."""
    return max(1, min(n_threads, int(work) // WORK_PER_THREAD))


_controller: ThreadpoolController | None = None
_controller_lock = threading.Lock()


def _blas_controller() -> ThreadpoolController:
    """threadpoolctl's view of the loaded thread pools, taken once: inspecting the
    process's libraries costs milliseconds, which a small ``recommend`` call must not pay
    every time.  The BLAS the kernels call (SciPy's) is loaded with ``fastmf._kernels``,
    so it is always in this view."""
    global _controller
    with _controller_lock:
        if _controller is None:
            _controller = ThreadpoolController()
        return _controller


# BLAS thread limits are process-wide, and threadpoolctl (>= 3.6) lets only one thread
# change an OpenBLAS limit, so a limit must be set and restored by the same thread, and
# its "original" must never be another caller's 1.  Hence: the first thread to enter
# while no limit of ours is active sets it (recording the true original), and that same
# thread restores it when it leaves; threads that enter meanwhile only count themselves.
# If the setter leaves first, the others finish their call with BLAS as it originally was
# (possibly multi-threaded: slower, never wrong) and nothing is left limited.
_blas_lock = threading.Lock()
_blas_depth: dict[int, int] = {}           # thread id -> nesting depth inside
_blas_setter: tuple[int, Any] | None = None         # (thread id, its limiter)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Keep BLAS/LAPACK on one thread while kernels call it from OpenMP threads, so the two
    thread pools do not oversubscribe the cores.

    Safe to nest and to enter from several threads at once: when every caller has left,
    the BLAS limits are exactly what they were before the first one entered.
    """
    global _blas_setter
    me = threading.get_ident()
    with _blas_lock:
        _blas_depth[me] = _blas_depth.get(me, 0) + 1
        if _blas_setter is None:
            _blas_setter = (me, _blas_controller().limit(limits=1, user_api="blas"))
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth[me] -= 1
            if _blas_depth[me] == 0:
                del _blas_depth[me]
                if _blas_setter is not None and _blas_setter[0] == me:
                    _blas_setter[1].restore_original_limits()
                    _blas_setter = None
