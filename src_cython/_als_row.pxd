# The ALS row solver (header-only: cimported by bare name by the ALS kernel, als.pyx, and
# by the public C-level API, fastmf_capi.pxd, so that both run the same code).  The maths,
# the solvers and the error handling are described at the top of als.pyx; `_solve_row` is
# the entry point: one row, in place, with per-thread scratch carved by `_carve` from one
# 64-byte aligned block of `_scratch_len` elements.
from cython cimport floating
from libc.float cimport DBL_EPSILON, FLT_EPSILON
from libc.math cimport exp, fabs, isfinite, pow, sqrt
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset

from _blas cimport potrf, potrs, syrk
from _common cimport STATUS_NONFINITE, STATUS_NOT_PD, STATUS_OK, index_t
from _losses cimport logistic_loss, sigmoid_given
from _vec cimport (K16, K32, K64, K128, KAny, dot, fmf_rows_apply_d, fmf_rows_apply_f,
                  fmf_symv_d, fmf_symv_f, prefetch_row, width_of, width_t)


# The model and solver codes (als.pyx exports them to Python as dictionaries).
cdef enum:
    MODEL_EXPLICIT = 0
    MODEL_IMPLICIT = 1
    MODEL_LOGISTIC = 2

cdef enum:
    SOLVER_CHOLESKY = 0
    SOLVER_CG = 1
    SOLVER_SUBSPACE = 2     # block coordinate passes (_als_block.pxd)

cdef enum:
    # Ratings gathered per syrk call: bounds the scratch whatever the row length, and
    # keeps the gathered block (CHUNK x (k+1)) in L2.
    CHUNK = 256
    # Longest row whose features CG gathers (CG_GATHER_MAX x (k+1) scratch per thread).
    CG_GATHER_MAX = 8192
    # Rows with fewer ratings build their Gram matrix by rank-1 updates: below this,
    # syrk's per-call cost (tens of microseconds in OpenBLAS) outweighs its speed.
    SYRK_MIN = 32
    # Systems up to this size are factorised inline (see design (b)); larger ones by
    # LAPACK potrf/potrs, whose blocking pays off only there.
    CHOL_INLINE_MAX = 128
    # Loops that read the other side's rows at random ask for the row this many ratings
    # ahead: once that side outgrows the caches (200,000 users x 64 factors on synth
    # 10M) each row is a cache miss that no hardware prefetcher predicts.
    GATHER_AHEAD = 8

cdef struct Problem:
    int k               # factors
    int d               # unknowns per row: k, or k + 1 with the bias
    int model           # MODEL_*
    int solver          # SOLVER_*
    int cg_steps
    int outer_steps     # Newton steps for the logistic loss, 1 otherwise
    bint biases
    bint weighted_l2    # scale lam and lam_b by the row's rating count
    double l2_exponent  # ... raised to this power (1: not raised)
    double l2_unobserved    # ... plus this count of unobserved cells (0 by default)
    int block_size      # subspace solver: coordinates per block (1 <= block_size <= d)
    bint want_loss
    double mu           # global bias (0 without biases)
    double l2
    double l2_bias
    double alpha        # implicit confidence scale
    int64_t max_nnz     # longest row
    int64_t zrows       # rows of the gather buffer: CHUNK, or up to CG_GATHER_MAX for CG


cdef struct Scratch:
    # Per-thread views into one aligned allocation (sizes in elements).
    void *z             # zrows * d   gathered sqrt(w_i) z_i (Cholesky) or z_i (CG)
    void *a             # d * d       the system matrix, then its Cholesky factor
    void *b             # d           right-hand side, then the solution
    void *x             # d           the row's unknowns
    void *r             # d           CG residual / saved diagonal
    void *p             # d           CG direction
    void *ap            # d           A p
    void *w             # max_nnz     per-rating weights
    void *v             # max_nnz     per-rating working responses


cdef inline int64_t _pad(int64_t n) noexcept nogil:
    """n rounded up to a multiple of 16 elements (64 bytes in float32)."""
    return (n + 15) // 16 * 16


