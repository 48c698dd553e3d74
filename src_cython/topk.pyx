# Top-n selection of items for a batch of query rows, without a rows x items score matrix.
#
# Design
# ------
# (a) Scores come in tiles.  Query rows are taken row_tile at a time (one tile is one unit
#     of parallel work) and candidate items item_tile at a time; the scores of a (row
#     tile, item tile) pair, item biases included, are written into a per-thread buffer
#     and the selection (b) reads them at once, while they are in L2 (the Python layer
#     sizes the tiles from the cache sizes).  The scores come from a register-blocked
#     kernel (fastmf_tile.h) over the candidates packed once per call into panels: on
#     the AVX-512 build it runs at the FMA units' peak, about three times OpenBLAS's
#     sgemm on the same scores (which picks AVX2 kernels on a Zen 5 core).  The buffer
#     is the only O(tile) memory; nothing O(rows x items) is ever allocated.
# (b) Selection is a bounded min-heap per query row, stored directly in that row of the
#     output arrays (so n may be as large as the number of items without extra memory).
#     The heap root is the worst kept entry.  Once the heap is full, the scores of a
#     row are taken GROUP at a time: one vector compare against the root gives a bit
#     mask of the scores above it, and only those are looked at (most groups have none
#     once the heap holds good items); only they are checked against the exclusion list
#     (d) and pushed.  All 20,000 users of synth 1M, k=64, n=10, training items
#     excluded, one thread: 0.46 s with a GEMM call and a comparison per score, 0.11 s
#     now, against 0.15 s for OpenBLAS's sgemm of the same scores alone.  A final
#     in-place heapsort orders the row.
# (c) Ranking is total and deterministic: higher score first, equal scores by lower item
#     id.  Each score sums its products in factor order whatever the tiling, so the result
#     does not depend on the thread count or the tile sizes.
# (d) Exclusions (e.g. items a user has already seen) come as CSR rows whose column
#     indices are sorted (the Python layer guarantees it).  Candidate ids are ascending
#     too, so each row's exclusion list is merged with the candidates by one pointer that
#     only moves forward: O(nnz(row) + n_candidates) per row, with no per-row mark array.
#     An optional per-row id (e.g. the query item itself for similar-item lists) is
#     excluded as well.
# (e) Rows with fewer than n admissible items are padded with id -1 and score -inf.
# (f) Per-thread scratch is allocated once per thread inside the parallel block.  An
#     allocation failure is recorded in a shared flag and reported by the Python layer;
#     nothing raises inside the parallel region.
# (g) The schedule is dynamic: every tile costs about the same, but the kernel often
#     shares cores with other work, and a result never depends on the schedule (c).
#
# (h) pair_counts serves per-user ROC AUC, which needs every item's rank rather than a
#     top n.  Instead of sorting all items it counts, for each row, (negative, positive)
#     pairs ordered the wrong way and ties: pass 1 collects the positives' scores and
#     sorts them, pass 2 binary-searches every negative among them, O(n_items log P) per
#     row.  Pass 2 recomputes the same GEMM tiles with the same arguments, so positives
#     and negatives are scored by bit-identical arithmetic and exact ties stay ties.
#
# BLAS: pair_counts computes its tiles with sgemm/dgemm called from OpenMP threads, so the
# caller must keep BLAS on one thread (fastmf._threads.single_threaded_blas).
#
# This module is built with the compiler's baseline instruction set; topk_avx2 and
# topk_avx512 hold the same code built for AVX2 + FMA and for AVX-512 (the selection
# pass compares a whole group of scores with one vector instruction), chosen at run time
# (fastmf._dispatch).
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.stdlib cimport qsort
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

import numpy as np

from _common cimport STATUS_NOMEM, STATUS_OK, fmf_aligned_alloc, fmf_aligned_free, index_t
from _heap cimport Kept, heap_push, heap_replace_root, heap_sort, ranks_below

# The codes as the Python layer reads them (fastmf.recommend, fastmf.metrics).
STATUS = {"ok": STATUS_OK, "nomem": STATUS_NOMEM}

cdef enum:
    ROW_TILE = 64       # pair_counts: query rows per unit of parallel work
    ITEM_TILE = 1024    # pair_counts: candidate items per GEMM
    GROUP = 32          # topk: scores compared with the heap root at once (a bit mask)


