# Run-time facts about the OpenMP build, for fastmf.show_config() and the thread helper.
from cython.parallel cimport prange, threadid

from _openmp cimport FASTMF_OPENMP, omp_get_max_threads, omp_get_num_procs

cdef extern from *:
    """
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static int fmf_cpu_has_avx2_fma(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    /* The AVX-512 subsets the *_avx512 modules are built for (see setup.py). */
    static int fmf_cpu_has_avx512(void) {
        __builtin_cpu_init();
        return fmf_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    }
    #elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_AMD64))
    #include <intrin.h>
    static int fmf_cpu_has_avx2_fma(void) {
        int r[4];
        __cpuid(r, 0);
        if (r[0] < 7) return 0;
        __cpuid(r, 1);
        int fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
        if (!(fma && osxsave && avx)) return 0;
        if ((_xgetbv(0) & 6) != 6) return 0;    /* the OS saves the YMM registers */
        __cpuidex(r, 7, 0);
        return (r[1] >> 5) & 1;                  /* AVX2 */
    }
    static int fmf_cpu_has_avx512(void) {
        int r[4];
        if (!fmf_cpu_has_avx2_fma()) return 0;
        if ((_xgetbv(0) & 0xE6) != 0xE6) return 0;   /* the OS saves the ZMM state */
        __cpuidex(r, 7, 0);
        /* F (16), DQ (17), CD (28), BW (30), VL (31) */
        return ((r[1] >> 16) & 1) && ((r[1] >> 17) & 1) && ((r[1] >> 28) & 1)
            && ((r[1] >> 30) & 1) && ((r[1] >> 31) & 1);
    }
    #else
    static int fmf_cpu_has_avx2_fma(void) { return 0; }
    static int fmf_cpu_has_avx512(void) { return 0; }
    #endif
    """
    int fmf_cpu_has_avx2_fma() noexcept nogil
    int fmf_cpu_has_avx512() noexcept nogil

import numpy as np


def openmp_enabled():
    """True if the kernels were compiled with OpenMP."""
    return bool(FASTMF_OPENMP)


def cpu_has_avx2_fma():
    """True if this CPU (and OS) can run the kernels built for AVX2 + FMA."""
    return bool(fmf_cpu_has_avx2_fma())


def cpu_has_avx512():
    """True if this CPU (and OS) can run the kernels built for AVX-512 (F, CD, VL, BW,
    DQ)."""
    return bool(fmf_cpu_has_avx512())


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
