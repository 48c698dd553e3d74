/*
 * Small vector helpers for the fastmf kernels.
 *
 * A float dot product only vectorises when the compiler may reassociate the sum.  Rather
 * than allow that (-ffast-math would also break NaN/inf checks), the dot product below
 * writes the reassociation out: fixed lanes of partial sums, added as a tree, so every
 * build vectorises it and sums in one documented order.  `#pragma omp simd` marks the
 * lane loops; it needs -fopenmp or -fopenmp-simd (setup.py passes one of them), without
 * either it is ignored and the loops stay correct.  The functions are forced inline: the
 * SGD kernel calls them with a constant length, and only inlined do they unroll.
 *
 * `restrict` tells the compiler that the two factor rows never overlap: every caller passes
 * one row of the user matrix and one row of the item matrix.
 */
#ifndef FASTMF_VEC_H
#define FASTMF_VEC_H

#if defined(_MSC_VER) && !defined(__clang__)
#  define FMF_RESTRICT __restrict
#  define FMF_SIMD
#  define FMF_INLINE static __forceinline
#else
#  define FMF_RESTRICT restrict
#  define FMF_INLINE static inline __attribute__((always_inline))
#  define FMF_PRAGMA(x) _Pragma(#x)
#  define FMF_SIMD FMF_PRAGMA(omp simd)
#endif

/* Partial sums of the dot product: 128 bytes of lanes where the target has 256-bit or
 * wider vectors (several independent accumulators per row), 64 bytes otherwise. */
#if defined(__AVX2__) || defined(__AVX512F__)
#  define FMF_DOT_BYTES 128
#else
#  define FMF_DOT_BYTES 64
#endif

/* acc[0:w] += acc[w:2w], one level of the dot product's summation tree. */
#define FMF_FOLD(acc, w)                                                                   \
    FMF_SIMD                                                                               \
    for (int l = 0; l < (w); ++l) acc[l] += acc[l + (w)];

#define FMF_DEFINE_VEC(T, SUFFIX)                                                          \
    /* sum_f a[f] * b[f].  Product f goes to partial sum f % L; the L lanes are then      \
     * added as a tree.  The lanes are independent, so the loops vectorise without        \
     * reassociation, and the horizontal sum takes log2(L) steps: a serial lane-by-lane   \
     * sum made this reduction the longest part of an SGD update's dependency chain. */   \
    FMF_INLINE T fmf_dot_##SUFFIX(const T *FMF_RESTRICT a, const T *FMF_RESTRICT b,     \
                                     int n)                                                \
    {                                                                                      \
        enum { L = FMF_DOT_BYTES / (int)sizeof(T) };                                       \
        T acc[L];                                                                          \
        int f = 0;                                                                         \
        FMF_SIMD                                                                           \
        for (int l = 0; l < L; ++l) acc[l] = 0;                                            \
        for (; f + L <= n; f += L) {                                                       \
            FMF_SIMD                                                                       \
            for (int l = 0; l < L; ++l) acc[l] += a[f + l] * b[f + l];                     \
        }                                                                                  \
        for (int l = 0; f + l < n; ++l) acc[l] += a[f + l] * b[f + l];                     \
        if (L >= 32) { FMF_FOLD(acc, 16) }                                                 \
        if (L >= 16) { FMF_FOLD(acc, 8) }                                                  \
        FMF_FOLD(acc, 4)                                                                   \
        FMF_FOLD(acc, 2)                                                                   \
        return acc[0] + acc[1];                                                            \
    }                                                                                      \
    /* Simultaneous step on two rows, each using the other's value from before the step:   \
     *   p <- decay * p + step * q_old                                                     \
     *   q <- decay * q + step * p_old                                                     \
     */                                                                                    \
    FMF_INLINE void fmf_pair_step_##SUFFIX(T *FMF_RESTRICT p, T *FMF_RESTRICT q, int n, \
                                              T decay, T step)                             \
    {                                                                                      \
        FMF_SIMD                                                                           \
        for (int f = 0; f < n; ++f) {                                                      \
            T pf = p[f];                                                                   \
            T qf = q[f];                                                                   \
            p[f] = decay * pf + step * qf;                                                 \
            q[f] = decay * qf + step * pf;                                                 \
        }                                                                                  \
    }

FMF_DEFINE_VEC(float, f)
FMF_DEFINE_VEC(double, d)

#endif /* FASTMF_VEC_H */