cdef extern from "fastmf_tile.h" nogil:
    const int FMF_BLOCK_ROWS
    const int FMF_PANEL_F "FMF_PANEL(float)"
    const int FMF_PANEL_D "FMF_PANEL(double)"
    void fmf_pack_panels_f(const float *items, const float *bias, long n, int k,
                           float *out, float *out_bias)
    void fmf_pack_panels_d(const double *items, const double *bias, long n, int k,
                           double *out, double *out_bias)
    void fmf_score_tile_f(const float *a, int nr, const float *panels, const float *bias,
                          int n_panels, int k, float *c, long ldc)
    void fmf_score_tile_d(const double *a, int nr, const double *panels,
                          const double *bias, int n_panels, int k, double *c, long ldc)
    uint32_t fmf_mask_above_f(const float *s, float t)
    uint32_t fmf_mask_above_d(const double *s, double t)
    int fmf_ctz32(uint32_t x)


cdef inline int _panel_width(floating x) noexcept nogil:
    """Items per packed panel (fastmf_tile.h) for this precision (x only picks it)."""
    if floating is float:
        return FMF_PANEL_F
    else:
        return FMF_PANEL_D


cdef inline void _scores_tile(const floating *items, const floating *queries,
                              int n_items, int n_rows, int k,
                              floating *out) noexcept nogil:
    """out[r * n_items + c] = <queries[r], items[c]> for a tile of rows and items.

    Row-major out (n_rows x n_items) is column-major out^T = items . queries^T, with
    items read as the transpose of a column-major (k x n_items) array.
    """
    cdef char transa = b'T'
    cdef char transb = b'N'
    cdef int lda = k
    cdef int ldb = k
    cdef int ldc = n_items
    cdef floating one = 1
    cdef floating zero = 0
    if floating is float:
        sgemm(&transa, &transb, &n_items, &n_rows, &k, &one, <float *> items, &lda,
              <float *> queries, &ldb, &zero, out, &ldc)
    else:
        dgemm(&transa, &transb, &n_items, &n_rows, &k, &one, <double *> items, &lda,
              <double *> queries, &ldb, &zero, out, &ldc)