cdef inline int64_t _scratch_len(const Problem *pb) noexcept nogil:
    cdef int64_t d = pb.d
    return _pad(pb.zrows * d) + _pad(d * d) + 5 * _pad(d) + 2 * _pad(pb.max_nnz)


cdef inline Scratch _carve(floating *base, const Problem *pb) noexcept nogil:
    cdef int64_t d = pb.d
    cdef floating *at = base
    cdef Scratch s
    s.z = at; at += _pad(pb.zrows * d)
    s.a = at; at += _pad(d * d)
    s.b = at; at += _pad(d)
    s.x = at; at += _pad(d)
    s.r = at; at += _pad(d)
    s.p = at; at += _pad(d)
    s.ap = at; at += _pad(d)
    s.w = at; at += _pad(pb.max_nnz)
    s.v = at
    return s


cdef inline double _penalty_scale(const Problem *pb, int64_t n) noexcept nogil:
    """What a row of n ratings multiplies l2 and l2_bias by: 1, or with weighted_l2
    (n + l2_unobserved)^l2_exponent (pow is not called for the exponent 1, so the plain
    count-scaled penalty is exactly what it always was)."""
    cdef double count
    if not pb.weighted_l2:
        return 1
    if pb.l2_unobserved == 0 and pb.l2_exponent == 1:
        return <double> n
    count = <double> n + pb.l2_unobserved
    if pb.l2_exponent != 1:
        count = pow(count, pb.l2_exponent)
    return count


cdef inline void _axpy(int n, floating a, const floating *x, floating *y) noexcept nogil:
    """y <- y + a x (vectorised by the compiler: no reduction)."""
    cdef int f
    for f in range(n):
        y[f] += a * x[f]


cdef inline void _prefetch_ahead(const Problem *pb, const index_t *cols, int64_t n,
                                 int64_t j, const floating *Y) noexcept nogil:
    """Prefetch the row that rating j + GATHER_AHEAD of this row will read."""
    if j + GATHER_AHEAD < n:
        prefetch_row(Y + <int64_t> cols[j + GATHER_AHEAD] * pb.k,
                     pb.k * <int> sizeof(floating))


cdef inline floating _zdot(const Problem *pb, const floating *yi,
                           const floating *x) noexcept nogil:
    """z_i . x with z_i = [y_i, 1] (biases) or y_i."""
    cdef floating s = dot(yi, x, pb.k)
    if pb.biases:
        s += x[pb.k]
    return s


cdef inline void _zaxpy(const Problem *pb, floating a, const floating *yi,
                        floating *out) noexcept nogil:
    """out <- out + a z_i."""
    _axpy(pb.k, a, yi, out)
    if pb.biases:
        out[pb.k] += a


cdef inline void _weights(const Problem *pb, const index_t *cols, const floating *vals,
                          int64_t n, const floating *Y, const floating *yb,
                          const floating *x, floating *w, floating *v) noexcept nogil:
    """Per-rating weights w_i and working responses v_i at the current x (design (a))."""
    cdef int64_t j
    cdef int k = pb.k
    cdef floating mu = <floating> pb.mu
    cdef floating alpha = <floating> pb.alpha
    cdef floating zx, sig, t
    for j in range(n):
        if pb.model == MODEL_EXPLICIT:
            w[j] = 1
            v[j] = vals[j] - (mu + yb[cols[j]] if pb.biases else 0)
        elif pb.model == MODEL_IMPLICIT:
            w[j] = alpha * vals[j]
            v[j] = 1 + w[j]
        else:
            zx = _zdot(pb, Y + <int64_t> cols[j] * k, x)
            t = (mu + yb[cols[j]] if pb.biases else 0) + zx
            sig = sigmoid_given(<floating> exp(-fabs(t)), t)     # exp in double precision
            w[j] = sig * (1 - sig)
            v[j] = w[j] * zx + vals[j] - sig


