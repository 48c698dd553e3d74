/*
 * Small vector helpers for the fastmf kernels.
 *
 * A float dot product only vectorises when the compiler may reassociate the sum.  We allow
 * that for these loops alone with `#pragma omp simd reduction`, instead of -ffast-math for
 * the whole build (which would also break NaN/inf checks).  The pragma needs -fopenmp or
 * -fopenmp-simd (setup.py passes one of them); without either it is ignored and the loops
 * stay correct, only slower.
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
#else
#  define FMF_RESTRICT restrict
#  define FMF_PRAGMA(x) _Pragma(#x)
#  define FMF_SIMD FMF_PRAGMA(omp simd)
#  define FMF_SIMD_SUM(var) FMF_PRAGMA(omp simd reduction(+:var))
#endif

#define FMF_DEFINE_VEC(T, SUFFIX)                                                          \
    /* sum_f a[f] * b[f] */                                                                \
    static inline T fmf_dot_##SUFFIX(const T *FMF_RESTRICT a, const T *FMF_RESTRICT b,     \
                                     int n)                                                \
    {                                                                                      \
        T acc = 0;                                                                         \
        FMF_SIMD_SUM(acc)                                                                  \
        for (int f = 0; f < n; ++f) acc += a[f] * b[f];                                    \
        return acc;                                                                        \
    }                                                                                      \
    /* Simultaneous step on two rows, each using the other's value from before the step:   \
     *   p <- decay * p + step * q_old                                                     \
     *   q <- decay * q + step * p_old                                                     \
     */                                                                                    \
    static inline void fmf_pair_step_##SUFFIX(T *FMF_RESTRICT p, T *FMF_RESTRICT q, int n, \
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
