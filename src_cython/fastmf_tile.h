/*
 * Score tiles for the top-n kernel: rows x items dot products, register-blocked.
 *
 * The candidate items are packed once per call into panels of FMF_PANEL(T) items, each
 * stored factor-major (panel p, factor f, item j at ((p * k) + f) * W + j), so that the
 * inner loop reads W consecutive values per factor.  fmf_score_block computes an
 * FMF_BLOCK_ROWS x W block of scores with every partial sum in a register: per factor
 * it broadcasts one value of each query row and does FMF_BLOCK_ROWS x W / lanes fused
 * multiply-adds.  Written in plain C with constant trip counts, the compiler vectorises
 * and unrolls it for the target of the build; on a Zen 5 core the AVX-512 build reaches
 * ~250 GFLOP/s (the FMA units' peak), where OpenBLAS's sgemm, which picks its AVX2
 * kernels on that CPU, computes the same scores at a third of that.
 *
 * Each score is summed over the factors in order, the same in every build, so the
 * result does not depend on the tiling or the thread count (only on whether the build
 * contracts multiply-adds into FMAs).
 */
#ifndef FASTMF_TILE_H
#define FASTMF_TILE_H

#include <stdint.h>
#include <string.h>
#if defined(_MSC_VER) && !defined(__clang__)
#  include <intrin.h>
#endif

/* Index of the lowest set bit of x != 0. */
static inline int fmf_ctz32(uint32_t x)
{
#if defined(_MSC_VER) && !defined(__clang__)
    unsigned long i;
    _BitScanForward(&i, x);
    return (int)i;
#else
    return __builtin_ctz(x);
#endif
}

/* Bytes of items per panel (two vectors of the target) and query rows per block. */
#if defined(__AVX512F__)
#  define FMF_PANEL_BYTES 128
#  define FMF_BLOCK_ROWS 6
#elif defined(__AVX2__)
#  define FMF_PANEL_BYTES 64
#  define FMF_BLOCK_ROWS 6
#else
#  define FMF_PANEL_BYTES 32
#  define FMF_BLOCK_ROWS 4
#endif
#define FMF_PANEL(T) ((int)(FMF_PANEL_BYTES / sizeof(T)))

#if defined(_MSC_VER) && !defined(__clang__)
#  define FMF_TILE_RESTRICT __restrict
#  define FMF_TILE_INLINE static __forceinline
#  define FMF_TILE_SIMD
#  define FMF_TILE_SIMD_OR(var)
#else
#  define FMF_TILE_RESTRICT restrict
#  define FMF_TILE_INLINE static inline __attribute__((always_inline))
#  define FMF_TILE_PRAGMA(x) _Pragma(#x)
#  define FMF_TILE_SIMD FMF_TILE_PRAGMA(omp simd)
#  define FMF_TILE_SIMD_OR(var) FMF_TILE_PRAGMA(omp simd reduction(|:var))
#endif

#define FMF_DEFINE_TILE(T, SUFFIX)                                                         \
    /* Pack items (n x k, row-major) into panels (n rounded up to the panel width; the   \
     * padding items are zero), and their biases into out_bias (padded with zeros). */    \
    static void fmf_pack_panels_##SUFFIX(const T *FMF_TILE_RESTRICT items,                 \
                                         const T *FMF_TILE_RESTRICT bias, long n, int k,   \
                                         T *FMF_TILE_RESTRICT out,                         \
                                         T *FMF_TILE_RESTRICT out_bias)                    \
    {                                                                                      \
        const int w = FMF_PANEL(T);                                                        \
        const long panels = (n + w - 1) / w;                                               \
        memset(out, 0, (size_t)panels * k * w * sizeof(T));                                \
        memset(out_bias, 0, (size_t)panels * w * sizeof(T));                               \
        memcpy(out_bias, bias, (size_t)n * sizeof(T));                                     \
        for (long c = 0; c < n; ++c) {                                                     \
            T *dst = out + (c / w) * (long)k * w + c % w;                                  \
            const T *src = items + c * (long)k;                                            \
            for (int f = 0; f < k; ++f) dst[(long)f * w] = src[f];                         \
        }                                                                                  \
    }                                                                                      \
    /* c[r * ldc + j] = bias[j] + sum_f a[r * k + f] * panel[f * W + j] for              \
     * FMF_BLOCK_ROWS rows and the W items of one panel. */                               \
    FMF_TILE_INLINE void fmf_score_block_##SUFFIX(const T *FMF_TILE_RESTRICT a,            \
                                                  const T *FMF_TILE_RESTRICT panel,        \
                                                  const T *FMF_TILE_RESTRICT bias, int k,  \
                                                  T *FMF_TILE_RESTRICT c, long ldc)        \
    {                                                                                      \
        enum { W = FMF_PANEL(T), R = FMF_BLOCK_ROWS };                                     \
        T acc[R][W];                                                                       \
        for (int r = 0; r < R; ++r)                                                        \
            for (int j = 0; j < W; ++j) acc[r][j] = 0;                                     \
        for (int f = 0; f < k; ++f) {                                                      \
            const T *q = panel + (long)f * W;                                              \
            for (int r = 0; r < R; ++r) {                                                  \
                const T u = a[(long)r * k + f];                                            \
                FMF_TILE_SIMD                                                              \
                for (int j = 0; j < W; ++j) acc[r][j] += u * q[j];                         \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < R; ++r)                                                        \
            for (int j = 0; j < W; ++j) c[(long)r * ldc + j] = acc[r][j] + bias[j];        \
    }                                                                                      \
    /* Scores of a rows x items tile, item biases included: c[r * ldc + j] for r < nr    \
     * (a: nr rows of k, rounded up to FMF_BLOCK_ROWS with zero rows) and j < n_panels *  \
     * W (the tile's panels, and bias their packed biases). */                            \
    static void fmf_score_tile_##SUFFIX(const T *FMF_TILE_RESTRICT a, int nr,              \
                                        const T *FMF_TILE_RESTRICT panels,                 \
                                        const T *FMF_TILE_RESTRICT bias, int n_panels,     \
                                        int k, T *FMF_TILE_RESTRICT c, long ldc)           \
    {                                                                                      \
        const int w = FMF_PANEL(T);                                                        \
        for (int r = 0; r < nr; r += FMF_BLOCK_ROWS)                                       \
            for (int p = 0; p < n_panels; ++p)                                             \
                fmf_score_block_##SUFFIX(a + (long)r * k, panels + (long)p * k * w,        \
                                         bias + (long)p * w, k,                            \
                                         c + (long)r * ldc + (long)p * w, ldc);            \
    }                                                                                      \
    /* Bit i set where s[i] > t, for the 32 scores of one group (NaN is never above):  \
     * a vector compare per group; the selection then visits only the set bits. */        \
    FMF_TILE_INLINE uint32_t fmf_mask_above_##SUFFIX(const T *FMF_TILE_RESTRICT s, T t)    \
    {                                                                                      \
        uint32_t m = 0;                                                                    \
        FMF_TILE_SIMD_OR(m)                                                                \
        for (int i = 0; i < 32; ++i) m |= (uint32_t)(s[i] > t) << i;                       \
        return m;                                                                          \
    }

FMF_DEFINE_TILE(float, f)
FMF_DEFINE_TILE(double, d)

#endif /* FASTMF_TILE_H */
