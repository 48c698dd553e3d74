# One SGD step and one walk over a block of ratings (header-only: cimported by bare name
# by the SGD kernels and by the public C-level API, fastmf_capi.pxd, so that both run the
# same code).  The update rule is written out at the top of sgd.pyx.
from cython cimport floating
from libc.stdint cimport int32_t, int64_t

from _losses cimport Logistic, LossSum, loss_grad, loss_sum_init, loss_sum_value, loss_t
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


cdef inline floating _apply(loss_t tag, width_t width, int64_t idx, floating s,
                            const int32_t *users, const int32_t *items,
                            const floating *values, floating *P, floating *Q, floating *bu,
                            floating *bi, int k, floating lr, floating decay,
                            floating bias_decay, bint biases, LossSum *loss) noexcept nogil:
    """The SGD step on rating number idx given its score s (the update rule at the top of
    sgd.pyx); returns g.  The row loops of fastmf_vec.h are inlined here, so with a width
    tag they have constant length."""
    k = width_of(width, k)
    cdef int32_t u = users[idx]
    cdef int32_t i = items[idx]
    cdef floating g = loss_grad(tag, values[idx], s, loss)
    if biases:
        bu[u] = bias_decay * bu[u] + lr * g
        bi[i] = bias_decay * bi[i] + lr * g
    if floating is float:
        fmf_pair_step_f(P + <int64_t> u * k, Q + <int64_t> i * k, k, decay, lr * g)
    else:
        fmf_pair_step_d(P + <int64_t> u * k, Q + <int64_t> i * k, k, decay, lr * g)
    return g


cdef inline floating _score(width_t width, int64_t idx, const int32_t *users,
                            const int32_t *items, const floating *P, const floating *Q,
                            const floating *bu, const floating *bi, int k,
                            floating mu) noexcept nogil:
    """s = mu + b_u + b_i + <p_u, q_i> of rating number idx, from the current parameters."""
    k = width_of(width, k)
    cdef int32_t u = users[idx]
    cdef int32_t i = items[idx]
    cdef const floating *p = P + <int64_t> u * k
    cdef const floating *q = Q + <int64_t> i * k
    if floating is float:
        return mu + bu[u] + bi[i] + fmf_dot_tree_f(p, q, k)
    else:
        return mu + bu[u] + bi[i] + fmf_dot_tree_d(p, q, k)


cdef inline void _update(loss_t tag, width_t width, int64_t idx, const int32_t *users,
                         const int32_t *items, const floating *values,
                         floating *P, floating *Q, floating *bu, floating *bi, int k,
                         floating mu, floating lr, floating decay, floating bias_decay,
                         bint biases, LossSum *loss) noexcept nogil:
    """The SGD step on rating number idx, its score taken from the current parameters."""
    _apply(tag, width, idx, _score(width, idx, users, items, P, Q, bu, bi, k, mu), users,
           items, values, P, Q, bu, bi, k, lr, decay, bias_decay, biases, loss)


cdef inline bint _step_ahead(loss_t tag, width_t width, int64_t idx, floating s,
                             int64_t nxt, floating *s_next, const int32_t *users,
                             const int32_t *items, const floating *values, floating *P,
                             floating *Q, floating *bu, floating *bi, int k, floating mu,
                             floating lr, floating decay, floating bias_decay, bint biases,
                             LossSum *loss) noexcept nogil:
    """The SGD step on rating idx with score s; if rating nxt has the same user, also write
    to *s_next the score that rating will have after this step, and return True.

    With p, q the rows of this rating before the step and r the item row of rating nxt,
    the step makes p' = decay p + lr g q (and b_u' = bias_decay b_u + lr g), so
        s_next = mu + b_u' + b_j + <p', r>
               = [mu + bias_decay b_u + b_j + decay <p, r>] + g [lr (<q, r> + 1)]
    (without biases, b_u stays and the + 1 goes).  Both brackets are computed from the
    rows as they are before the step, independently of g: after g only one multiply-add
    separates this score from the next, where the direct score needs the row update and
    a whole dot product.  The two are equal in exact arithmetic; in floating point they
    differ by rounding.  The caller must discard *s_next when another update changes p,
    r, b_u or b_j before rating nxt."""
    k = width_of(width, k)
    cdef int32_t u = users[idx]
    cdef bint ahead = users[nxt] == u
    cdef const floating *p = P + <int64_t> u * k
    cdef const floating *q = Q + <int64_t> items[idx] * k
    cdef const floating *r
    cdef floating base = 0, slope = 0, g
    if ahead:
        r = Q + <int64_t> items[nxt] * k
        if floating is float:
            slope = fmf_dot_tree_f(q, r, k)
            base = fmf_dot_tree_f(p, r, k)
        else:
            slope = fmf_dot_tree_d(q, r, k)
            base = fmf_dot_tree_d(p, r, k)
        slope = lr * (slope + (1 if biases else 0))
        base = (mu + (bias_decay * bu[u] if biases else bu[u]) + bi[items[nxt]]
                + decay * base)
    g = _apply(tag, width, idx, s, users, items, values, P, Q, bu, bi, k, lr, decay,
               bias_decay, biases, loss)
    if ahead:
        s_next[0] = base + g * slope
    return ahead


