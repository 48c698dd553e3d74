# One SGD step and one walk over a block of ratings (header-only: cimported by bare name
# by the SGD kernels and by the public C-level API, fastmf_capi.pxd, so that both run the
# same code).  The update rule is written out at the top of sgd.pyx.
from cython cimport floating
from libc.stdint cimport int32_t, int64_t

from _losses cimport LossSum, loss_grad, loss_sum_init, loss_sum_value, loss_t
from _vec cimport (K16, K32, K64, K100, K128, KAny, fmf_dot_tree_d, fmf_dot_tree_f,
                  fmf_pair_step_d, fmf_pair_step_f, prefetch_row, width_of, width_t)


cdef enum:
    # A walk asks for the factor rows of the rating this many steps ahead of each of its
    # two chains.  Once the model outgrows the caches the rows of the next ratings are
    # cache misses that the hardware prefetchers cannot predict (the item of each rating
    # is random); on synth 10M (k=32, one thread) this took an epoch from 113 ms to 92 ms,
    # with no change on synth 1M, where everything stays in cache.
    PREFETCH_AHEAD = 8


cdef struct SGDParams:
    double learning_rate
    double l2             # decay of factor rows, per update of that row
    double l2_bias        # decay of bias terms, per update of that bias
    double mu             # global bias (fixed during SGD)
    bint biases           # learn b_u and b_i
    int k                 # number of factors


cdef inline void _update(loss_t tag, width_t width, int64_t idx, const int32_t *users,
                         const int32_t *items, const floating *values,
                         floating *P, floating *Q, floating *bu, floating *bi, int k,
                         floating mu, floating lr, floating decay, floating bias_decay,
                         bint biases, LossSum *loss) noexcept nogil:
    """The SGD step on rating number idx (the update rule at the top of sgd.pyx).  The row
    loops of fastmf_vec.h are inlined here, so with a width tag they have constant
    length."""
    k = width_of(width, k)
    cdef int32_t u = users[idx]
    cdef int32_t i = items[idx]
    cdef floating *p = P + <int64_t> u * k
    cdef floating *q = Q + <int64_t> i * k
    cdef floating s
    if floating is float:
        s = mu + bu[u] + bi[i] + fmf_dot_tree_f(p, q, k)
    else:
        s = mu + bu[u] + bi[i] + fmf_dot_tree_d(p, q, k)
    cdef floating g = loss_grad(tag, values[idx], s, loss)
    if biases:
        bu[u] = bias_decay * bu[u] + lr * g
        bi[i] = bias_decay * bi[i] + lr * g
    if floating is float:
        fmf_pair_step_f(p, q, k, decay, lr * g)
    else:
        fmf_pair_step_d(p, q, k, decay, lr * g)


cdef inline int64_t _advance(int64_t a, int64_t d, int64_t n) noexcept nogil:
    """Next cyclic position in [0, n) moving by d = +1 or -1."""
    a += d
    if a == n:
        return 0
    if a < 0:
        return n - 1
    return a


cdef inline double _run_in_order(loss_t tag, const int32_t *users, const int32_t *items,
                                 const floating *values, int64_t n, floating *P,
                                 floating *Q, floating *bu, floating *bi,
                                 const SGDParams *prm) noexcept nogil:
    """The update on ratings 0, 1, ..., n-1 in that order; returns the summed loss."""
    cdef LossSum loss
    cdef int64_t j
    cdef KAny width
    loss_sum_init(&loss)
    for j in range(n):
        _update(tag, width, j, users, items, values, P, Q, bu, bi, prm.k, <floating> prm.mu,
                <floating> prm.learning_rate,
                <floating> (1.0 - prm.learning_rate * prm.l2),
                <floating> (1.0 - prm.learning_rate * prm.l2_bias), prm.biases, &loss)
    return loss_sum_value(&loss)


