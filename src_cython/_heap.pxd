# The top-n heap (header-only: cimported by bare name by the top-n kernel, topk.pyx, and
# by the public C-level API, fastmf_capi.pxd, so that both rank with the same code).
#
# A bounded heap keeps the n best entries seen so far; its root is the entry ranked
# last, so a new entry is kept only if it ranks above the root.  Ranking is total:
# higher score first, equal scores by lower id (the order of a stable argsort of
# -score).  A final in-place heapsort puts the best entry first.
#
# The heap lives in two arrays, hs and hi, in one of two layouts chosen at compile time
# by a fused tag (no branch in the loops):
#   Kept     entry p is (hs[p], hi[p]): the score travels with its id (the kernel keeps
#            the heap in a row of its output arrays while the scores of tiles come and go);
#   Indexed  entry p is the id hi[p], its score hs[hi[p]]: hs is the caller's array of
#            scores, read only, and the heap needs no memory besides the ids.
from cython cimport floating
from libc.stdint cimport int64_t


cdef struct Kept:
    char unused     # C forbids empty structs; the tag carries no data

cdef struct Indexed:
    char unused

ctypedef fused slots_t:
    Kept
    Indexed


cdef inline bint ranks_below(floating s1, int64_t id1,
                             floating s2, int64_t id2) noexcept nogil:
    """True if (s1, id1) ranks below (s2, id2): lower score, or same score and higher id."""
    return s1 < s2 or (s1 == s2 and id1 > id2)


cdef inline floating heap_score(slots_t tag, const floating *hs, const int64_t *hi,
                                Py_ssize_t p) noexcept nogil:
    """The score of entry p."""
    if slots_t is Kept:
        return hs[p]
    else:
        return hs[hi[p]]


cdef inline void _place(slots_t tag, floating *hs, int64_t *hi, Py_ssize_t p, floating s,
                        int64_t i) noexcept nogil:
    """Entry p <- (s, i) (with Indexed only the id is stored)."""
    if slots_t is Kept:
        hs[p] = s
    hi[p] = i


cdef inline void _move(slots_t tag, floating *hs, int64_t *hi, Py_ssize_t to,
                       Py_ssize_t frm) noexcept nogil:
    """Entry `to` <- entry `frm`."""
    if slots_t is Kept:
        hs[to] = hs[frm]
    hi[to] = hi[frm]


cdef inline void heap_sift_down(slots_t tag, floating *hs, int64_t *hi, Py_ssize_t size,
                                Py_ssize_t pos) noexcept nogil:
    """Restore the heap of `size` entries below `pos` (root = lowest-ranked entry)."""
    cdef floating s = heap_score(tag, hs, hi, pos)
    cdef int64_t i = hi[pos]
    cdef Py_ssize_t child
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and ranks_below(heap_score(tag, hs, hi, child + 1), hi[child + 1],
                                            heap_score(tag, hs, hi, child), hi[child]):
            child += 1
        if not ranks_below(heap_score(tag, hs, hi, child), hi[child], s, i):
            break
        _move(tag, hs, hi, pos, child)
        pos = child
    _place(tag, hs, hi, pos, s, i)


cdef inline void heap_push(slots_t tag, floating *hs, int64_t *hi, Py_ssize_t size,
                           floating s, int64_t i) noexcept nogil:
    """Add (s, i) to a heap holding `size` entries (room for one more is assumed; with
    Indexed, s must be hs[i])."""
    cdef Py_ssize_t pos = size
    cdef Py_ssize_t parent = (pos - 1) // 2
    # sift up: every parent that ranks above (s, i) moves down (the root ranks lowest)
    while pos > 0 and ranks_below(s, i, heap_score(tag, hs, hi, parent), hi[parent]):
        _move(tag, hs, hi, pos, parent)
        pos = parent
        parent = (pos - 1) // 2
    _place(tag, hs, hi, pos, s, i)


cdef inline void heap_replace_root(slots_t tag, floating *hs, int64_t *hi, Py_ssize_t size,
                                   floating s, int64_t i) noexcept nogil:
    """Put (s, i) in place of the root of a full heap and restore the heap."""
    _place(tag, hs, hi, 0, s, i)
    heap_sift_down(tag, hs, hi, size, 0)


cdef inline void heap_sort(slots_t tag, floating *hs, int64_t *hi,
                           Py_ssize_t size) noexcept nogil:
    """Heapsort in place: afterwards entry 0 ranks highest."""
    cdef Py_ssize_t end
    cdef floating s
    cdef int64_t i
    for end in range(size - 1, 0, -1):
        if slots_t is Kept:
            s = hs[0]; hs[0] = hs[end]; hs[end] = s
        i = hi[0]; hi[0] = hi[end]; hi[end] = i
        heap_sift_down(tag, hs, hi, end, 0)
