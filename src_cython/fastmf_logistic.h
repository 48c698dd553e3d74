/*
 * The logistic loss of the SGD step, in C: inline, and free of branches on the data.
 *
 * fmf_exp_nonpositive_f: exp(x) for x <= 0 in float precision.  The float32 step needs
 * e = exp(-|s|) for every rating, on the chain of dependent operations that links one
 * user's consecutive updates.  A call to expf costs more than its own latency there:
 * every vector register is call-clobbered, so what the update keeps in registers is
 * spilled around the call.  This version is a few multiply-adds, inlined:
 *
 *   n = round(x / ln 2),  r = x - n ln 2 in [-ln2/2, ln2/2]  (Cody-Waite: ln 2 split in a
 *   9-bit head, so that n * head is exact, and a tail),  exp(x) = 2^n * p(r),
 *
 * with p a degree-6 polynomial fitted to exp on that interval (relative error 1.9e-9),
 * evaluated in Estrin's scheme (three dependent multiply-adds after r * r).  The rounding
 * of n uses the 1.5 * 2^23 trick, which also leaves n in the low bits.  Arguments below
 * -87 are taken as -87 (exp(-87) = 1.6e-38: 2^n stays a normal number).  NaN gives NaN.
 * Measured on every float in [-87, 0] against exp in double precision, with and without
 * fused multiply-adds: at most 1.9 ulp (relative error 1.7e-7).  The double-precision
 * step keeps libm's exp.  Predictions never use this: they take the exact sigmoid
 * (_losses.pxd).
 */
#ifndef FASTMF_LOGISTIC_H
#define FASTMF_LOGISTIC_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#  define FMF_EXP_INLINE static __forceinline
#else
#  define FMF_EXP_INLINE static inline __attribute__((always_inline))
#endif

FMF_EXP_INLINE float fmf_exp_nonpositive_f(float x)
{
    const float magic = 12582912.0f;            /* 1.5 * 2^23 */
    const float log2e = 1.44269502f;
    const float ln2_hi = 0.693359375f;          /* 9 significant bits */
    const float ln2_lo = -2.12194440e-4f;
    if (x != x) return x;                       /* NaN */
    x = x > -87.0f ? x : -87.0f;
    float t = x * log2e + magic;                /* round to nearest: n in the low bits */
    float n = t - magic;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    int32_t ni = (int32_t)(bits - 0x4B400000u); /* n, in [-126, 0] */
    float r = x - n * ln2_hi;                   /* exact */
    r = r - n * ln2_lo;
    float r2 = r * r;
    float lo = (1.0f + r) + r2 * (0.49999991059303284f + r * 0.1666642129421234f);
    float hi = (0.0416683591902256f + r * 0.008374771103262901f)
               + r2 * 0.0013829420786350965f;
    float p = lo + (r2 * r2) * hi;
    uint32_t scale_bits = (uint32_t)(ni + 127) << 23;
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

/* g = y - sigmoid(s), the logistic loss's negative gradient, with *e = exp(-|s|) and
 * *pos = max(s, 0) for its value log(1 + e) + pos - y s.  sigmoid(s) = h / (1 + e) with
 * h = 1 for s >= 0 and h = e for s < 0, that is h = max(e, [s >= 0]) since e <= 1: no
 * branch on the sign of s, a coin flip for the branch predictor (written as a select,
 * GCC made it a branch, and one logistic epoch on synth 1M, k=32, spent about 2 of its
 * 12 ms in mispredictions).  In float precision, with fmf_exp_nonpositive_f, the result
 * is within 2.4e-7 relative (3.5 ulp) of the exact sigmoid for s >= -87, and within
 * 2e-38 absolute below (measured; tests/test_losses.py checks both bounds). */
#define FMF_DEFINE_LOGISTIC(T, SUFFIX, EXP, ABS)                                           \
    FMF_EXP_INLINE T fmf_logistic_grad_##SUFFIX(T y, T s, T *e_out, T *pos_out)            \
    {                                                                                      \
        T e = EXP(-ABS(s));                                                                \
        T d = (T)1 / ((T)1 + e);                                                           \
        T step = (T)(s >= 0);                                                              \
        T h = e > step ? e : step;                                                         \
        *e_out = e;                                                                        \
        *pos_out = s > 0 ? s : (T)0;                                                       \
        return y - d * h;                                                                  \
    }

FMF_DEFINE_LOGISTIC(float, f, fmf_exp_nonpositive_f, fabsf)
FMF_DEFINE_LOGISTIC(double, d, exp, fabs)

#endif /* FASTMF_LOGISTIC_H */
