# Run-time facts about the OpenMP build, for fastmf.show_config() and the thread helper.
from cython.parallel cimport prange, threadid

from _openmp cimport FASTMF_OPENMP, omp_get_max_threads, omp_get_num_procs

import numpy as np


def openmp_enabled():
    """True if the kernels were compiled with OpenMP."""
    return bool(FASTMF_OPENMP)


def max_threads():
    """omp_get_max_threads(): the default team size (honours OMP_NUM_THREADS and
    threadpoolctl).  1 in a serial build."""
    return omp_get_max_threads()


def num_procs():
    """Number of processors OpenMP sees (1 in a serial build)."""
    return omp_get_num_procs()


def threads_used(int num_threads):
    """Number of distinct threads that a `prange(num_threads=num_threads)` actually ran on.
    Lets tests check that thread counts reach the kernels."""
    cdef int n = 64 * num_threads
    cdef int[::1] ids = np.zeros(n, dtype=np.intc)
    cdef int j
    cdef double spin
    cdef int t
    with nogil:
        for j in prange(n, num_threads=num_threads, schedule="static", chunksize=1):
            ids[j] = threadid()
            spin = 0
            for t in range(10000):     # give every thread time to join
                spin = spin + t
            if spin < 0:
                ids[j] = -1
    return len(set(np.asarray(ids).tolist()))
