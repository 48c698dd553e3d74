# ALS half-sweep kernel: solve every row of one side with the other side fixed.
#
# Design
# ------
# (a) One weighted least-squares form for the three models.  For row u (a user, or an item
#     when the Python layer passes the transposed matrix) with observed columns i, the
#     unknowns are x = [p_u, b_u] (or p_u alone without biases) and the features are
#     z_i = [q_i, 1] (or q_i).  Every model reduces a row to
#         A x = b,   A = G0 + sum_i w_i z_i z_i^T + diag(lam, ..., lam, lam_b),
#                    b = sum_i v_i z_i
#     with per-rating weights w_i and working responses v_i:
#       explicit (squared loss):  w = 1,             v = y - mu - b_i,            G0 = 0
#       implicit (Hu et al. 2008): w = alpha y,       v = 1 + alpha y (= c_ui),    G0 = Y^T Y
#       logistic (one IRLS step):  w = s'(1 - s'),    v = w z.x + y - s',          G0 = 0
#     where s' = sigmoid(mu + b_i + z.x) at the current x.  Without biases mu and b_i
#     are not part of the model and are not read.  For the logistic loss the
#     solution of A x = b is exactly one Newton step on the row's L2-regularised logistic
#     regression; `newton_steps` repeats it.  Implicit ALS sums the confidence-1 term over
#     *all* columns through the Gram matrix G0 = Y^T Y, computed once per half-sweep by the
#     Python layer, so a row costs O(n_u k + k^2) per CG step, never O(n_cols k).
# (b) Three linear solvers (the third, "subspace", block coordinate passes for large k,
#     is described in _als_block.pxd).  Cholesky: the rows sqrt(w_i) z_i are gathered, CHUNK at a time,
#     into a per-thread buffer and A is accumulated with BLAS-3 syrk (much faster than n_u
#     rank-1 updates once a row has more than a handful of ratings), then potrf/potrs.  CG:
#     a few conjugate-gradient steps warm-started from the current x (Takacs et al. 2011);
#     each step applies A through its terms, never building it: G0 p as k axpys of G0's
#     rows and Z^T (w * (Z p)) in one pass over the row's features z_i, each used for its
#     dot product and its axpy while it is in L1.  The features are gathered once per row
#     into a contiguous per-thread buffer, prefetching the rows a few ratings ahead (rows
#     longer than CG_GATHER_MAX, rare, are applied in place rating by rating).  These
#     loops are compiled into the kernel, unrolled for d = 16, 32, 64 and 128, rather
#     than left to BLAS gemv: the per-call cost of gemv on 64-vectors was a large part of
#     the sweep, and the AVX2 / AVX-512 builds of this module give the portable wheel the
#     wide vectors that were BLAS's advantage.
# (c) Parallelism.  Rows are independent: `prange` with a `dynamic` schedule, because row
#     lengths follow the (heavy-tailed) popularity of users and items and a static split
#     leaves one thread with the popular rows.  Each thread allocates its scratch once,
#     before the loop, 64-byte aligned.  A row's arithmetic never depends on which thread
#     runs it (fixed summation order, single-threaded BLAS, same buffer alignment), so the
#     result is bit-identical for any thread count.
# (d) Errors.  Nothing raises inside the parallel region.  Each row writes a status code
#     (ok, not positive definite, non-finite, out of memory) into a per-row array; a row
#     that fails keeps its previous values (never NaN).  After the loop the first failing
#     row is returned to the Python layer, which raises.  "Not positive definite" also
#     covers systems that potrf factorises but only by losing every significant digit
#     (pivot <= eps * original diagonal), e.g. a rank-deficient row with l2 = 0.
# (e) Empty rows (no ratings) get x = 0: zero factors and, with biases, zero bias.
# (f) Row losses.  On request each row also reports its data term at the new x: the sum
#     of the squared or logistic losses over its ratings, or for implicit feedback
#     1/2 sum over *all* columns of c_ui (p_ui - x.y_i)^2 (again through G0).  Summed over
#     the rows of the second half-sweep this is the training loss after a full sweep.
#
# This module is built with the compiler's baseline instruction set; als_avx2 and
# als_avx512 hold the same code built for AVX2 + FMA and for AVX-512, chosen at run time
# like the SGD kernel's builds (fastmf._dispatch).  The row loops are compiled into the
# kernel rather than left to BLAS, so the portable wheel gets the wide vectors too.
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdint cimport int8_t, int64_t

