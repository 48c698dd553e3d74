# The subspace (block coordinate) ALS solver, "iALS++" (Rendle et al. 2021), header-only:
# cimported by bare name by the ALS kernel (als.pyx).  Same systems as _als_row.pxd
# (design (a) of als.pyx), another way of solving them.
#
# Design
# ------
# (a) One pass of block Gauss-Seidel per half-sweep, warm-started from the current x.
#     The d unknowns are cut into consecutive blocks B of block_size coordinates (the
#     last one shorter when block_size does not divide d); for each block in turn
#         A_BB delta = b_B - (A x)_B,    x_B <- x_B + delta,
#     a block_size x block_size Cholesky solve.  The row's scores s_i = z_i . x are kept
#     up to date (s_i += z_iB . delta), so the rating part of (A x)_B,
#     sum_i w_i s_i z_iB, costs O(n_u b) per block and the pass O(n_u d) in all, plus
#     O(n_u d b) to build the A_BB.  Each pass lowers the row's objective (A is
#     positive definite), and passes converge to the exact solve; block_size = d is
#     one exact Cholesky solve.
# (b) G0 x.  For implicit feedback (A x)_B also holds (G0 x)_B = G0[B, :] x, the only
#     O(k) per coordinate term, which is what dominates at large k.  It is computed for
#     BLOCK_ROWS rows at once, block by block, as one gemm X_rows G0[:, B] (BLAS-3, on
#     one thread as the Cholesky path's syrk), with the rows' x as the earlier blocks
#     left them.
# (b') Memory.  A block reads b of each rated row's k features: read from Y at random,
#     every block would miss the cache once per rating.  So when the row's scores are
#     first computed, the features of the chunk's ratings are also copied into a
#     block-major panel (for each block, the ratings' b-wide slices one after another),
#     and each block then streams through its slice.  The panel holds PANEL_ELEMS
#     elements; the ratings of the rows that do not fit (a chunk of popular rows) are
#     read from Y.
# (c) Parallelism and reproducibility.  The rows are taken BLOCK_ROWS at a time with
#     fixed boundaries (row r in chunk r // BLOCK_ROWS), chunks handed out dynamically.
#     A row's arithmetic depends only on its chunk, never on the thread that runs it,
#     so results are bit-identical for any thread count.
# (d) Errors as in als.pyx: per-row status codes; a row whose block is not positive
#     definite, or that turns non-finite, keeps its previous values.  Empty rows get
#     zeros.  The logistic model takes newton_steps linearisations, each improved by one
#     pass; explicit feedback and biases (d = k + 1, the bias the last coordinate) need
#     no G0 and take the same path.
from cython cimport floating
from libc.math cimport isfinite, sqrt
from libc.stdint cimport int8_t, int64_t
from libc.string cimport memcpy, memset

from _als_row cimport (CHUNK, Problem, _accumulate, _pad, _penalised_solve, _penalty_scale,
                       _prefetch_ahead, _row_loss, _weights, _zdot)
from _blas cimport gemm
from _common cimport STATUS_NONFINITE, STATUS_OK, index_t
from _vec cimport dot


cdef enum:
    # Rows solved together, whose (G0 x)_B one gemm computes (design (b)).
    BLOCK_ROWS = 32
    # Elements of the per-thread panel of gathered features (design (b')): 4 MB in
    # float32, so it stays in the caches and stays small at k in the thousands.
    PANEL_ELEMS = 1 << 20


cdef struct BlockScratch:
    # Per-thread views into one aligned allocation (sizes in elements).
    void *x             # BLOCK_ROWS * d    the chunk's rows
    void *h             # BLOCK_ROWS * bs   (G0 x)_B of each row
    void *gx            # BLOCK_ROWS * d    G0 x of each row at the end (its loss)
    void *a             # bs * bs           A_BB, then its Cholesky factor
    void *rhs           # bs                the block's residual, then delta
    void *diag          # bs                A_BB's diagonal before factorising
    void *z             # CHUNK * bs        gathered sqrt(w_i) z_iB
    void *panel         # PANEL_ELEMS       the chunk's features, block-major (b')
    void *w             # chunk_nnz         per-rating weights of the chunk's rows
    void *sw            # chunk_nnz         their square roots
    void *coef          # chunk_nnz         a row's v_i - w_i s_i
    void *v             # chunk_nnz         working responses
    void *s             # chunk_nnz         scores z_i . x


cdef inline int64_t _block_scratch_len(const Problem *pb, int64_t chunk_nnz) noexcept nogil:
    cdef int64_t d = pb.d
    cdef int64_t bs = pb.block_size
    return (2 * _pad(BLOCK_ROWS * d) + _pad(BLOCK_ROWS * bs) + _pad(bs * bs) + 2 * _pad(bs)
            + _pad(CHUNK * bs) + _pad(_panel_len(pb, chunk_nnz)) + 5 * _pad(chunk_nnz))


