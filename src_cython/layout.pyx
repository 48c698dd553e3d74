# Rating layouts built by counting sorts: the SGD block grid.
#
# Design
# ------
# (a) Renumbered rows.  The Python layer draws a random permutation of the users and one
#     of the items and gives each user (item) the new id of its position there.  A user
#     group is then a contiguous range of new ids: group r holds ids
#     [ceil(r n / B), ceil((r + 1) n / B)), so the group of id x is floor(x B / n).  The
#     factor rows of one group are one compact slice of memory (the SGD kernel works on
#     factor matrices in the new order), and the rows a block visits in user order are
#     visited in memory order, which the hardware prefetchers follow.
# (b) No sort key.  The ratings are placed by a counting sort on their block (a count pass
#     and a scatter pass, each thread over its own contiguous chunk of the input, with
#     per-thread cursors), then every block is sorted in place by (user, item): bucket
#     passes by user, 8 bits of the id at a time, that swap each rating straight into its
#     bucket (American flag sort), then each user's run by item (insertion sort, heapsort
#     for long runs).  Besides the output, the layout holds B*B counters and 514 bucket
#     positions per thread: no array of the input's length, no buffer of a block's.
# (c) Determinism.  A block's ratings end sorted by (user, item).  Distinct ratings have
#     distinct keys, so the result does not depend on the chunking (hence on the thread
#     count) or on the order of the input.  Repeated (user, item) pairs end up adjacent;
#     the first one in block order is reported to the Python layer, which raises.
# (d) Errors never raise inside the parallel region: a failed allocation is reported as a
#     status after it.
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

import numpy as np

ctypedef fused index_t:
    int32_t
    int64_t

cdef enum:
    LAYOUT_OK = 0
    LAYOUT_NOMEM = 1
    LAYOUT_DUPLICATE = 2

STATUS = {"ok": LAYOUT_OK, "nomem": LAYOUT_NOMEM, "duplicate": LAYOUT_DUPLICATE}


cdef inline int64_t _first(int64_t r, int64_t n, int64_t B) noexcept nogil:
    """First id of group r of n ids cut into B groups: ceil(r n / B)."""
    return (r * n + B - 1) // B


cdef inline int64_t _group(int64_t x, int64_t n, int64_t B) noexcept nogil:
    """Group of id x (the inverse of _first): floor(x B / n)."""
    return (x * B) // n


cdef enum:
    INSERTION_MAX = 48      # runs (and CSR rows) up to this length are sorted by insertion


cdef inline void _insertion_sort(index_t *key, floating *val, int64_t m) noexcept nogil:
    """Sort m (key, val) pairs by key, in place."""
    cdef int64_t j, h
    cdef index_t c
    cdef floating v
    for j in range(1, m):
        c = key[j]
        v = val[j]
        h = j - 1
        while h >= 0 and key[h] > c:
            key[h + 1] = key[h]
            val[h + 1] = val[h]
            h -= 1
        key[h + 1] = c
        val[h + 1] = v


cdef inline void _sift_down(int32_t *key, floating *val, int64_t pos,
                            int64_t m) noexcept nogil:
    """Restore the max-heap on key below pos (m entries)."""
    cdef int64_t child
    cdef int32_t k = key[pos]
    cdef floating v = val[pos]
    while True:
        child = 2 * pos + 1
        if child >= m:
            break
        if child + 1 < m and key[child + 1] > key[child]:
            child += 1
        if key[child] <= k:
            break
        key[pos] = key[child]
        val[pos] = val[child]
        pos = child
    key[pos] = k
    val[pos] = v


cdef inline void _sort_pairs(int32_t *key, floating *val, int64_t m) noexcept nogil:
    """Sort m (key, val) pairs by key in place: insertion sort for short runs, heapsort
    (O(m log m), no buffer) for long ones."""
    cdef int64_t j
    cdef int32_t k
    cdef floating v
    if m <= INSERTION_MAX:
        _insertion_sort(key, val, m)
        return
    for j in range(m // 2 - 1, -1, -1):
        _sift_down(key, val, j, m)
    for j in range(m - 1, 0, -1):
        k = key[0]; key[0] = key[j]; key[j] = k
        v = val[0]; val[0] = val[j]; val[j] = v
        _sift_down(key, val, 0, j)


cdef enum:
    FLAG_BITS = 8           # a bucket pass sorts on this many bits of the user id


cdef inline void _flag_pass(int32_t *users, int32_t *items, floating *values, int64_t m,
                            int64_t base, int shift, int64_t nb, int64_t *head,
                            int64_t *end) noexcept nogil:
    """Bucket m ratings in place by (user - base) >> shift into nb buckets: each rating is
    swapped straight into the next free slot of its bucket (American flag sort).  On
    return end[b] is where bucket b ends.  head and end have room for nb + 1 entries."""
    cdef int64_t j, c, d, t
    cdef int32_t x
    cdef floating y
    memset(head, 0, <size_t> (nb + 1) * sizeof(int64_t))
    for j in range(m):
        head[((users[j] - base) >> shift) + 1] += 1
    for c in range(nb):
        head[c + 1] += head[c]
        end[c] = head[c + 1]
    for c in range(nb):
        while head[c] < end[c]:
            j = head[c]
            d = (users[j] - base) >> shift
            if d == c:
                head[c] = j + 1
                continue
            t = head[d]
            head[d] = t + 1
            x = users[j]; users[j] = users[t]; users[t] = x
            x = items[j]; items[j] = items[t]; items[t] = x
            y = values[j]; values[j] = values[t]; values[t] = y


cdef inline void _sort_block(int32_t *users, int32_t *items, floating *values, int64_t m,
                             int64_t u0, int64_t nu, int64_t *head,
                             int64_t *end) noexcept nogil:
    """Sort a block's m ratings in place by (user, item), users in [u0, u0 + nu): bucket
    passes by user, FLAG_BITS bits at a time from the top (a pass over a few hundred
    buckets keeps its write positions in L1, where one over every user of the group
    jumped across the whole block), then each user's run by item.  head and end have
    room for 2**FLAG_BITS + 1 entries."""
    cdef int shift = 0
    cdef int64_t s, e, c, b, nb, sb, eb
    while (nu - 1) >> shift >= (1 << FLAG_BITS):
        shift += FLAG_BITS
    _flag_pass(users, items, values, m, u0, shift, ((nu - 1) >> shift) + 1, head, end)
    while shift > 0:
        # refine every bucket of the previous pass by the next FLAG_BITS bits
        shift -= FLAG_BITS
        s = 0
        while s < m:
            b = (users[s] - u0) >> (shift + FLAG_BITS)
            e = s + 1
            while e < m and (users[e] - u0) >> (shift + FLAG_BITS) == b:
                e += 1
            if e - s > 1:
                nb = min(<int64_t> 1 << FLAG_BITS, ((nu - 1 - (b << (shift + FLAG_BITS)))
                                                    >> shift) + 1)
                _flag_pass(&users[s], &items[s], &values[s], e - s,
                           u0 + (b << (shift + FLAG_BITS)), shift, nb, head, end)
            s = e
    s = 0
    while s < m:                            # each user's run by item
        e = s + 1
        while e < m and users[e] == users[s]:
            e += 1
        if e - s > 1:
            _sort_pairs(&items[s], &values[s], e - s)
        s = e


cdef inline void _counts_to_cursors(int64_t *counts, int T, int64_t n,
                                    index_t *ptr) noexcept nogil:
    """Turn per-thread counts (T rows of n buckets) into each thread's first position in
    every bucket (thread t after threads < t), and write the buckets' offsets to
    ptr[0:n + 1]."""
    cdef int64_t b, s = 0, c
    cdef int t
    ptr[0] = 0
    for b in range(n):
        for t in range(T):
            c = counts[t * n + b]
            counts[t * n + b] = s
            s = s + c
        ptr[b + 1] = <index_t> s


def sgd_blocks(const int32_t[::1] users,        # IN  (nnz,) original user ids
               const int32_t[::1] items,        # IN  (nnz,) original item ids
               const floating[::1] values,      # IN  (nnz,)
               const int32_t[::1] user_new,     # IN  (n_users,) new id of each user
               const int32_t[::1] item_new,     # IN  (n_items,) new id of each item
               int n_blocks,                    # IN  B
               int32_t[::1] out_users,          # OUT (nnz,) new user ids, block order
               int32_t[::1] out_items,          # OUT (nnz,) new item ids, block order
               floating[::1] out_values,        # OUT (nnz,)
               int64_t[::1] block_ptr,          # OUT (B*B + 1,) block (r, c) at r*B + c
               int num_threads):
    """Lay the ratings out in the B x B grid of the SGD kernel (design at the top of this
    file).  Returns ``(status, position)``: ``(0, -1)``, or ``(2, p)`` when the ratings at
    p and p + 1 of the output are the same (user, item) pair (the first such pair in block
    order), or ``(1, -1)`` when scratch memory could not be allocated.

    Arguments are trusted (checked by fastmf._sgd): ids in range, both maps permutations.
    """
    cdef int64_t nnz = users.shape[0]
    cdef int64_t n_users = user_new.shape[0]
    cdef int64_t n_items = item_new.shape[0]
    cdef int64_t B = n_blocks
    cdef int64_t BB = B * B
    cdef int T = max(1, num_threads)
    counts_arr = np.zeros((T, BB), dtype=np.int64)
    dup_arr = np.full(BB, -1, dtype=np.int64)
    cdef int64_t[:, ::1] counts = counts_arr
    cdef int64_t[::1] dup = dup_arr
    cdef int failed[1]
    cdef int t
    cdef int64_t j, lo, hi, blk, p, s, r, c, u0, nu, begin, m
    cdef int64_t *head
    cdef int64_t *end
    failed[0] = 0
    block_ptr[0] = 0
    if nnz == 0:
        block_ptr[:] = 0
        return LAYOUT_OK, -1
    with nogil:
        # count pass: thread t counts its chunk [t nnz / T, (t + 1) nnz / T)
        for t in prange(T, num_threads=T, schedule="static", chunksize=1):
            lo = t * nnz // T
            hi = (t + 1) * nnz // T
            for j in range(lo, hi):
                blk = (_group(user_new[users[j]], n_users, B) * B
                       + _group(item_new[items[j]], n_items, B))
                counts[t, blk] += 1
        # block offsets, then each chunk's cursor in every block
        _counts_to_cursors(&counts[0, 0], T, BB, &block_ptr[0])
        # scatter pass
        for t in prange(T, num_threads=T, schedule="static", chunksize=1):
            lo = t * nnz // T
            hi = (t + 1) * nnz // T
            for j in range(lo, hi):
                r = user_new[users[j]]
                c = item_new[items[j]]
                blk = _group(r, n_users, B) * B + _group(c, n_items, B)
                p = counts[t, blk]
                counts[t, blk] = p + 1
                out_users[p] = <int32_t> r
                out_items[p] = <int32_t> c
                out_values[p] = values[j]
    with nogil, parallel(num_threads=T):
        head = <int64_t *> malloc(((1 << FLAG_BITS) + 1) * sizeof(int64_t))
        end = <int64_t *> malloc(((1 << FLAG_BITS) + 1) * sizeof(int64_t))
        if head == NULL or end == NULL:
            failed[0] = 1
        for blk in prange(BB, schedule="dynamic"):
            if failed[0]:
                continue
            r = blk // B
            c = blk % B
            u0 = _first(r, n_users, B)
            nu = _first(r + 1, n_users, B) - u0
            begin = block_ptr[blk]
            m = block_ptr[blk + 1] - begin
            _sort_block(&out_users[begin], &out_items[begin], &out_values[begin], m, u0,
                        nu, head, end)
            for j in range(begin, begin + m - 1):
                if out_users[j] == out_users[j + 1] and out_items[j] == out_items[j + 1]:
                    dup[blk] = j
                    break
        free(head)
        free(end)
    if failed[0]:
        return LAYOUT_NOMEM, -1
    for blk in range(BB):
        if dup[blk] >= 0:
            return LAYOUT_DUPLICATE, int(dup[blk])
    return LAYOUT_OK, -1


# ---------------------------------------------------------------------------- CSR
#
# (e) The users x items CSR matrix of the ALS solver is built the same way: a counting
#     sort of the triples by row (per-thread chunks and cursors), then each row sorted by
#     column in place: insertion sort for short rows, otherwise a least-significant-digit
#     radix sort on 8-bit digits through a per-thread buffer of the longest row.  The
#     transpose is one more counting sort: every thread scatters a contiguous range of
#     rows in order, so each output row lists its columns in increasing order.

cdef inline void _radix_sort(index_t *col, floating *val, int64_t m, int digits,
                             index_t *tmp_col, floating *tmp_val,
                             int64_t *count) noexcept nogil:
    """Sort m (col, val) pairs by col (non-negative, below 256**digits), stably, in
    place (digits passes through the buffers; an odd count ends with one copy back)."""
    cdef int pass_, shift, b
    cdef int64_t j, s, p
    cdef index_t *src_c = col
    cdef floating *src_v = val
    cdef index_t *dst_c = tmp_col
    cdef floating *dst_v = tmp_val
    cdef index_t *swap_c
    cdef floating *swap_v
    for pass_ in range(digits):
        shift = 8 * pass_
        memset(count, 0, 257 * sizeof(int64_t))
        for j in range(m):
            count[((src_c[j] >> shift) & 255) + 1] += 1
        s = 0
        for b in range(257):
            s = s + count[b]
            count[b] = s
        for j in range(m):
            b = (src_c[j] >> shift) & 255
            p = count[b]
            count[b] = p + 1
            dst_c[p] = src_c[j]
            dst_v[p] = src_v[j]
        swap_c = src_c; src_c = dst_c; dst_c = swap_c
        swap_v = src_v; src_v = dst_v; dst_v = swap_v
    if src_c != col:
        for j in range(m):
            col[j] = src_c[j]
            val[j] = src_v[j]


cdef inline void _keep_first(int64_t *slot, int64_t j) noexcept nogil:
    """Record position j in *slot if it is the first (lowest) one seen."""
    if slot[0] < 0 or j < slot[0]:
        slot[0] = j


def csr_from_triples(const int32_t[::1] rows,     # IN  (nnz,) row of each entry
                     const int32_t[::1] cols,     # IN  (nnz,) column of each entry
                     const floating[::1] values,  # IN  (nnz,)
                     int64_t n_cols,
                     index_t[::1] indptr,         # OUT (n_rows + 1,)
                     index_t[::1] indices,        # OUT (nnz,) sorted within rows
                     floating[::1] data,          # OUT (nnz,)
                     int num_threads):
    """Build a CSR matrix with sorted indices from (row, col, value) triples (design (e)).
    Returns ``(status, position)`` as :func:`sgd_blocks`: ``(2, p)`` when indices[p] and
    indices[p + 1] repeat a column within a row (the first such place)."""
    cdef int64_t nnz = rows.shape[0]
    cdef int64_t n_rows = indptr.shape[0] - 1
    cdef int T = max(1, num_threads)
    counts_arr = np.zeros((T, n_rows), dtype=np.int64)
    cdef int64_t[:, ::1] counts = counts_arr
    cdef int failed[1]
    cdef int t, digits = 1
    cdef int64_t j, lo, hi, r, p, s, begin, m, max_row = 0, first_dup = -1
    cdef index_t *tmp_c
    cdef floating *tmp_v
    cdef int64_t *cnt
    failed[0] = 0
    while digits < 8 and (n_cols - 1) >> (8 * digits) > 0:
        digits += 1
    with nogil:
        for t in prange(T, num_threads=T, schedule="static", chunksize=1):
            lo = t * nnz // T
            hi = (t + 1) * nnz // T
            for j in range(lo, hi):
                counts[t, rows[j]] += 1
        _counts_to_cursors(&counts[0, 0], T, n_rows, &indptr[0])
        for r in range(n_rows):
            if indptr[r + 1] - indptr[r] > max_row:
                max_row = indptr[r + 1] - indptr[r]
        for t in prange(T, num_threads=T, schedule="static", chunksize=1):
            lo = t * nnz // T
            hi = (t + 1) * nnz // T
            for j in range(lo, hi):
                r = rows[j]
                p = counts[t, r]
                counts[t, r] = p + 1
                indices[p] = <index_t> cols[j]
                data[p] = values[j]
    del counts_arr
    dup_arr = np.full(T, -1, dtype=np.int64)
    cdef int64_t[::1] dup = dup_arr
    with nogil, parallel(num_threads=T):
        tmp_c = <index_t *> malloc(<size_t> max(max_row, 1) * sizeof(index_t))
        tmp_v = <floating *> malloc(<size_t> max(max_row, 1) * sizeof(floating))
        cnt = <int64_t *> malloc(257 * sizeof(int64_t))
        if tmp_c == NULL or tmp_v == NULL or cnt == NULL:
            failed[0] = 1
        for r in prange(n_rows, schedule="dynamic", chunksize=256):
            if failed[0]:
                continue
            begin = indptr[r]
            m = indptr[r + 1] - begin
            if m <= INSERTION_MAX:
                _insertion_sort(&indices[begin], &data[begin], m)
            else:
                _radix_sort(&indices[begin], &data[begin], m, digits, tmp_c, tmp_v, cnt)
            for j in range(begin, begin + m - 1):
                if indices[j] == indices[j + 1]:
                    _keep_first(&dup[threadid()], j)
                    break
        free(tmp_c)
        free(tmp_v)
        free(cnt)
    if failed[0]:
        return LAYOUT_NOMEM, -1
    for t in range(T):
        if dup[t] >= 0 and (first_dup < 0 or dup[t] < first_dup):
            first_dup = dup[t]
    if first_dup >= 0:
        return LAYOUT_DUPLICATE, int(first_dup)
    return LAYOUT_OK, -1


def csr_transpose(const index_t[::1] indptr,      # IN  (n_rows + 1,)
                  const index_t[::1] indices,     # IN  (nnz,)
                  const floating[::1] data,       # IN  (nnz,)
                  index_t[::1] out_indptr,        # OUT (n_cols + 1,)
                  index_t[::1] out_indices,       # OUT (nnz,) rows, increasing within a column
                  floating[::1] out_data,         # OUT (nnz,)
                  int num_threads):
    """The CSR matrix of the transpose (design (e)); indices need not be sorted."""
    cdef int64_t n_rows = indptr.shape[0] - 1
    cdef int64_t n_cols = out_indptr.shape[0] - 1
    cdef int T = max(1, num_threads)
    counts_arr = np.zeros((T, n_cols), dtype=np.int64)
    cdef int64_t[:, ::1] counts = counts_arr
    cdef int t
    cdef int64_t r, j, lo, hi, c, p, s
    with nogil:
        for t in prange(T, num_threads=T, schedule="static", chunksize=1):
            lo = t * n_rows // T
            hi = (t + 1) * n_rows // T
            for j in range(indptr[lo], indptr[hi]):
                counts[t, indices[j]] += 1
        _counts_to_cursors(&counts[0, 0], T, n_cols, &out_indptr[0])
        for t in prange(T, num_threads=T, schedule="static", chunksize=1):
            lo = t * n_rows // T
            hi = (t + 1) * n_rows // T
            for r in range(lo, hi):
                for j in range(indptr[r], indptr[r + 1]):
                    c = indices[j]
                    p = counts[t, c]
                    counts[t, c] = p + 1
                    out_indices[p] = <index_t> r
                    out_data[p] = data[j]