from _als_block cimport (BLOCK_ROWS, BlockScratch, _block_carve, _block_scratch_len,
                         _solve_chunk)
from _als_row cimport (CG_GATHER_MAX, CHUNK, MODEL_EXPLICIT, MODEL_IMPLICIT, MODEL_LOGISTIC,
                       SOLVER_CG, SOLVER_CHOLESKY, SOLVER_SUBSPACE, Problem, Scratch, _carve,
                       _scratch_len, _solve_row)
from _common cimport (STATUS_NOMEM, STATUS_NONFINITE, STATUS_NOT_PD, STATUS_OK,
                      fmf_aligned_alloc, fmf_aligned_free, index_t)

import numpy as np

# The codes as the Python layer reads them (fastmf._als), never copied (the model and
# solver enums live in _als_row.pxd, the statuses in _common.pxd).
MODELS = {"explicit": MODEL_EXPLICIT, "implicit": MODEL_IMPLICIT,
          "logistic": MODEL_LOGISTIC}
LINEAR_SOLVERS = {"cholesky": SOLVER_CHOLESKY, "cg": SOLVER_CG,
                  "subspace": SOLVER_SUBSPACE}
# Rows the subspace solver takes together (its results depend on these fixed groups).
SUBSPACE_ROWS = BLOCK_ROWS
STATUS = {"ok": STATUS_OK, "not_pd": STATUS_NOT_PD, "nonfinite": STATUS_NONFINITE,
          "nomem": STATUS_NOMEM}


cdef struct SweepSettings:
    # The scalar arguments of solve_rows (from a dict with these keys).
    int model               # MODELS
    int linear_solver       # LINEAR_SOLVERS
    int cg_steps
    int newton_steps        # Newton steps of the logistic model (others take one)
    double mu               # global bias (read only with biases)
    double l2
    double l2_bias
    double alpha            # implicit confidence scale
    bint weighted_l2        # scale the penalties by the row's rating count
    double l2_exponent      # ... raised to this power
    double l2_unobserved    # ... plus this count of unobserved cells
    int block_size          # subspace solver: coordinates per block, 1 <= block_size <= d
    bint biases             # solve a bias with each row
    bint want_loss          # fill row_loss


