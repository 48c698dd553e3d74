"""Thread-count rules shared by every solver."""

from __future__ import annotations

import numbers
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from ._kernels import _parallel


def effective_n_threads(num_threads: int | None) -> int:
    """Number of OpenMP threads a kernel call should use.

    ``None`` takes ``omp_get_max_threads()``, so ``OMP_NUM_THREADS`` and threadpoolctl
    apply; ``-1`` means every processor, ``-2`` all but one, and so on (never below 1);
    a positive integer is used as given; ``0`` is an error.  A build without OpenMP always
    runs on one thread.
    """
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral)
    ):
        raise TypeError(f"num_threads must be an int or None, got {num_threads!r}")
    if num_threads == 0:
        raise ValueError("num_threads=0 is not valid: use None (default), -1 (all) or >= 1")
    if not _parallel.openmp_enabled():
        return 1
    if num_threads is None:
        return max(1, _parallel.max_threads())
    if num_threads < 0:
        return max(1, _parallel.num_procs() + 1 + int(num_threads))
    return int(num_threads)


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


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Keep BLAS/LAPACK on one thread while kernels call it from OpenMP threads, so the two
    thread pools do not oversubscribe the cores."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield
