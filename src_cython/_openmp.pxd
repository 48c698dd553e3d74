# OpenMP shim (header-only).  Every omp_* call in fastmf goes through here, so the kernels
# build and run serially when the compiler has no OpenMP: the fallbacks below then apply.
# Thread ids inside prange come from cython.parallel.threadid(), which Cython already guards.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTMF_OPENMP 1
    #else
    #define FASTMF_OPENMP 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_num_procs(void) { return 1; }
    #endif
    """
    const int FASTMF_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_procs() noexcept nogil
