# OpenMP shim (header-only).  Every omp_* call in fastmf goes through here, so the kernels
# build and run serially when the compiler has no OpenMP: the fallbacks below then apply
# (one thread; locks that are never contended).  Thread ids inside prange come from
# cython.parallel.threadid(), which Cython already guards.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTMF_OPENMP 1
    #else
    #define FASTMF_OPENMP 0
    typedef int omp_lock_t;
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_num_procs(void) { return 1; }
    static inline void omp_init_lock(omp_lock_t *lock) { *lock = 0; }
    static inline void omp_destroy_lock(omp_lock_t *lock) { (void)lock; }
    static inline void omp_set_lock(omp_lock_t *lock) { (void)lock; }
    static inline void omp_unset_lock(omp_lock_t *lock) { (void)lock; }
    #endif

    /* Give the core away while waiting for another thread (no busy spinning on a
       machine that may have fewer free cores than threads). */
    #if defined(_WIN32)
    #include <windows.h>
    static inline void fmf_yield(void) { SwitchToThread(); }
    #else
    #include <sched.h>
    static inline void fmf_yield(void) { sched_yield(); }
    #endif

    /* One step of a short busy wait: tells the core that this is a spin loop. */
    #if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    #include <intrin.h>
    static inline void fmf_pause(void) { _mm_pause(); }
    #elif (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static inline void fmf_pause(void) { __builtin_ia32_pause(); }
    #elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    static inline void fmf_pause(void) { __asm__ __volatile__("yield"); }
    #else
    static inline void fmf_pause(void) { }
    #endif
    """
    ctypedef struct omp_lock_t:
        pass
    const int FASTMF_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_procs() noexcept nogil
    void omp_init_lock(omp_lock_t *lock) noexcept nogil
    void omp_destroy_lock(omp_lock_t *lock) noexcept nogil
    void omp_set_lock(omp_lock_t *lock) noexcept nogil
    void omp_unset_lock(omp_lock_t *lock) noexcept nogil
    void fmf_yield() noexcept nogil
    void fmf_pause() noexcept nogil