cdef extern from "fastmf_chol.h" nogil:
    const double FMF_CG_TINY    # CG stops early once the squared residual norm is below it
    void fmf_syr_upper_f(float *a, int d, const float *z)
    void fmf_syr_upper_d(double *a, int d, const double *z)
    int fmf_chol_upper_f(float *a, int d, const float *diag, float eps)
    int fmf_chol_upper_d(double *a, int d, const double *diag, double eps)
    void fmf_chol_solve_f(const float *u, int d, float *b)
    void fmf_chol_solve_d(const double *u, int d, double *b)


cdef inline void _syr_upper(floating *A, int d, const floating *z) noexcept nogil:
    """A += z z^T on the row-major upper triangle."""
    if floating is float:
        fmf_syr_upper_f(A, d, z)
    else:
        fmf_syr_upper_d(A, d, z)


cdef inline int _factor(floating *A, int d, const floating *diag) noexcept nogil:
    """In place A = U^T U for the symmetric A stored row-major upper (column-major lower).
    A pivot that is not > eps times the row's original diagonal means A is not
    (numerically) positive definite; returns a status."""
    cdef floating eps = FLT_EPSILON if floating is float else DBL_EPSILON
    cdef floating piv
    cdef int j
    if d > CHOL_INLINE_MAX:                 # large systems: LAPACK's blocked potrf
        if potrf(c'L', d, A, d) != 0:
            return STATUS_NOT_PD
        for j in range(d):
            piv = A[j * d + j] * A[j * d + j]
            if not (piv > eps * diag[j]):
                return STATUS_NOT_PD if isfinite(piv) else STATUS_NONFINITE
        return STATUS_OK
    # fastmf_chol.h returns the status codes of fastmf_common.h
    if floating is float:
        return fmf_chol_upper_f(A, d, diag, eps)
    else:
        return fmf_chol_upper_d(A, d, diag, eps)


cdef inline void _factor_solve(const floating *U, int d, floating *b) noexcept nogil:
    """b <- A^{-1} b given _factor's U (A = U^T U)."""
    if d > CHOL_INLINE_MAX:
        potrs(c'L', d, 1, U, d, b, d)
    elif floating is float:
        fmf_chol_solve_f(U, d, b)
    else:
        fmf_chol_solve_d(U, d, b)


cdef inline void _accumulate(const Problem *pb, const index_t *cols, int64_t n,
                             const floating *src, int64_t stride, int width, bint bias,
                             int dim, const floating *w, const floating *sw,
                             const floating *coef, floating *Z, floating *A,
                             floating *rhs) noexcept nogil:
    """A += sum_j w_j z_j z_j^T (A: row-major dim x dim, upper triangle) and
    rhs += sum_j coef_j z_j over n ratings, with z_j = [r_j[0:width], 1 if bias] and r_j
    at src + cols[j] stride (a factor matrix, read ahead) or, with cols = NULL, at
    src + j stride.  sqrt(w_j) is sw[j], or computed when sw = NULL.  The rows
    sqrt(w_j) z_j are gathered CHUNK at a time into Z for one syrk (rank-1 updates for
    fewer than SYRK_MIN)."""
    cdef const floating *yi
    cdef floating *zrow
    cdef floating root
    cdef int64_t first = 0, j
    cdef int m, jj, f
    while first < n:
        m = <int> (n - first if n - first < CHUNK else CHUNK)
        for jj in range(m):
            j = first + jj
            if cols != NULL:
                _prefetch_ahead(pb, cols, n, j, src)
                yi = src + <int64_t> cols[j] * stride
            else:
                yi = src + j * stride
            root = sw[j] if sw != NULL else sqrt(w[j])
            zrow = Z + <int64_t> jj * dim
            for f in range(width):
                zrow[f] = root * yi[f]      # row jj of Z: sqrt(w_j) z_j
            if bias:
                zrow[width] = root
            _axpy(width, coef[j], yi, rhs)  # rhs += coef_j z_j
            if bias:
                rhs[width] += coef[j]
            if m < SYRK_MIN:                # short rows: rank-1 updates of the upper part
                _syr_upper(A, dim, zrow)
        if m >= SYRK_MIN:
            # Column-major, Z is dim x m (leading dimension dim): A += Z Z^T on the lower
            # triangle, which is the upper one of the row-major A that _factor reads.
            syrk(c'L', c'N', dim, m, 1, Z, dim, 1, A, dim)
        first += m