def topk(const floating[:, ::1] queries,      # IN  (m, k) query vectors
         const floating[:, ::1] items,        # IN  (n_cand, k) candidate item vectors
         const floating[::1] item_bias,       # IN  (n_cand,) added to every score
         const floating[::1] query_bias,      # IN  (m,) added to a row's returned scores
         const int64_t[::1] item_ids,         # IN  (n_cand,) ids of the candidates, ascending
         const index_t[::1] excl_indptr,      # IN  (m + 1,) CSR rows of excluded ids
         const index_t[::1] excl_indices,     # IN  (nnz,) sorted within each row
         const int64_t[::1] excl_self,        # IN  (m,) one more excluded id per row, or -1
         int64_t[:, ::1] out_ids,             # OUT (m, n) best ids, -1 where none is left
         floating[:, ::1] out_scores,         # OUT (m, n) their scores, -inf for padding
         int row_tile,                        # IN  query rows per unit of parallel work
         int item_tile,                       # IN  candidate items per GEMM
         int num_threads):
    """Fill ``out_ids``/``out_scores`` with each query row's n best candidates (trusted,
    validated arguments).  Returns ``STATUS["ok"]``, or ``STATUS["nomem"]`` if per-thread
    scratch could not be allocated."""
    cdef int64_t m = queries.shape[0]
    cdef int k = queries.shape[1]
    cdef int64_t n_cand = items.shape[0]
    cdef Py_ssize_t n = out_ids.shape[1]
    cdef int64_t n_tiles = (m + row_tile - 1) // row_tile
    cdef int64_t n_item_tiles = (n_cand + item_tile - 1) // item_tile
    cdef int failed[1]
    cdef int64_t t, ct, r0, c0, e, e_end, g, row, self_id
    cdef int r, c, cc, nr, nc
    cdef uint32_t mask
    cdef Py_ssize_t size, j
    cdef floating s
    cdef floating *buf
    cdef floating *qbuf
    cdef floating *hs
    cdef floating *tile_scores
    cdef int64_t *hi
    cdef Py_ssize_t *fill
    cdef int64_t *cursor
    cdef Kept kept
    cdef floating zero = 0
    cdef int w = _panel_width(zero)
    # row tiles rounded up to whole blocks of rows (padded with zero rows)
    cdef int rows_pad = (row_tile + FMF_BLOCK_ROWS - 1) // FMF_BLOCK_ROWS * FMF_BLOCK_ROWS
    failed[0] = STATUS_OK
    if m == 0:
        return STATUS_OK
    # the candidates, packed once into panels (design (a))
    dtype = np.float32 if floating is float else np.float64
    panels_arr = np.empty(max((n_cand + w - 1) // w * w * k, 1), dtype=dtype)
    bias_arr = np.empty((n_cand + w - 1) // w * w + 1, dtype=dtype)
    cdef floating[::1] panels = panels_arr
    cdef floating[::1] panel_bias = bias_arr
    if n_cand > 0:
        with nogil:
            if floating is float:
                fmf_pack_panels_f(&items[0, 0] if k > 0 else NULL, &item_bias[0], n_cand, k,
                                  &panels[0], &panel_bias[0])
            else:
                fmf_pack_panels_d(&items[0, 0] if k > 0 else NULL, &item_bias[0], n_cand, k,
                                  &panels[0], &panel_bias[0])
    with nogil, parallel(num_threads=num_threads):
        buf = <floating *> fmf_aligned_alloc(<size_t> rows_pad * item_tile * sizeof(floating))
        qbuf = <floating *> fmf_aligned_alloc(<size_t> rows_pad * max(k, 1) * sizeof(floating))
        fill = <Py_ssize_t *> fmf_aligned_alloc(<size_t> row_tile * sizeof(Py_ssize_t))
        cursor = <int64_t *> fmf_aligned_alloc(<size_t> row_tile * sizeof(int64_t))
        try:
            if buf == NULL or qbuf == NULL or fill == NULL or cursor == NULL:
                failed[0] = STATUS_NOMEM
            for t in prange(n_tiles, schedule="dynamic"):
                if failed[0]:
                    continue
                r0 = t * row_tile
                nr = <int> (m - r0 if m - r0 < row_tile else row_tile)
                for r in range(nr):
                    fill[r] = 0
                    cursor[r] = excl_indptr[r0 + r]
                if k > 0:
                    memcpy(qbuf, &queries[r0, 0], <size_t> nr * k * sizeof(floating))
                    memset(qbuf + <int64_t> nr * k, 0,
                           <size_t> (rows_pad - nr) * k * sizeof(floating))
                for ct in range(n_item_tiles):
                    c0 = ct * item_tile
                    nc = <int> (n_cand - c0 if n_cand - c0 < item_tile else item_tile)
                    # scores with the items' biases (k = 0: the biases alone)
                    if floating is float:
                        fmf_score_tile_f(qbuf, nr, &panels[c0 * k], &panel_bias[c0],
                                         (nc + w - 1) // w, k, buf, item_tile)
                    else:
                        fmf_score_tile_d(qbuf, nr, &panels[c0 * k], &panel_bias[c0],
                                         (nc + w - 1) // w, k, buf, item_tile)
                    for r in range(nr):
                        row = r0 + r
                        hs = &out_scores[row, 0]
                        hi = &out_ids[row, 0]
                        tile_scores = buf + r * item_tile
                        size = fill[r]
                        e = cursor[r]
                        e_end = excl_indptr[row + 1]
                        self_id = excl_self[row]
                        c = 0
                        while c < nc:
                            if size == n and c + GROUP <= nc:
                                # a full heap admits only scores above its root: visit
                                # the group's members above it, if any (design (b))
                                if floating is float:
                                    mask = fmf_mask_above_f(tile_scores + c, hs[0])
                                else:
                                    mask = fmf_mask_above_d(tile_scores + c, hs[0])
                                while mask != 0:
                                    cc = c + fmf_ctz32(mask)
                                    mask = mask & (mask - 1)
                                    s = tile_scores[cc]
                                    g = item_ids[c0 + cc]
                                    if not ranks_below(hs[0], hi[0], s, g):
                                        continue    # the root rose meanwhile
                                    while e < e_end and excl_indices[e] < g:
                                        e = e + 1
                                    if (e < e_end and excl_indices[e] == g) or g == self_id:
                                        continue
                                    heap_replace_root(kept, hs, hi, size, s, g)
                                c = c + GROUP
                                continue
                            # filling the heap, or the tile's last partial group
                            s = tile_scores[c]
                            g = item_ids[c0 + c]
                            c = c + 1
                            if size == n and not ranks_below(hs[0], hi[0], s, g):
                                continue
                            if s != s:          # NaN: never ranked
                                continue
                            # advance the sorted exclusion list up to g (design (d))
                            while e < e_end and excl_indices[e] < g:
                                e = e + 1
                            if (e < e_end and excl_indices[e] == g) or g == self_id:
                                continue
                            if size < n:
                                heap_push(kept, hs, hi, size, s, g)
                                size = size + 1
                            else:
                                heap_replace_root(kept, hs, hi, size, s, g)
                        fill[r] = size
                        cursor[r] = e
                for r in range(nr):
                    row = r0 + r
                    hs = &out_scores[row, 0]
                    hi = &out_ids[row, 0]
                    size = fill[r]
                    heap_sort(kept, hs, hi, size)
                    for j in range(size):
                        hs[j] = hs[j] + query_bias[row]
                    for j in range(size, n):
                        hs[j] = -INFINITY
                        hi[j] = -1
        finally:
            fmf_aligned_free(buf)
            fmf_aligned_free(qbuf)
            fmf_aligned_free(fill)
            fmf_aligned_free(cursor)
    return failed[0]


cdef int _cmp_float(const void *a, const void *b) noexcept nogil:
    cdef float x = (<const float *> a)[0]
    cdef float y = (<const float *> b)[0]
    return (x > y) - (x < y)


cdef int _cmp_double(const void *a, const void *b) noexcept nogil:
    cdef double x = (<const double *> a)[0]
    cdef double y = (<const double *> b)[0]
    return (x > y) - (x < y)


cdef inline Py_ssize_t _count_below(const floating *a, Py_ssize_t size, floating s,
                                    bint or_equal) noexcept nogil:
    """Number of entries of ascending a[0:size] that are < s (<= s if or_equal)."""
    cdef Py_ssize_t lo = 0
    cdef Py_ssize_t hi = size
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < s or (or_equal and a[mid] == s):
            lo = mid + 1
        else:
            hi = mid
    return lo


def pair_counts(const floating[:, ::1] queries,   # IN  (m, k)
                const floating[:, ::1] items,     # IN  (n_cand, k)
                const floating[::1] item_bias,    # IN  (n_cand,)
                const int64_t[::1] item_ids,      # IN  (n_cand,) ascending
                const index_t[::1] excl_indptr,   # IN  (m + 1,) items left out of a row
                const index_t[::1] excl_indices,  # IN  sorted within rows
                const int64_t[::1] pos_indptr,    # IN  (m + 1,) positive items of a row
                const int64_t[::1] pos_indices,   # IN  sorted within rows
                int64_t[:, ::1] out,              # OUT (m, 4) see below
                int num_threads):
    """Per row: out[u] = (positives ranked, negatives ranked, pairs with the negative
    scoring higher, pairs with equal scores).  Excluded items are neither; a positive that
    is excluded or not a candidate is not counted; in a row with no positive the other
    three counts are 0.  Returns ``STATUS["ok"]``, or ``STATUS["nomem"]`` on allocation
    failure.
    """
    cdef int64_t m = queries.shape[0]
    cdef int k = queries.shape[1]
    cdef int64_t n_cand = items.shape[0]
    cdef int64_t n_tiles = (m + ROW_TILE - 1) // ROW_TILE
    cdef int64_t n_item_tiles = (n_cand + ITEM_TILE - 1) // ITEM_TILE
    cdef int64_t max_pos = 0
    cdef int failed[1]
    cdef int64_t t, ct, r0, c0, e, e_end, p, p_end, g, row, u, below, below_eq
    cdef int64_t npos_r, neg_acc, wrong_acc, tie_acc
    cdef int r, c, nr, nc, sweep
    cdef floating s
    cdef floating *buf
    cdef floating *pos_scores
    cdef floating *tile_scores
    cdef floating *row_pos
    cdef int64_t *n_pos
    cdef int64_t *e_cur
    cdef int64_t *p_cur
    failed[0] = STATUS_OK
    for u in range(m):
        if pos_indptr[u + 1] - pos_indptr[u] > max_pos:
            max_pos = pos_indptr[u + 1] - pos_indptr[u]
    if m == 0:
        return STATUS_OK
    with nogil, parallel(num_threads=num_threads):
        buf = <floating *> fmf_aligned_alloc(ROW_TILE * ITEM_TILE * sizeof(floating))
        pos_scores = <floating *> fmf_aligned_alloc((ROW_TILE * max_pos + 1) * sizeof(floating))
        n_pos = <int64_t *> fmf_aligned_alloc(ROW_TILE * sizeof(int64_t))
        e_cur = <int64_t *> fmf_aligned_alloc(ROW_TILE * sizeof(int64_t))
        p_cur = <int64_t *> fmf_aligned_alloc(ROW_TILE * sizeof(int64_t))
        try:
            if (buf == NULL or pos_scores == NULL or n_pos == NULL or e_cur == NULL
                    or p_cur == NULL):
                failed[0] = STATUS_NOMEM
            for t in prange(n_tiles, schedule="dynamic"):
                if failed[0]:
                    continue
                r0 = t * ROW_TILE
                nr = <int> (m - r0 if m - r0 < ROW_TILE else ROW_TILE)
                for r in range(nr):
                    n_pos[r] = 0
                    out[r0 + r, 0] = 0
                    out[r0 + r, 1] = 0
                    out[r0 + r, 2] = 0
                    out[r0 + r, 3] = 0
                # sweep 0 collects the positives' scores; sweep 1 ranks the negatives
                for sweep in range(2):
                    for r in range(nr):
                        e_cur[r] = excl_indptr[r0 + r]
                        p_cur[r] = pos_indptr[r0 + r]
                    for ct in range(n_item_tiles):
                        c0 = ct * ITEM_TILE
                        nc = <int> (n_cand - c0 if n_cand - c0 < ITEM_TILE else ITEM_TILE)
                        if k > 0:
                            _scores_tile(&items[c0, 0], &queries[r0, 0], nc, nr, k, buf)
                        else:
                            memset(buf, 0, nr * nc * sizeof(floating))
                        for r in range(nr):
                            row = r0 + r
                            tile_scores = buf + r * nc
                            row_pos = pos_scores + r * max_pos
                            e = e_cur[r]
                            e_end = excl_indptr[row + 1]
                            p = p_cur[r]
                            p_end = pos_indptr[row + 1]
                            npos_r = n_pos[r]
                            neg_acc = 0
                            wrong_acc = 0
                            tie_acc = 0
                            for c in range(nc):
                                g = item_ids[c0 + c]
                                while e < e_end and excl_indices[e] < g:
                                    e = e + 1
                                if e < e_end and excl_indices[e] == g:
                                    continue
                                while p < p_end and pos_indices[p] < g:
                                    p = p + 1
                                s = tile_scores[c] + item_bias[c0 + c]
                                if p < p_end and pos_indices[p] == g:
                                    if sweep == 0:
                                        row_pos[npos_r] = s
                                        npos_r = npos_r + 1
                                elif sweep == 1 and npos_r > 0:
                                    neg_acc = neg_acc + 1
                                    # most negatives fall outside [min, max] of the positives
                                    if s < row_pos[0]:
                                        continue
                                    if s > row_pos[npos_r - 1]:
                                        wrong_acc = wrong_acc + npos_r
                                        continue
                                    below = _count_below(row_pos, npos_r, s, False)
                                    below_eq = _count_below(row_pos, npos_r, s, True)
                                    wrong_acc = wrong_acc + below
                                    tie_acc = tie_acc + below_eq - below
                            n_pos[r] = npos_r
                            out[row, 1] = out[row, 1] + neg_acc
                            out[row, 2] = out[row, 2] + wrong_acc
                            out[row, 3] = out[row, 3] + tie_acc
                            e_cur[r] = e
                            p_cur[r] = p
                    if sweep == 0:
                        for r in range(nr):
                            out[r0 + r, 0] = n_pos[r]
                            if floating is float:
                                qsort(pos_scores + r * max_pos, n_pos[r], sizeof(float),
                                      _cmp_float)
                            else:
                                qsort(pos_scores + r * max_pos, n_pos[r], sizeof(double),
                                      _cmp_double)
        finally:
            fmf_aligned_free(buf)
            fmf_aligned_free(pos_scores)
            fmf_aligned_free(n_pos)
            fmf_aligned_free(e_cur)
            fmf_aligned_free(p_cur)
    return failed[0]