def solve_rows(const index_t[::1] indptr,        # IN  (n_rows + 1,) CSR row offsets
               const index_t[::1] indices,       # IN  (nnz,) column of each rating
               const floating[::1] data,         # IN  (nnz,) rating / count / label
               floating[:, ::1] X,               # IN/OUT  (n_rows, k) rows being solved
               floating[::1] x_bias,             # IN/OUT  (n_rows,) their biases
               const floating[:, ::1] Y,         # IN  (n_cols, k) the fixed side
               const floating[::1] y_bias,       # IN  (n_cols,) its biases (zeros if none)
               const floating[:, ::1] gram,      # IN  (k, k) Y^T Y (implicit) or (0, 0)
               SweepSettings settings,           # IN  the scalars (SweepSettings)
               double[::1] row_loss,             # OUT (n_rows,) data term per row
               int num_threads):
    """Solve every row of a CSR matrix for its factors (and bias) with the other side
    fixed, in place.  Returns ``(status, row)``: ``(0, -1)`` on success, else the status
    code (see ``STATUS``) of the first failing row and its index; failing rows keep their
    previous values.

    All arguments are trusted: shapes, index ranges, codes and the thread count are
    checked by the Python layer (fastmf._als).
    """
    cdef int64_t n_rows = X.shape[0]
    cdef int64_t r
    cdef Problem pb
    pb.k = X.shape[1]
    pb.biases = settings.biases
    pb.d = pb.k + 1 if settings.biases else pb.k
    pb.model = settings.model
    pb.solver = settings.linear_solver
    pb.cg_steps = settings.cg_steps
    pb.outer_steps = settings.newton_steps if settings.model == MODEL_LOGISTIC else 1
    pb.weighted_l2 = settings.weighted_l2
    pb.l2_exponent = settings.l2_exponent
    pb.l2_unobserved = settings.l2_unobserved
    pb.block_size = settings.block_size
    pb.want_loss = settings.want_loss
    pb.mu = settings.mu
    pb.l2 = settings.l2
    pb.l2_bias = settings.l2_bias
    pb.alpha = settings.alpha
    pb.max_nnz = 0
    for r in range(n_rows):
        if indptr[r + 1] - indptr[r] > pb.max_nnz:
            pb.max_nnz = indptr[r + 1] - indptr[r]
    pb.zrows = CHUNK
    if settings.linear_solver == SOLVER_CG:
        pb.zrows = min(max(pb.max_nnz, 1), CG_GATHER_MAX)
    if n_rows == 0:
        return STATUS_OK, -1

    status_arr = np.zeros(n_rows, dtype=np.int8)
    cdef int8_t[::1] status = status_arr
    cdef const index_t *ptr = &indptr[0]
    cdef const index_t *ind = &indices[0] if indices.shape[0] > 0 else NULL
    cdef const floating *val = &data[0] if data.shape[0] > 0 else NULL
    cdef const floating *Yp = &Y[0, 0] if Y.shape[0] > 0 else NULL
    cdef const floating *yb = &y_bias[0] if y_bias.shape[0] > 0 else NULL
    cdef const floating *G = &gram[0, 0] if settings.model == MODEL_IMPLICIT else NULL
    cdef floating *Xp = &X[0, 0]
    cdef floating *xb = &x_bias[0]
    cdef double *loss = &row_loss[0]
    cdef size_t scratch_bytes = <size_t> _scratch_len(&pb) * sizeof(floating)
    cdef floating *base
    cdef Scratch s
    if settings.linear_solver == SOLVER_SUBSPACE:
        _solve_by_blocks(&pb, ptr, ind, val, n_rows, Yp, yb, G, Xp, xb, &status[0], loss,
                         num_threads)
    else:
        with nogil, parallel(num_threads=num_threads):
            base = <floating *> fmf_aligned_alloc(scratch_bytes)
            if base != NULL:
                s = _carve(base, &pb)
            # dynamic: row lengths are heavy-tailed (design (c)).
            for r in prange(n_rows, schedule="dynamic", chunksize=8):
                if base == NULL:
                    status[r] = STATUS_NOMEM
                else:
                    status[r] = _solve_row(&pb, ind + ptr[r], val + ptr[r],
                                           ptr[r + 1] - ptr[r], Yp, yb, G, Xp + r * pb.k,
                                           xb + r, &s, loss + r)
            fmf_aligned_free(base)

    bad = np.flatnonzero(status_arr)
    if bad.size:
        return int(status_arr[bad[0]]), int(bad[0])
    return STATUS_OK, -1


cdef void _solve_by_blocks(const Problem *pb, const index_t *ptr, const index_t *ind,
                           const floating *val, int64_t n_rows, const floating *Y,
                           const floating *yb, const floating *G, floating *X,
                           floating *xb, int8_t *status, double *loss,
                           int num_threads) noexcept:
    """The subspace solver (_als_block.pxd) over every row, BLOCK_ROWS rows per task."""
    cdef int64_t n_chunks = (n_rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    cdef int64_t chunk_nnz = 0, c, first, m, r
    cdef floating *base
    cdef BlockScratch s
    for c in range(n_chunks):
        first = c * BLOCK_ROWS
        m = min(<int64_t> BLOCK_ROWS, n_rows - first)
        chunk_nnz = max(chunk_nnz, <int64_t> (ptr[first + m] - ptr[first]))
    cdef size_t scratch_bytes = <size_t> _block_scratch_len(pb, chunk_nnz) * sizeof(floating)
    with nogil, parallel(num_threads=num_threads):
        base = <floating *> fmf_aligned_alloc(scratch_bytes)
        if base != NULL:
            s = _block_carve(base, pb, chunk_nnz)
        # dynamic: chunk lengths are heavy-tailed; fixed chunk boundaries (design (c) of
        # _als_block.pxd) keep the results independent of the schedule.
        for c in prange(n_chunks, schedule="dynamic", chunksize=1):
            first = c * BLOCK_ROWS
            m = min(<int64_t> BLOCK_ROWS, n_rows - first)
            if base == NULL:
                for r in range(first, first + m):
                    status[r] = STATUS_NOMEM
            else:
                _solve_chunk(pb, ptr, ind, val, first, m, Y, yb, G, X, xb, &s, status, loss)
        fmf_aligned_free(base)
