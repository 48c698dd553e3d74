/*
 * Dense kernels of the ALS row solve that BLAS/LAPACK serve badly at ALS sizes.
 *
 * For one k x k system (k ~ 16..128) OpenBLAS potrf and syrk cost tens of microseconds a
 * call in bookkeeping, more than the arithmetic; a plain right-looking Cholesky and
 * rank-1 updates, with every inner loop a contiguous axpy, are several times faster.
 * The portable build targets the baseline ISA (SSE2 on x86-64), which leaves most of a
 * modern core idle on these loops, so with GCC on x86-64 Linux each function is also
 * compiled for AVX2+FMA and AVX-512 and the best clone is picked once at load time
 * (`target_clones`, an ifunc).  Every clone does the same operations in the same order,
 * so results do not depend on the thread that runs them; they may differ in the last bit
 * between CPUs that pick different clones.
 *
 * Matrices are row-major d x d and only their upper triangle (j >= i) is read.  The
 * updates of row i start at column i rounded down to a multiple of 16 rather than at i:
 * the few extra entries written are in the (unused) lower triangle, and every inner loop
 * then runs whole vectors with no scalar remainder, which at these short lengths was
 * most of the cost.  The buffers are 64-byte aligned.
 */
#ifndef FASTMF_CHOL_H
#define FASTMF_CHOL_H

#include <math.h>

#include "fastmf_common.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#  define FMF_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#  define FMF_CLONES
#endif

/* CG (the ALS row's other solver) stops early once the squared residual norm is below
 * this. */
#define FMF_CG_TINY 1e-20

#define FMF_ROW_START(i) ((i) & ~15)

#define FMF_DEFINE_CHOL(T, SUFFIX, SQRT)                                                   \
    /* A += z z^T on the upper triangle. */                                                \
    FMF_CLONES static void fmf_syr_upper_##SUFFIX(T *FMF_RESTRICT a, int d,          \
                                                   const T *FMF_RESTRICT z)           \
    {                                                                                      \
        for (int i = 0; i < d; ++i) {                                                      \
            const T f = z[i];                                                              \
            T *ai = a + (long)i * d;                                                       \
            for (int c = FMF_ROW_START(i); c < d; ++c) ai[c] += f * z[c];                  \
        }                                                                                  \
    }                                                                                      \
    /* In place A = U^T U (U upper).  diag: A's diagonal before the factorisation.         \
     * Returns FMF_STATUS_OK, FMF_STATUS_NOT_PD if a pivot is not > eps * diag, or         \
     * FMF_STATUS_NONFINITE if a pivot is not finite (fastmf_common.h). */                 \
    FMF_CLONES static int fmf_chol_upper_##SUFFIX(T *a, int d, const T *diag, T eps)        \
    {                                                                                      \
        for (int j = 0; j < d; ++j) {                                                      \
            T *uj = a + (long)j * d;                                                       \
            T piv = uj[j];                                                                 \
            if (!(piv > eps * diag[j]))                                                    \
                return isfinite(piv) ? FMF_STATUS_NOT_PD : FMF_STATUS_NONFINITE;           \
            piv = SQRT(piv);                                                               \
            uj[j] = piv;                                                                   \
            const T inv = 1 / piv;                                                         \
            for (int c = j + 1; c < d; ++c) uj[c] *= inv;                                  \
            for (int i = j + 1; i < d; ++i) {  /* A[i, i:] -= U[j, i] U[j, i:] */          \
                const T f = uj[i];                                                         \
                T *ai = a + (long)i * d;                                                   \
                for (int c = FMF_ROW_START(i); c < d; ++c) ai[c] -= f * uj[c];             \
            }                                                                              \
        }                                                                                  \
        return FMF_STATUS_OK;                                                              \
    }                                                                                      \
    /* b <- (U^T U)^{-1} b. */                                                             \
    FMF_CLONES static void fmf_chol_solve_##SUFFIX(const T *u, int d, T *b)                \
    {                                                                                      \
        for (int j = 0; j < d; ++j) {      /* U^T y = b */                                 \
            const T *uj = u + (long)j * d;                                                 \
            const T y = b[j] / uj[j];                                                      \
            b[j] = y;                                                                      \
            for (int c = j + 1; c < d; ++c) b[c] -= y * uj[c];                             \
        }                                                                                  \
        for (int j = d - 1; j >= 0; --j) { /* U x = y */                                   \
            const T *uj = u + (long)j * d;                                                 \
            T acc = b[j];                                                                  \
            for (int c = j + 1; c < d; ++c) acc -= uj[c] * b[c];                           \
            b[j] = acc / uj[j];                                                            \
        }                                                                                  \
    }

FMF_DEFINE_CHOL(float, f, sqrtf)
FMF_DEFINE_CHOL(double, d, sqrt)

#endif /* FASTMF_CHOL_H */
