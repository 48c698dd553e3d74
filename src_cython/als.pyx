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
# (b) Two linear solvers.  Cholesky: the rows sqrt(w_i) z_i are gathered, CHUNK at a time,
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

include "_als_body.pxi"