cdef inline int _penalised_solve(floating *A, floating *rhs, int dim, int width,
                                 bint bias, floating lam, floating lam_b,
                                 floating *diag) noexcept nogil:
    """rhs <- (A + penalty)^{-1} rhs in place, the penalty lam on the first `width`
    diagonal entries and lam_b on the next (if bias); A is factorised in place and diag
    receives its diagonal.  Returns a status."""
    cdef int a, status
    for a in range(width):
        A[a * dim + a] += lam
    if bias:
        A[width * dim + width] += lam_b
    for a in range(dim):
        if not isfinite(A[a * dim + a]):
            return STATUS_NONFINITE
        diag[a] = A[a * dim + a]
    status = _factor(A, dim, diag)
    if status != STATUS_OK:
        return status
    _factor_solve(A, dim, rhs)
    return STATUS_OK


cdef inline int _solve_cholesky(const Problem *pb, const index_t *cols, int64_t n,
                                const floating *Y, const floating *G, floating lam,
                                floating lam_b, Scratch *s) noexcept nogil:
    """Build A and b (design (a)) and solve A x = b exactly into s.x."""
    cdef int d = pb.d
    cdef floating *A = <floating *> s.a
    cdef floating *b = <floating *> s.b
    cdef int status

    if G != NULL:                           # implicit: A starts from Y^T Y (d == k)
        memcpy(A, G, <size_t> d * d * sizeof(floating))
    else:
        memset(A, 0, <size_t> d * d * sizeof(floating))
    memset(b, 0, <size_t> d * sizeof(floating))
    # A += sum_i w_i z_i z_i^T, b += v_i z_i
    _accumulate(pb, cols, n, Y, pb.k, pb.k, pb.biases, d, <const floating *> s.w, NULL,
                <const floating *> s.v, <floating *> s.z, A, b)
    status = _penalised_solve(A, b, d, pb.k, pb.biases, lam, lam_b, <floating *> s.r)
    if status != STATUS_OK:
        return status
    memcpy(s.x, b, <size_t> d * sizeof(floating))
    return STATUS_OK


cdef inline void _gram_times(width_t width, const floating *G, const floating *p,
                             floating *out, int k) noexcept nogil:
    """out <- G p for the symmetric k x k G (k = width_of(width, k))."""
    k = width_of(width, k)
    if floating is float:
        fmf_symv_f(G, p, out, k)
    else:
        fmf_symv_d(G, p, out, k)


cdef inline void _features_apply(width_t width, const floating *Z, int64_t n, int d,
                                 const floating *a, floating sign, const floating *w,
                                 const floating *p, floating *out) noexcept nogil:
    """out <- out + sum_j (a_j + sign w_j z_j.p) z_j over the n gathered features (row j
    of Z, d = width_of(width, d) entries); a = NULL stands for a_j = 0."""
    d = width_of(width, d)
    if floating is float:
        fmf_rows_apply_f(Z, n, d, a, sign, w, p, out)
    else:
        fmf_rows_apply_d(Z, n, d, a, sign, w, p, out)


