# fastmf C-level API for other Cython extensions (header-only).
#
# Use
# ---
#     # cython: language_level=3
#     from fastmf_capi cimport predict_pair, sgd_pass, als_solve_row, top_k, ...
#
# Compile with fastmf.get_include() on both search paths (see README, "Embedding"):
#     cythonize(..., include_path=[fastmf.get_include()])    # this file and its helpers
#     Extension(..., include_dirs=[fastmf.get_include()])   # fastmf_common.h, ...
# The ALS solver calls BLAS/LAPACK through scipy.linalg.cython_blas/cython_lapack, so SciPy
# must be importable when the extension is compiled and when it is imported.
#
# Why header-only
# ---------------
# Every function here is `cdef inline ... noexcept nogil` and is compiled into the
# embedder's own extension; nothing is looked up in fastmf's binaries at run time.  So
# there is no C ABI to keep stable across compilers, platforms or fastmf's own SIMD
# variants, and no import-time coupling (a module exporting cdef functions through
# `__pyx_capi__` would tie the embedder to the exact struct layouts of the installed
# build).  fastmf's kernels cimport the same helpers (_sgd_update.pxd, _als_row.pxd,
# _vec.pxd, _losses.pxd, _heap.pxd, _common.pxd), so there is one implementation of each
# computation, and every one of these .pxd files may be cimported with the others (their
# shared C sits in headers with include guards).  The price:
# an embedder rebuilds to pick up a new fastmf, and gets the instruction set of its own
# compiler flags (fastmf's run-time AVX2 dispatch does not apply).
#
# Stability: the names, signatures, struct fields and constants in this file are the API.
# Names starting with an underscore in the helper .pxd files are not.
#
# Ownership
# ---------
# All memory belongs to the caller.  No function allocates, frees or keeps a pointer after
# it returns, except als_work_alloc, whose block the caller releases with als_work_free.
# Matrices are C-contiguous row-major (rows of k factors, row r at ptr + r * k); indices
# are not checked (an out-of-range index is undefined behaviour, as in any C code).
# float and double are both accepted (fused type `floating`); all arrays of one call must
# share it.
#
# Errors and the GIL
# ------------------
# Nothing raises, prints, takes the GIL or touches global state: every function may be
# called inside `with nogil` and inside `prange`.  Failures come back as status codes.
#
# Threads
# -------
# Every function is reentrant.  Concurrent calls from several threads are safe when no
# array that one call writes is read or written by another at the same time:
# * predict_pair, score_pair, top_k only read their inputs: any number of threads may call
#   them on the same model, provided nobody trains it meanwhile.
# * sgd_pass writes the factor rows and biases of the users and items of its ratings.
#   Two concurrent passes must share no user and no item (fastmf's SGD kernel runs blocks
#   of disjoint user groups and item groups for exactly this reason).
# * als_solve_row writes its row (xrow, *xbias), its work block and *loss, and reads Y,
#   y_bias and gram.  Threads may solve different rows of one side at once, each with its
#   own work block, while nobody writes the other side.
from cython cimport floating
from libc.stdint cimport int32_t, int64_t

cimport _als_row
from _als_row cimport Problem, Scratch
from _common cimport (STATUS_NONFINITE, STATUS_NOT_PD, STATUS_OK, fmf_aligned_alloc,
                      fmf_aligned_free, index_t)
from _losses cimport LOSS_LOGISTIC, LOSS_SQUARED, Logistic, Squared, link
from _sgd_update cimport SGDParams, _run_in_order
from _heap cimport Indexed, heap_push, heap_replace_root, heap_sort, ranks_below
# score_pair(P, Q, bu, bi, mu, k, u, i): the raw score mu + b_u + b_i + <p_u, q_i> of
# user u and item i (bu, bi NULL for a model without biases); documented in _vec.pxd.
from _vec cimport score_pair

# Loss codes (the same as the Python layer's): squared loss with the identity link,
# logistic loss with the sigmoid link.
cdef enum:
    FMF_LOSS_SQUARED = LOSS_SQUARED
    FMF_LOSS_LOGISTIC = LOSS_LOGISTIC

# Status codes of als_solve_row.
cdef enum:
    FMF_OK = STATUS_OK
    FMF_NOT_PD = STATUS_NOT_PD          # the row's system is not positive definite
    FMF_NONFINITE = STATUS_NONFINITE    # a non-finite value appeared

# Hyperparameters of sgd_pass.  Fields: learning_rate, l2 (decay of factor rows per
# update), l2_bias (decay of biases per update), mu (the global bias, fixed), biases
# (learn b_u and b_i), k (factors).
ctypedef SGDParams fmf_sgd_params

# One ALS row problem (model, k, penalties, sizes); fill it with als_explicit_problem.
ctypedef Problem fmf_als_problem


# ---------------------------------------------------------------- prediction

cdef inline floating predict_pair(const floating *P, const floating *Q, const floating *bu,
                                  const floating *bi, floating mu, int k, int64_t u,
                                  int64_t i, int loss) noexcept nogil:
    """Prediction for (u, i) as MatrixFactorization.predict gives it: the raw score for
    FMF_LOSS_SQUARED, its sigmoid (a probability) for FMF_LOSS_LOGISTIC."""
    cdef Logistic logistic
    cdef floating s = score_pair(P, Q, bu, bi, mu, k, u, i)
    return link(logistic, s) if loss == LOSS_LOGISTIC else s


