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