cdef inline int64_t _panel_len(const Problem *pb, int64_t chunk_nnz) noexcept nogil:
    """Elements of the panel: room for every rating of a chunk when it fits."""
    return min(<int64_t> PANEL_ELEMS, max(chunk_nnz, <int64_t> 1) * pb.d)


cdef inline BlockScratch _block_carve(floating *base, const Problem *pb,
                                      int64_t chunk_nnz) noexcept nogil:
    cdef int64_t d = pb.d
    cdef int64_t bs = pb.block_size
    cdef floating *at = base
    cdef BlockScratch s
    s.x = at; at += _pad(BLOCK_ROWS * d)
    s.h = at; at += _pad(BLOCK_ROWS * bs)
    s.gx = at; at += _pad(BLOCK_ROWS * d)
    s.a = at; at += _pad(bs * bs)
    s.rhs = at; at += _pad(bs)
    s.diag = at; at += _pad(bs)
    s.z = at; at += _pad(CHUNK * bs)
    s.panel = at; at += _pad(_panel_len(pb, chunk_nnz))
    s.w = at; at += _pad(chunk_nnz)
    s.sw = at; at += _pad(chunk_nnz)
    s.coef = at; at += _pad(chunk_nnz)
    s.v = at; at += _pad(chunk_nnz)
    s.s = at
    return s


cdef inline int _block_step(const Problem *pb, const index_t *cols, int64_t n,
                            const floating *Y, const floating *G, floating lam,
                            floating lam_b, int start, int b, floating *x,
                            const floating *h, const floating *w, const floating *sw,
                            const floating *v, floating *sc, const floating *zp,
                            BlockScratch *s) noexcept nogil:
    """Improve x[start:start + b] by the exact solve of its block (design (a)); h is
    (G0 x)_B (read only when G != NULL), sc the row's scores, updated.  zp: the row's
    features of this block in the panel (rating j at zp + j b), or NULL to read Y."""
    cdef int k = pb.k
    cdef int kb = k - start if k - start < b else b     # factor coordinates in B
    cdef bint has_bias = kb < b                         # B ends with the bias coordinate
    cdef floating *A = <floating *> s.a
    cdef floating *rhs = <floating *> s.rhs
    cdef floating *diag = <floating *> s.diag
    cdef floating *Z = <floating *> s.z
    cdef floating *coef = <floating *> s.coef
    cdef const floating *yi
    cdef int64_t j
    cdef int f, status

    if G != NULL:                           # implicit: A_BB starts from G0[B, B]
        for f in range(b):
            memcpy(A + f * b, G + <int64_t> (start + f) * k + start,
                   <size_t> b * sizeof(floating))
        for f in range(b):
            rhs[f] = -h[f]
    else:
        memset(A, 0, <size_t> b * b * sizeof(floating))
        memset(rhs, 0, <size_t> b * sizeof(floating))
    # rhs = sum_i (v_i - w_i s_i) z_iB - (G0 x)_B - penalty x_B;  A_BB += sum w_i z_iB z_iB^T
    for j in range(n):
        coef[j] = v[j] - w[j] * sc[j]
    if zp != NULL:
        _accumulate(pb, <const index_t *> NULL, n, zp, b, kb, has_bias, b, w, sw, coef, Z,
                    A, rhs)
    else:
        _accumulate(pb, cols, n, Y + start, k, kb, has_bias, b, w, sw, coef, Z, A, rhs)
    for f in range(kb):
        rhs[f] -= lam * x[start + f]
    if has_bias:
        rhs[kb] -= lam_b * x[start + kb]
    status = _penalised_solve(A, rhs, b, kb, has_bias, lam, lam_b, diag)
    if status != STATUS_OK:
        return status
    for f in range(b):
        x[start + f] += rhs[f]
    for j in range(n):                      # s_i += z_iB . delta
        yi = zp + j * b if zp != NULL else Y + <int64_t> cols[j] * k + start
        sc[j] += dot(yi, rhs, kb)
        if has_bias:
            sc[j] += rhs[kb]
    return STATUS_OK


cdef inline void _scatter(const Problem *pb, const floating *yi, floating *panel,
                          int64_t gathered, int64_t j) noexcept nogil:
    """Copy rating j's features y_i into the block-major panel of `gathered` ratings:
    block B's slice of rating j at panel + start_B gathered + j b_B (design (b'))."""
    cdef int k = pb.k
    cdef int d = pb.d
    cdef int bs = pb.block_size
    cdef int start = 0, b, kb
    while start < d:
        b = d - start if d - start < bs else bs
        kb = k - start if k - start < b else b
        memcpy(panel + start * gathered + j * b, yi + start, <size_t> kb * sizeof(floating))
        start += b


