# Body of the top-n kernel modules `topk` (portable), `topk_avx2` and `topk_avx512`;
# see topk.pyx for the design.
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

import numpy as np

ctypedef fused index_t:
    int32_t
    int64_t

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


cdef inline bint _ranks_below(floating s1, int64_t id1,
                              floating s2, int64_t id2) noexcept nogil:
    """True if (s1, id1) ranks below (s2, id2): lower score, or same score and higher id."""
    return s1 < s2 or (s1 == s2 and id1 > id2)


cdef inline void _sift_down(floating *hs, int64_t *hi, Py_ssize_t size,
                            Py_ssize_t pos) noexcept nogil:
    """Restore the heap below `pos` (root = lowest-ranked entry)."""
    cdef floating s = hs[pos]
    cdef int64_t i = hi[pos]
    cdef Py_ssize_t child
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _ranks_below(hs[child + 1], hi[child + 1],
                                             hs[child], hi[child]):
            child += 1
        if not _ranks_below(hs[child], hi[child], s, i):
            break
        hs[pos] = hs[child]
        hi[pos] = hi[child]
        pos = child
    hs[pos] = s
    hi[pos] = i


cdef inline void _push(floating *hs, int64_t *hi, Py_ssize_t size,
                       floating s, int64_t i) noexcept nogil:
    """Add (s, i) to a heap holding `size` entries (room for one more is assumed)."""
    cdef Py_ssize_t pos = size
    cdef Py_ssize_t parent
    while pos > 0:
        parent = (pos - 1) // 2
        if not _ranks_below(s, i, hs[parent], hi[parent]):
            break
        hs[pos] = hs[parent]
        hi[pos] = hi[parent]
        pos = parent
    hs[pos] = s
    hi[pos] = i


cdef inline void _sort_heap(floating *hs, int64_t *hi, Py_ssize_t size) noexcept nogil:
    """Heapsort in place: afterwards entry 0 ranks highest."""
    cdef Py_ssize_t end
    cdef floating s
    cdef int64_t i
    for end in range(size - 1, 0, -1):
        s = hs[0]; hs[0] = hs[end]; hs[end] = s
        i = hi[0]; hi[0] = hi[end]; hi[end] = i
        _sift_down(hs, hi, end, 0)


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
    validated arguments).  Returns 0, or 1 if per-thread scratch could not be allocated."""
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
    cdef floating zero = 0
    cdef int w = _panel_width(zero)
    # row tiles rounded up to whole blocks of rows (padded with zero rows)
    cdef int rows_pad = (row_tile + FMF_BLOCK_ROWS - 1) // FMF_BLOCK_ROWS * FMF_BLOCK_ROWS
    failed[0] = 0
    if m == 0:
        return 0
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
        buf = <floating *> malloc(<size_t> rows_pad * item_tile * sizeof(floating))
        qbuf = <floating *> malloc(<size_t> rows_pad * max(k, 1) * sizeof(floating))
        fill = <Py_ssize_t *> malloc(<size_t> row_tile * sizeof(Py_ssize_t))
        cursor = <int64_t *> malloc(<size_t> row_tile * sizeof(int64_t))
        try:
            if buf == NULL or qbuf == NULL or fill == NULL or cursor == NULL:
                failed[0] = 1
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
                                    if not _ranks_below(hs[0], hi[0], s, g):
                                        continue    # the root rose meanwhile
                                    while e < e_end and excl_indices[e] < g:
                                        e = e + 1
                                    if (e < e_end and excl_indices[e] == g) or g == self_id:
                                        continue
                                    hs[0] = s
                                    hi[0] = g
                                    _sift_down(hs, hi, size, 0)
                                c = c + GROUP
                                continue
                            # filling the heap, or the tile's last partial group
                            s = tile_scores[c]
                            g = item_ids[c0 + c]
                            c = c + 1
                            if size == n and not _ranks_below(hs[0], hi[0], s, g):
                                continue
                            if s != s:          # NaN: never ranked
                                continue
                            # advance the sorted exclusion list up to g (design (d))
                            while e < e_end and excl_indices[e] < g:
                                e = e + 1
                            if (e < e_end and excl_indices[e] == g) or g == self_id:
                                continue
                            if size < n:
                                _push(hs, hi, size, s, g)
                                size = size + 1
                            else:
                                hs[0] = s
                                hi[0] = g
                                _sift_down(hs, hi, size, 0)
                        fill[r] = size
                        cursor[r] = e
                for r in range(nr):
                    row = r0 + r
                    hs = &out_scores[row, 0]
                    hi = &out_ids[row, 0]
                    size = fill[r]
                    _sort_heap(hs, hi, size)
                    for j in range(size):
                        hs[j] = hs[j] + query_bias[row]
                    for j in range(size, n):
                        hs[j] = -INFINITY
                        hi[j] = -1
        finally:
            free(buf)
            free(qbuf)
            free(fill)
            free(cursor)
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
    three counts are 0.  Returns 0, or 1 on allocation failure.
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
    failed[0] = 0
    for u in range(m):
        if pos_indptr[u + 1] - pos_indptr[u] > max_pos:
            max_pos = pos_indptr[u + 1] - pos_indptr[u]
    if m == 0:
        return 0
    with nogil, parallel(num_threads=num_threads):
        buf = <floating *> malloc(ROW_TILE * ITEM_TILE * sizeof(floating))
        pos_scores = <floating *> malloc((ROW_TILE * max_pos + 1) * sizeof(floating))
        n_pos = <int64_t *> malloc(ROW_TILE * sizeof(int64_t))
        e_cur = <int64_t *> malloc(ROW_TILE * sizeof(int64_t))
        p_cur = <int64_t *> malloc(ROW_TILE * sizeof(int64_t))
        try:
            if (buf == NULL or pos_scores == NULL or n_pos == NULL or e_cur == NULL
                    or p_cur == NULL):
                failed[0] = 1
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
            free(buf)
            free(pos_scores)
            free(n_pos)
            free(e_cur)
            free(p_cur)
    return failed[0]