cdef inline void _apply(width_t width, const Problem *pb, const index_t *cols, int64_t n,
                        const floating *Y, const floating *G, floating lam, floating lam_b,
                        const floating *w, const floating *p, floating *out,
                        const floating *Z) noexcept nogil:
    """out <- A p, with A applied through its terms (G0, the penalty, the ratings).  With
    Z != NULL the n features are gathered in Z (row-major n x d)."""
    cdef int k = pb.k
    cdef int a
    cdef int64_t j
    cdef const floating *yi
    if G != NULL:                           # implicit: d == k, G0 = Y^T Y
        _gram_times(width, G, p, out, k)
        for a in range(k):
            out[a] += lam * p[a]
    else:
        for a in range(k):
            out[a] = lam * p[a]
    if pb.biases:
        out[k] = lam_b * p[k]
    if n == 0:
        return
    if Z != NULL:
        _features_apply(width, Z, n, pb.d, NULL, 1, w, p, out)
    else:
        for j in range(n):
            _prefetch_ahead(pb, cols, n, j, Y)
            yi = Y + <int64_t> cols[j] * k
            _zaxpy(pb, w[j] * _zdot(pb, yi, p), yi, out)  # out += w_i (z_i . p) z_i


cdef inline int _solve_cg(width_t width, const Problem *pb, const index_t *cols, int64_t n,
                          const floating *Y, const floating *G, floating lam,
                          floating lam_b, Scratch *s) noexcept nogil:
    """cg_steps conjugate-gradient steps on A x = b, from the current s.x.  width: the
    tag of d (unrolled loops), KAny for other sizes."""
    cdef int d = pb.d
    cdef int k = pb.k
    cdef floating *x = <floating *> s.x
    cdef floating *r = <floating *> s.r
    cdef floating *p = <floating *> s.p
    cdef floating *ap = <floating *> s.ap
    cdef floating *Z = NULL
    cdef floating *zrow
    cdef const floating *w = <const floating *> s.w
    cdef const floating *v = <const floating *> s.v
    cdef const floating *yi
    cdef floating rs, rs_new, pap, step
    cdef int a, it
    cdef int64_t j

    if n <= pb.zrows:                       # gather z_i = [y_i, 1] once for all steps
        Z = <floating *> s.z
        for j in range(n):
            _prefetch_ahead(pb, cols, n, j, Y)
            yi = Y + <int64_t> cols[j] * k
            zrow = Z + j * d
            memcpy(zrow, yi, <size_t> k * sizeof(floating))
            if pb.biases:
                zrow[k] = 1
    # r = b - A x = sum_i (v_i - w_i z_i.x) z_i - (G0 + penalty) x
    _apply(width, pb, cols, 0, Y, G, lam, lam_b, w, x, r, NULL)
    for a in range(d):
        r[a] = -r[a]
    if Z != NULL:
        _features_apply(width, Z, n, d, v, -1, w, x, r)
    else:
        for j in range(n):
            _prefetch_ahead(pb, cols, n, j, Y)
            yi = Y + <int64_t> cols[j] * k
            _zaxpy(pb, v[j] - w[j] * _zdot(pb, yi, x), yi, r)
    memcpy(p, r, <size_t> d * sizeof(floating))
    rs = dot(r, r, d)
    for it in range(pb.cg_steps):
        if not isfinite(rs):
            return STATUS_NONFINITE
        if rs < FMF_CG_TINY:
            break
        _apply(width, pb, cols, n, Y, G, lam, lam_b, w, p, ap, Z)
        pap = dot(p, ap, d)
        if not isfinite(pap):
            return STATUS_NONFINITE
        if pap <= 0:                        # p^T A p <= 0 with p != 0: A is not PD
            return STATUS_NOT_PD
        step = rs / pap
        _axpy(d, step, p, x)
        _axpy(d, -step, ap, r)
        rs_new = dot(r, r, d)
        for a in range(d):
            p[a] = r[a] + (rs_new / rs) * p[a]
        rs = rs_new
    return STATUS_OK


cdef inline int _solve_cg_sized(const Problem *pb, const index_t *cols, int64_t n,
                                const floating *Y, const floating *G, floating lam,
                                floating lam_b, Scratch *s) noexcept nogil:
    """_solve_cg with the loops compiled for d where d is a common size."""
    cdef K32 k32
    cdef K64 k64
    cdef K128 k128
    cdef K16 k16
    cdef KAny other
    if pb.d == 64:
        return _solve_cg(k64, pb, cols, n, Y, G, lam, lam_b, s)
    if pb.d == 32:
        return _solve_cg(k32, pb, cols, n, Y, G, lam, lam_b, s)
    if pb.d == 128:
        return _solve_cg(k128, pb, cols, n, Y, G, lam, lam_b, s)
    if pb.d == 16:
        return _solve_cg(k16, pb, cols, n, Y, G, lam, lam_b, s)
    return _solve_cg(other, pb, cols, n, Y, G, lam, lam_b, s)