cdef inline void _solve_chunk(const Problem *pb, const index_t *ptr, const index_t *ind,
                              const floating *val, int64_t first_row, int64_t m,
                              const floating *Y, const floating *yb, const floating *G,
                              floating *X, floating *xb, BlockScratch *s, int8_t *status,
                              double *loss) noexcept nogil:
    """Solve rows first_row .. first_row + m - 1 (m <= BLOCK_ROWS) in place; each row's
    status into status[row] and, with want_loss, its data term into loss[row]."""
    cdef int k = pb.k
    cdef int d = pb.d
    cdef int bs = pb.block_size
    cdef floating *xs = <floating *> s.x
    cdef floating *h = <floating *> s.h
    cdef floating *gx = <floating *> s.gx
    cdef floating *w = <floating *> s.w
    cdef floating *sw = <floating *> s.sw
    cdef floating *panel = <floating *> s.panel
    cdef floating *v = <floating *> s.v
    cdef floating *sc = <floating *> s.s
    cdef int64_t base = ptr[first_row]
    cdef int64_t r, row, n, o, j
    cdef int64_t gathered = 0               # ratings in the panel: those of the first rows
    cdef int step, start, b, a
    cdef floating scale
    cdef const index_t *cols
    cdef floating *xr

    for r in range(m):
        row = first_row + r
        xr = xs + r * d
        memcpy(xr, X + row * k, <size_t> k * sizeof(floating))
        if pb.biases:
            xr[k] = xb[row]
        status[row] = STATUS_OK
        loss[row] = 0.0
    for r in range(m):
        row = first_row + r
        if (ptr[row + 1] - base) * d > PANEL_ELEMS:
            break
        gathered = ptr[row + 1] - base
    for step in range(pb.outer_steps):
        for r in range(m):                  # weights and scores at the current x
            row = first_row + r
            n = ptr[row + 1] - ptr[row]
            if n == 0 or status[row] != STATUS_OK:
                continue
            o = ptr[row] - base
            cols = ind + ptr[row]
            xr = xs + r * d
            _weights(pb, cols, val + ptr[row], n, Y, yb, xr, w + o, v + o)
            for j in range(n):
                _prefetch_ahead(pb, cols, n, j, Y)
                sc[o + j] = _zdot(pb, Y + <int64_t> cols[j] * k, xr)
                sw[o + j] = sqrt(w[o + j])
                if step == 0 and o + j < gathered:
                    _scatter(pb, Y + <int64_t> cols[j] * k, panel, gathered, o + j)
        start = 0
        while start < d:
            b = d - start if d - start < bs else bs
            if G != NULL:                   # h = X_rows G0[:, B] (G0 symmetric, d == k)
                gemm(c'T', c'N', b, <int> m, k, 1, G + <int64_t> start * k, k, xs, d, 0,
                     h, b)
            for r in range(m):
                row = first_row + r
                n = ptr[row + 1] - ptr[row]
                if n == 0 or status[row] != STATUS_OK:
                    continue
                o = ptr[row] - base
                scale = <floating> _penalty_scale(pb, n)
                status[row] = _block_step(
                    pb, ind + ptr[row], n, Y, G, <floating> pb.l2 * scale,
                    <floating> pb.l2_bias * scale, start, b, xs + r * d, h + r * b, w + o,
                    sw + o, v + o, sc + o,
                    panel + start * gathered + o * b if o < gathered else NULL, s)
            start += b
    if pb.want_loss and G != NULL:          # G0 x of every row by one gemm, for x^T G0 x
        gemm(c'N', c'N', k, <int> m, k, 1, G, k, xs, d, 0, gx, k)
    for r in range(m):
        row = first_row + r
        n = ptr[row + 1] - ptr[row]
        xr = xs + r * d
        if n == 0:                          # as _solve_row: zero factors and bias
            memset(X + row * k, 0, <size_t> k * sizeof(floating))
            if pb.biases:
                xb[row] = 0
            continue
        if status[row] != STATUS_OK:
            continue
        for a in range(d):
            if not isfinite(xr[a]):
                status[row] = STATUS_NONFINITE
                break
        if status[row] != STATUS_OK:
            continue
        if pb.want_loss:
            o = ptr[row] - base
            # the G0 term from gx (_row_loss leaves it out when given G = NULL)
            loss[row] = _row_loss(pb, ind + ptr[row], val + ptr[row], n, Y, yb, NULL, xr,
                                  v + o, NULL)
            if G != NULL:
                loss[row] += 0.5 * <double> dot(gx + r * k, xr, k)
            if not isfinite(loss[row]):
                status[row] = STATUS_NONFINITE
                loss[row] = 0.0
                continue
        memcpy(X + row * k, xr, <size_t> k * sizeof(floating))
        if pb.biases:
            xb[row] = xr[k]
