# Fused-type front end to fastmf_vec.h (header-only: cimported by bare name).
from cython cimport floating

cdef extern from "fastmf_vec.h" nogil:
    float fmf_dot_f(const float *a, const float *b, int n)
    double fmf_dot_d(const double *a, const double *b, int n)
    float fmf_dot_tree_f(const float *a, const float *b, int n)
    double fmf_dot_tree_d(const double *a, const double *b, int n)
    void fmf_pair_step_f(float *p, float *q, int n, float decay, float step)
    void fmf_pair_step_d(double *p, double *q, int n, double decay, double step)
    void fmf_prefetch(const void *p)
    void fmf_symv_f(const float *g, const float *p, float *out, int n)
    void fmf_symv_d(const double *g, const double *p, double *out, int n)
    void fmf_rows_apply_f(const float *z, long m, int n, const float *a, float sign,
                          const float *w, const float *p, float *out)
    void fmf_rows_apply_d(const double *z, long m, int n, const double *a, double sign,
                          const double *w, const double *p, double *out)


cdef inline void prefetch_row(const void *row, int nbytes) noexcept nogil:
    """Ask for every cache line of a row of nbytes bytes."""
    cdef const char *c = <const char *> row
    cdef int off
    for off in range(0, nbytes, 64):
        fmf_prefetch(c + off)


cdef inline floating dot(const floating *a, const floating *b, int n) noexcept nogil:
    """Dot product of two length-n rows (vectorised, reassociated sum)."""
    if floating is float:
        return fmf_dot_f(a, b, n)
    else:
        return fmf_dot_d(a, b, n)


cdef inline void pair_step(floating *p, floating *q, int n,
                           floating decay, floating step) noexcept nogil:
    """p <- decay*p + step*q_old and q <- decay*q + step*p_old, on disjoint rows."""
    if floating is float:
        fmf_pair_step_f(p, q, n, decay, step)
    else:
        fmf_pair_step_d(p, q, n, decay, step)


# Row lengths with code of their own, as compile-time tags: a function with a `width_t`
# argument is compiled once per tag, and in each copy `width_of` is a constant, so its
# row loops unroll (KAny: the run-time length).  Used by the SGD walks and ALS's CG.
cdef struct K16:
    char unused
cdef struct K32:
    char unused
cdef struct K64:
    char unused
cdef struct K100:
    char unused
cdef struct K128:
    char unused
cdef struct KAny:
    char unused

ctypedef fused width_t:
    K16
    K32
    K64
    K100
    K128
    KAny


cdef inline int width_of(width_t width, int k) noexcept nogil:
    """The tag's row length, or k for KAny."""
    if width_t is K16:
        return 16
    elif width_t is K32:
        return 32
    elif width_t is K64:
        return 64
    elif width_t is K100:
        return 100
    elif width_t is K128:
        return 128
    else:
        return k