cdef inline double _row_loss(const Problem *pb, const index_t *cols, const floating *vals,
                             int64_t n, const floating *Y, const floating *yb, const floating *G,
                             const floating *x, const floating *v,
                             const floating *Z) noexcept nogil:
    """The row's data term at x (design (f)).  Z: the row's features as CG gathered
    them (row j at Z + j d, the same values as Y's rows), or NULL to read Y.  For
    implicit feedback G = NULL leaves out the term x^T G0 x / 2 (for a caller that has
    it)."""
    cdef double total = 0.0, s, e
    cdef int64_t j
    cdef int a
    cdef int k = pb.k
    cdef const floating *yi
    if pb.model == MODEL_IMPLICIT and G != NULL:
        # sum over all columns c (p - s)^2 = x^T G x + sum_observed [c (1 - s)^2 - s^2]
        for a in range(k):
            total += <double> x[a] * dot(G + <int64_t> a * k, x, k)
    for j in range(n):
        if Z != NULL:
            yi = Z + j * pb.d
        else:
            _prefetch_ahead(pb, cols, n, j, Y)
            yi = Y + <int64_t> cols[j] * k
        s = _zdot(pb, yi, x)
        if pb.model == MODEL_EXPLICIT:
            e = v[j] - s
            total += e * e
        elif pb.model == MODEL_IMPLICIT:
            total += v[j] * (1 - s) * (1 - s) - s * s
        else:
            if pb.biases:
                s += pb.mu + yb[cols[j]]
            total += 2 * logistic_loss(vals[j], s)
    return 0.5 * total


cdef inline int _solve_row(const Problem *pb, const index_t *cols, const floating *vals,
                           int64_t n, const floating *Y, const floating *yb, const floating *G,
                           floating *xrow, floating *xbias, Scratch *s,
                           double *loss) noexcept nogil:
    """Solve one row in place (xrow, and *xbias with biases); returns a status."""
    cdef int k = pb.k
    cdef int d = pb.d
    cdef floating *x = <floating *> s.x
    cdef floating scale = <floating> _penalty_scale(pb, n)
    cdef floating lam = <floating> pb.l2 * scale
    cdef floating lam_b = <floating> pb.l2_bias * scale
    cdef int status = STATUS_OK
    cdef int step, a
    loss[0] = 0.0
    if n == 0:                              # design (e)
        memset(xrow, 0, <size_t> k * sizeof(floating))
        if pb.biases:
            xbias[0] = 0
        return STATUS_OK
    memcpy(x, xrow, <size_t> k * sizeof(floating))
    if pb.biases:
        x[k] = xbias[0]
    for step in range(pb.outer_steps):
        _weights(pb, cols, vals, n, Y, yb, x, <floating *> s.w, <floating *> s.v)
        if pb.solver == SOLVER_CHOLESKY:
            status = _solve_cholesky(pb, cols, n, Y, G, lam, lam_b, s)
        else:
            status = _solve_cg_sized(pb, cols, n, Y, G, lam, lam_b, s)
        if status != STATUS_OK:
            return status
    for a in range(d):
        if not isfinite(x[a]):
            return STATUS_NONFINITE
    memcpy(xrow, x, <size_t> k * sizeof(floating))
    if pb.biases:
        xbias[0] = x[k]
    if pb.want_loss:
        loss[0] = _row_loss(pb, cols, vals, n, Y, yb, G, x, <const floating *> s.v,
                            <const floating *> s.z
                            if pb.solver == SOLVER_CG and n <= pb.zrows else NULL)
        if not isfinite(loss[0]):
            return STATUS_NONFINITE
    return STATUS_OK
