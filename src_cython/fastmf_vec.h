/*
 * Small vector helpers for the fastmf kernels.
 *
 * A float dot product only vectorises when the compiler may reassociate the sum.  We allow
 * that for these loops alone with `#pragma omp simd reduction`, instead of -ffast-math for
 * the whole build (which would also break NaN/inf checks); fmf_dot_tree writes the
 * reassociation out instead.  The pragmas need -fopenmp or -fopenmp-simd (setup.py passes
 * one of them); without either they are ignored and the loops stay correct, only slower.
 *
 * `restrict` tells the compiler that the two factor rows never overlap: every caller passes
 * one row of the user matrix and one row of the item matrix.
 */
#ifndef FASTMF_VEC_H
#define FASTMF_VEC_H

#if defined(_MSC_VER) && !defined(__clang__)
#  define FMF_RESTRICT __restrict
#  define FMF_SIMD
#  define FMF_SIMD_SUM(var)
#  define FMF_INLINE static __forceinline
#else
#  define FMF_RESTRICT restrict
#  define FMF_INLINE static inline __attribute__((always_inline))
#  define FMF_PRAGMA(x) _Pragma(#x)
#  define FMF_SIMD FMF_PRAGMA(omp simd)
#  define FMF_SIMD_SUM(var) FMF_PRAGMA(omp simd reduction(+:var))
#endif

/* Ask for the cache line holding p, for writing (the kernels prefetch factor rows a
 * few steps before they read and update them). */
#if defined(__GNUC__) || defined(__clang__)
#  define fmf_prefetch(p) __builtin_prefetch((p), 1, 3)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#  include <xmmintrin.h>
#  define fmf_prefetch(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#  define fmf_prefetch(p) ((void)(p))
#endif

/* Partial sums of the dot product: one 64-byte vector of lanes (16 floats, 8 doubles).
 * Wider sets of lanes (128 bytes) were faster only at a compile-time k of 128 with
 * AVX-512, and much slower with a run-time length in every build. */
#define FMF_DOT_BYTES 64

/* acc[0:w] += acc[w:2w], one level of the dot product's summation tree. */
#define FMF_FOLD(acc, w)                                                                   \
    FMF_SIMD                                                                               \
    for (int l = 0; l < (w); ++l) acc[l] += acc[l + (w)];

/* Body of fmf_dot_tree (a, b, n in scope). */
#define FMF_DOT_BODY(T)                                                                    \
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
        if (L >= 16) { FMF_FOLD(acc, 8) }                                                  \
        FMF_FOLD(acc, 4)                                                                   \
        FMF_FOLD(acc, 2)                                                                   \
        return acc[0] + acc[1];

#define FMF_DEFINE_VEC(T, SUFFIX)                                                          \
    /* sum_f a[f] * b[f] (the compiler vectorises it and chooses the summation order). */ \
    static inline T fmf_dot_##SUFFIX(const T *FMF_RESTRICT a, const T *FMF_RESTRICT b,     \
                                     int n)                                                \
    {                                                                                      \
        T acc = 0;                                                                         \
        FMF_SIMD_SUM(acc)                                                                  \
        for (int f = 0; f < n; ++f) acc += a[f] * b[f];                                    \
        return acc;                                                                        \
    }                                                                                      \
    /* sum_f a[f] * b[f] for the SGD update, forced inline so that a constant n unrolls.  \
     * Product f goes to partial sum f % L, and the L lanes are added as a tree, in the    \
     * same order in every build.  The lanes are independent, so the loops vectorise      \
     * without reassociation, and the horizontal sum takes log2(L) steps, where the       \
     * reduction of fmf_dot (a serial lane-by-lane sum in GCC's code) was the longest     \
     * part of the update's chain of dependent operations.  (Inlined into loops over many \
     * rows with a run-time n, GCC vectorised this one across the outer loop, badly:      \
     * those loops use fmf_dot.) */                                                       \
    FMF_INLINE T fmf_dot_tree_##SUFFIX(const T *FMF_RESTRICT a, const T *FMF_RESTRICT b,   \
                                       int n)                                              \
    {                                                                                      \
        FMF_DOT_BODY(T)                                                                    \
    }                                                                                      \
    /* out <- G p for a symmetric n x n row-major G, as n axpys of its rows: no           \
     * horizontal sums, and with `restrict` the compiler keeps out in registers. */       \
    FMF_INLINE void fmf_symv_##SUFFIX(const T *FMF_RESTRICT g, const T *FMF_RESTRICT p,    \
                                      T *FMF_RESTRICT out, int n)                          \
    {                                                                                      \
        FMF_SIMD                                                                           \
        for (int f = 0; f < n; ++f) out[f] = 0;                                            \
        for (int b = 0; b < n; ++b) {                                                      \
            const T pb = p[b];                                                             \
            const T *gb = g + (long)b * n;                                                 \
            FMF_SIMD                                                                       \
            for (int f = 0; f < n; ++f) out[f] += pb * gb[f];                              \
        }                                                                                  \
    }                                                                                      \
    /* out <- out + sum_j (a_j + sign w_j z_j.p) z_j over the m rows z_j of z (n entries \
     * each, row-major); a = NULL stands for a_j = 0.  One pass over z: each row serves   \
     * its dot product and its axpy while it is in L1. */                                 \
    FMF_INLINE void fmf_rows_apply_##SUFFIX(const T *FMF_RESTRICT z, long m, int n,        \
                                            const T *a, T sign, const T *w,                \
                                            const T *FMF_RESTRICT p, T *FMF_RESTRICT out)  \
    {                                                                                      \
        for (long j = 0; j < m; ++j) {                                                     \
            const T *zj = z + j * n;                                                       \
            T c = sign * w[j] * fmf_dot_tree_##SUFFIX(zj, p, n);                           \
            if (a) c = a[j] + c;                                                           \
            FMF_SIMD                                                                       \
            for (int f = 0; f < n; ++f) out[f] += c * zj[f];                               \
        }                                                                                  \
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