# ---------------------------------------------------------------- SGD

cdef inline double sgd_pass(int loss, const int32_t *users, const int32_t *items,
                            const floating *values, int64_t n, floating *P, floating *Q,
                            floating *bu, floating *bi,
                            const fmf_sgd_params *prm) noexcept nogil:
    """One SGD step on each of the n ratings (users[j], items[j], values[j]), in order
    j = 0 .. n-1, in place; returns the sum of the losses seen before each step.

    The step is the one fastmf's SGD kernel applies to every rating (update rule in
    sgd.pyx).  bu and bi are always read (pass zero vectors for a model without biases)
    and written only when prm.biases.  A non-finite return value means the pass diverged.
    """
    cdef Squared squared
    cdef Logistic logistic
    if loss == LOSS_LOGISTIC:
        return _run_in_order(logistic, users, items, values, n, P, Q, bu, bi, prm)
    return _run_in_order(squared, users, items, values, n, P, Q, bu, bi, prm)


# ---------------------------------------------------------------- ALS

cdef inline fmf_als_problem als_explicit_problem(int k, bint biases, double mu, double l2,
                                                 double l2_bias, bint weighted_l2,
                                                 int64_t max_nnz) noexcept nogil:
    """The explicit-feedback (squared loss) row problem, solved by Cholesky:
    minimise over x = [p_u, b_u] (or p_u without biases)
        sum_i (y_i - mu - b_i - q_i . p_u - b_u)^2 + l2 |p_u|^2 + l2_bias b_u^2,
    the penalties scaled by the row's rating count when weighted_l2.  max_nnz bounds the
    ratings of any row solved with one work block (see als_work_alloc).
    """
    cdef fmf_als_problem pb
    pb.k = k
    pb.biases = biases
    pb.d = k + 1 if biases else k
    pb.model = _als_row.MODEL_EXPLICIT
    pb.solver = _als_row.SOLVER_CHOLESKY
    pb.cg_steps = 0
    pb.outer_steps = 1
    pb.weighted_l2 = weighted_l2
    pb.l2_exponent = 1.0
    pb.l2_unobserved = 0.0
    pb.block_size = 0
    pb.want_loss = False
    pb.mu = mu
    pb.l2 = l2
    pb.l2_bias = l2_bias
    pb.alpha = 0.0
    pb.max_nnz = max_nnz if max_nnz > 0 else 1
    pb.zrows = _als_row.CHUNK
    return pb


cdef inline void *als_work_alloc(const fmf_als_problem *pb, size_t itemsize) noexcept nogil:
    """A 64-byte aligned work block for als_solve_row in the given precision (itemsize 4
    for float, 8 for double), or NULL when out of memory.  Release it with als_work_free.
    One block serves one thread; reuse it for every row that thread solves."""
    return fmf_aligned_alloc(<size_t> _als_row._scratch_len(pb) * itemsize)


cdef inline void als_work_free(void *work) noexcept nogil:
    """Release a block from als_work_alloc (NULL is ignored)."""
    if work != NULL:
        fmf_aligned_free(work)


cdef inline int als_solve_row(const fmf_als_problem *pb, const index_t *cols,
                              const floating *vals, int64_t n, const floating *Y,
                              const floating *y_bias, floating *xrow, floating *xbias,
                              void *work) noexcept nogil:
    """Solve one row in place with the other side fixed, exactly as fastmf's ALS kernel
    does; returns FMF_OK, FMF_NOT_PD or FMF_NONFINITE (the row then keeps its values).

    cols[0:n] and vals[0:n] are the row's ratings (column indices into Y and y_bias;
    n <= pb.max_nnz); Y (n_cols, k) the fixed factors, y_bias their biases (read only with
    biases); xrow (k,) and *xbias the row's factors and bias, written on success (xbias is
    not touched without biases).  A row with no ratings gets zeros.  work comes from
    als_work_alloc for this problem and this precision.
    """
    cdef Scratch s = _als_row._carve(<floating *> work, pb)
    cdef double loss
    return _als_row._solve_row(pb, cols, vals, n, Y, y_bias, NULL, xrow, xbias, &s, &loss)


# ---------------------------------------------------------------- top-k

cdef inline int64_t top_k(const floating *scores, int64_t n, int64_t k,
                          int64_t *out) noexcept nogil:
    """Write to out[0:m] the indices of the m = min(k, number of non-NaN scores) highest
    scores of scores[0:n], best first, ties broken by the lower index (the order of
    numpy.argsort(-scores, kind="stable")); returns m.  NaN scores are never selected.
    O(n log k) time, no memory besides out (room for k indices).
    """
    cdef Indexed indexed
    cdef floating *hs = <floating *> scores     # read only: Indexed never writes it
    cdef int64_t j, size = 0
    if k <= 0:
        return 0
    for j in range(n):
        if scores[j] != scores[j]:          # NaN
            continue
        if size < k:
            heap_push(indexed, hs, out, size, scores[j], j)
            size += 1
        elif ranks_below(scores[out[0]], out[0], scores[j], j):   # beats the last kept
            heap_replace_root(indexed, hs, out, size, scores[j], j)
    heap_sort(indexed, hs, out, size)
    return size