cdef inline int64_t _second_half(int64_t start, int64_t d, int64_t n) noexcept nogil:
    """Where the second half of a walk of n positions from `start`, step d, begins."""
    if n == 0:
        return 0
    return ((start + d * (n // 2)) % n + n) % n


cdef inline void _prefetch_rating(int64_t idx, const int32_t *users, const int32_t *items,
                                  const floating *P, const floating *Q,
                                  int k) noexcept nogil:
    """Ask for every cache line of the factor rows of rating idx."""
    prefetch_row(P + <int64_t> users[idx] * k, k * <int> sizeof(floating))
    prefetch_row(Q + <int64_t> items[idx] * k, k * <int> sizeof(floating))


cdef inline int64_t _shift(int64_t a, int64_t s, int64_t n) noexcept nogil:
    """(a + s) mod n for a in [0, n) and |s| < n."""
    a += s
    if a >= n:
        return a - n
    if a < 0:
        return a + n
    return a


cdef inline double _walk(loss_t tag, width_t width, const int32_t *users,
                         const int32_t *items, const floating *values, int64_t begin,
                         int64_t n, int64_t start, bint backward, floating *P, floating *Q,
                         floating *bu, floating *bi, const SGDParams *prm) noexcept nogil:
    """The walk of `_run_block`, with k a compile-time constant unless width is KAny."""
    cdef int k = width_of(width, prm.k)
    cdef LossSum loss
    cdef floating lr = <floating> prm.learning_rate
    cdef floating decay = <floating> (1.0 - prm.learning_rate * prm.l2)
    cdef floating bias_decay = <floating> (1.0 - prm.learning_rate * prm.l2_bias)
    cdef floating mu = <floating> prm.mu
    cdef bint biases = prm.biases
    cdef int64_t d = -1 if backward else 1
    cdef int64_t ahead = d * PREFETCH_AHEAD
    cdef bint prefetch = n > PREFETCH_AHEAD
    cdef int64_t h = n // 2
    cdef int64_t a = start                  # first half
    cdef int64_t b = _second_half(start, d, n)
    cdef int64_t j
    loss_sum_init(&loss)
    for j in range(h):
        if prefetch:
            _prefetch_rating(begin + _shift(a, ahead, n), users, items, P, Q, k)
            _prefetch_rating(begin + _shift(b, ahead, n), users, items, P, Q, k)
        _update(tag, width, begin + a, users, items, values, P, Q, bu, bi, k, mu, lr, decay,
                bias_decay, biases, &loss)
        _update(tag, width, begin + b, users, items, values, P, Q, bu, bi, k, mu, lr, decay,
                bias_decay, biases, &loss)
        a = _advance(a, d, n)
        b = _advance(b, d, n)
    if n - h > h:       # odd n: the second half has one more rating
        _update(tag, width, begin + b, users, items, values, P, Q, bu, bi, k, mu, lr, decay,
                bias_decay, biases, &loss)
    return loss_sum_value(&loss)


cdef inline double _run_block(loss_t tag, const int32_t *users, const int32_t *items,
                              const floating *values, int64_t begin, int64_t n,
                              int64_t start, bint backward, floating *P, floating *Q,
                              floating *bu, floating *bi,
                              const SGDParams *prm) noexcept nogil:
    """Visit the n ratings at [begin, begin + n) once and return the sum of their losses.

    The walk goes cyclically from `start`, forwards or backwards.  Its first and second
    halves are interleaved update by update: consecutive ratings of one user form a chain
    of dependent updates (each dot product needs the previous step's p_u), and two
    independent chains in flight let the CPU overlap them (+28% updates/s for the squared
    loss and +37% for the logistic loss at k=32 on a 2-core Xeon; no change at k=100).
    `_walk_order` (_sgd_body.pxi) lists the same sequence for tests.

    Common factor counts get a copy of the walk compiled for that k: the row loops are
    then fully unrolled, with no remainder handling (+16% updates/s at k=32 on synth 1M).
    Every copy does the same arithmetic in the same order."""
    cdef K16 k16
    cdef K32 k32
    cdef K64 k64
    cdef K100 k100
    cdef K128 k128
    cdef KAny other
    if prm.k == 32:
        return _walk(tag, k32, users, items, values, begin, n, start, backward, P, Q, bu,
                     bi, prm)
    if prm.k == 64:
        return _walk(tag, k64, users, items, values, begin, n, start, backward, P, Q, bu,
                     bi, prm)
    if prm.k == 16:
        return _walk(tag, k16, users, items, values, begin, n, start, backward, P, Q, bu,
                     bi, prm)
    if prm.k == 128:
        return _walk(tag, k128, users, items, values, begin, n, start, backward, P, Q, bu,
                     bi, prm)
    if prm.k == 100:        # Surprise's default, the usual MovieLens setting
        return _walk(tag, k100, users, items, values, begin, n, start, backward, P, Q, bu,
                     bi, prm)
    return _walk(tag, other, users, items, values, begin, n, start, backward, P, Q, bu, bi,
                 prm)
