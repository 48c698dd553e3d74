/* What every fastmf kernel shares in C: the restrict qualifier, the 64-byte aligned
 * allocator of per-thread scratch, and the status codes the kernels return.
 *
 * Header-only, behind include guards: any number of fastmf's .pxd files (and an
 * embedder's own code) may include it in one translation unit.  The status codes are
 * exported to Python by the kernel modules (their STATUS dictionaries), never copied.
 */
#ifndef FASTMF_COMMON_H
#define FASTMF_COMMON_H

#include <stdlib.h>
#if defined(_MSC_VER)
#  include <malloc.h>
#endif

/* Pointers that never alias, so that the compiler may keep values in registers. */
#if defined(_MSC_VER) && !defined(__clang__)
#  define FMF_RESTRICT __restrict
#else
#  define FMF_RESTRICT restrict
#endif

/* n bytes aligned to 64 (a cache line, an AVX-512 vector), or NULL. */
static inline void *fmf_aligned_alloc(size_t n) {
#if defined(_MSC_VER)
    return _aligned_malloc(n, 64);
#else
    void *p = NULL;
    return posix_memalign(&p, 64, n) == 0 ? p : NULL;
#endif
}

/* Release a block from fmf_aligned_alloc (NULL is ignored). */
static inline void fmf_aligned_free(void *p) {
#if defined(_MSC_VER)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* Status codes of the kernels: 0 is success, each failure has one code everywhere. */
enum fmf_status {
    FMF_STATUS_OK = 0,
    FMF_STATUS_NOT_PD = 1,      /* a linear system is not (numerically) positive definite */
    FMF_STATUS_NONFINITE = 2,   /* a non-finite value appeared */
    FMF_STATUS_NOMEM = 3,       /* scratch memory could not be allocated */
    FMF_STATUS_DUPLICATE = 4    /* the ratings hold a (row, column) pair twice */
};

#endif /* FASTMF_COMMON_H */