cdef inline bint _touches(int64_t idx, int64_t other, const int32_t *users,
                          const int32_t *items) noexcept nogil:
    """Whether the update on rating idx changes a parameter of the score of rating other
    (its user's row and bias, or its item's)."""
    return users[idx] == users[other] or items[idx] == items[other]


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


cdef inline double _walk_direct(loss_t tag, width_t width, const int32_t *users,
                                const int32_t *items, const floating *values,
                                int64_t begin, int64_t n, int64_t start, bint backward,
                                floating *P, floating *Q, floating *bu, floating *bi,
                                const SGDParams *prm) noexcept nogil:
    """The walk of `_run_block`, each score computed from the current rows."""
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


cdef inline double _walk_ahead(loss_t tag, width_t width, const int32_t *users,
                               const int32_t *items, const floating *values, int64_t begin,
                               int64_t n, int64_t start, bint backward, floating *P,
                               floating *Q, floating *bu, floating *bi,
                               const SGDParams *prm) noexcept nogil:
    """`_walk_direct` with each chain's next score found ahead of time (`_step_ahead`): the
    same updates in the same order, with scores that differ only by rounding.

    One loop step updates one rating; the two chains take turns by swapping their state
    (position, next score, whether that score is still valid), so the step is written
    once and the compiler inlines it whole.  (The set-up repeats `_walk_direct`'s: done
    once in `_walk` and passed in, it tipped GCC into leaving `_score` out of line.)"""
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
    cdef int64_t pos = start                    # this chain: the first half
    cdef int64_t other = _second_half(start, d, n)
    cdef floating s = 0, s_other = 0            # each chain's next score, if known
    cdef bint known = False, known_other = False
    cdef int64_t j, nxt
    loss_sum_init(&loss)
    for j in range(n):
        if j == 2 * h:      # odd n: the second half has one more rating
            pos, other = other, pos
            s, s_other = s_other, s
            known, known_other = known_other, known
        if prefetch:
            _prefetch_rating(begin + _shift(pos, ahead, n), users, items, P, Q, k)
        nxt = _advance(pos, d, n)
        if known_other and _touches(begin + pos, begin + other, users, items):
            known_other = False
        if not known:
            s = _score(width, begin + pos, users, items, P, Q, bu, bi, k, mu)
        known = _step_ahead(tag, width, begin + pos, s, begin + nxt, &s, users, items,
                            values, P, Q, bu, bi, k, mu, lr, decay, bias_decay, biases,
                            &loss)
        pos, other = other, nxt
        s, s_other = s_other, s
        known, known_other = known_other, known
    return loss_sum_value(&loss)


cdef inline double _walk(loss_t tag, width_t width, const int32_t *users,
                         const int32_t *items, const floating *values, int64_t begin,
                         int64_t n, int64_t start, bint backward, floating *P, floating *Q,
                         floating *bu, floating *bi, const SGDParams *prm) noexcept nogil:
    """The walk of `_run_block`, with k a compile-time constant unless width is KAny.  The
    logistic loss finds each chain's next score ahead of time (`_walk_ahead`); the
    squared loss, whose step is short, computes every score from the current rows."""
    if loss_t is Logistic:
        return _walk_ahead(tag, width, users, items, values, begin, n, start, backward, P,
                           Q, bu, bi, prm)
    else:
        return _walk_direct(tag, width, users, items, values, begin, n, start, backward, P,
                            Q, bu, bi, prm)


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
    `_walk_order` (sgd.pyx) lists the same sequence for tests.

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
