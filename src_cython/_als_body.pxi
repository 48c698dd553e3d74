# Body of the ALS kernel modules `als` (portable), `als_avx2` and `als_avx512`; see
# als.pyx for the design.
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdint cimport int8_t, int64_t

from _als_row cimport (CG_GATHER_MAX, CHUNK, MODEL_EXPLICIT, MODEL_IMPLICIT, MODEL_LOGISTIC,
                       SOLVER_CG, SOLVER_CHOLESKY, STATUS_NOMEM, STATUS_NONFINITE,
                       STATUS_NOT_PD, STATUS_OK, Problem, Scratch, _carve, _scratch_len,
                       _solve_row, fmf_aligned_alloc, fmf_aligned_free, index_t)

import numpy as np

# Codes shared with fastmf/_als.py (the enums live in _als_row.pxd).
MODELS = {"explicit": MODEL_EXPLICIT, "implicit": MODEL_IMPLICIT,
          "logistic": MODEL_LOGISTIC}
LINEAR_SOLVERS = {"cholesky": SOLVER_CHOLESKY, "cg": SOLVER_CG}
STATUS = {"ok": STATUS_OK, "not_pd": STATUS_NOT_PD, "nonfinite": STATUS_NONFINITE,
          "nomem": STATUS_NOMEM}


def solve_rows(const index_t[::1] indptr,        # IN  (n_rows + 1,) CSR row offsets
               const index_t[::1] indices,       # IN  (nnz,) column of each rating
               const floating[::1] data,         # IN  (nnz,) rating / count / label
               floating[:, ::1] X,               # IN/OUT  (n_rows, k) rows being solved
               floating[::1] x_bias,             # IN/OUT  (n_rows,) their biases
               const floating[:, ::1] Y,         # IN  (n_cols, k) the fixed side
               const floating[::1] y_bias,       # IN  (n_cols,) its biases (zeros if none)
               const floating[:, ::1] gram,      # IN  (k, k) Y^T Y (implicit) or (0, 0)
               int model, int linear_solver, int cg_steps, int newton_steps,
               double mu, double l2, double l2_bias, double alpha,
               bint weighted_l2, bint biases, bint want_loss,
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
    pb.biases = biases
    pb.d = pb.k + 1 if biases else pb.k
    pb.model = model
    pb.solver = linear_solver
    pb.cg_steps = cg_steps
    pb.outer_steps = newton_steps if model == MODEL_LOGISTIC else 1
    pb.weighted_l2 = weighted_l2
    pb.want_loss = want_loss
    pb.mu = mu
    pb.l2 = l2
    pb.l2_bias = l2_bias
    pb.alpha = alpha
    pb.max_nnz = 0
    for r in range(n_rows):
        if indptr[r + 1] - indptr[r] > pb.max_nnz:
            pb.max_nnz = indptr[r + 1] - indptr[r]
    pb.zrows = CHUNK
    if linear_solver == SOLVER_CG:
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
    cdef const floating *G = &gram[0, 0] if model == MODEL_IMPLICIT else NULL
    cdef floating *Xp = &X[0, 0]
    cdef floating *xb = &x_bias[0]
    cdef double *loss = &row_loss[0]
    cdef size_t scratch_bytes = <size_t> _scratch_len(&pb) * sizeof(floating)
    cdef floating *base
    cdef Scratch s
    with nogil, parallel(num_threads=num_threads):
        base = <floating *> fmf_aligned_alloc(scratch_bytes)
        if base != NULL:
            s = _carve(base, &pb)
        # dynamic: row lengths are heavy-tailed (design (c)).
        for r in prange(n_rows, schedule="dynamic", chunksize=8):
            if base == NULL:
                status[r] = STATUS_NOMEM
            else:
                status[r] = _solve_row(&pb, ind + ptr[r], val + ptr[r], ptr[r + 1] - ptr[r],
                                       Yp, yb, G, Xp + r * pb.k, xb + r, &s, loss + r)
        fmf_aligned_free(base)

    bad = np.flatnonzero(status_arr)
    if bad.size:
        return int(status_arr[bad[0]]), int(bad[0])
    return STATUS_OK, -1
