# Body of the SGD kernel modules `sgd` (portable) and `sgd_avx2` (AVX2 + FMA).  Each
# module includes this file once; setup.py compiles them with different flags and
# fastmf._dispatch imports the fastest one the CPU supports.  See sgd.pyx for the design.
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint64_t

from _losses cimport (LOSS_LOGISTIC, LOSS_SQUARED, Logistic, LossSum, Squared, loss_grad,
                      loss_sum_init, loss_sum_value, loss_t)
from _rng cimport rng_below, rng_next
from _vec cimport dot, pair_step

import numpy as np

cdef enum:
    STATUS_OK = 0
    STATUS_NONFINITE = 1     # the epoch met a non-finite loss and stopped


cdef struct SGDParams:
    double learning_rate
    double l2             # decay of factor rows, per update of that row
    double l2_bias        # decay of bias terms, per update of that bias
    double mu             # global bias (fixed during SGD)
    bint biases           # learn b_u and b_i
    int k                 # number of factors


cdef struct Plan:
    # One epoch's visiting plan; entry t * B + r is row r of the t-th stratum.
    int64_t *block       # which block runs there
    int64_t *start       # position in the block where the visit starts
    signed char *backward    # 1: visit the block backwards (cyclically) from start
    int *order           # B: order of the strata
    int *cols            # B: item group paired with user group 0 in stratum 0, ...


cdef void _draw_plan(int n_blocks, const int64_t *block_ptr, uint64_t *state,
                     Plan *plan) noexcept nogil:
    """Draw one epoch's visiting plan from *state (serially)."""
    cdef int B = n_blocks
    cdef int t, r, j, tmp
    cdef int64_t blk, n
    cdef uint64_t x
    cdef int *order = plan.order
    cdef int *cols = plan.cols
    for t in range(B):
        order[t] = t
        cols[t] = t
    # Fisher-Yates shuffles of the stratum order and of the item groups.
    for t in range(B - 1, 0, -1):
        j = <int> rng_below(state, t + 1)
        tmp = order[t]; order[t] = order[j]; order[j] = tmp
    for t in range(B - 1, 0, -1):
        j = <int> rng_below(state, t + 1)
        tmp = cols[t]; cols[t] = cols[j]; cols[j] = tmp
    for t in range(B):
        for r in range(B):
            blk = r * B + cols[(r + order[t]) % B]
            plan.block[t * B + r] = blk
            n = block_ptr[blk + 1] - block_ptr[blk]
            x = rng_next(state)
            plan.backward[t * B + r] = <signed char> (x & 1)
            plan.start[t * B + r] = <int64_t> ((x >> 1) % <uint64_t> n) if n > 0 else 0


cdef inline double _run(loss_t tag, const int32_t *users, const int32_t *items,
                        const floating *values, int64_t pos, int64_t count, int64_t step,
                        floating *P, floating *Q, floating *bu, floating *bi,
                        const SGDParams *prm) noexcept nogil:
    """Update on `count` ratings starting at position `pos`, moving by `step` (+1 or -1).
    Returns the sum of the losses seen before each update."""
    cdef LossSum loss
    cdef int k = prm.k
    cdef floating lr = <floating> prm.learning_rate
    cdef floating decay = <floating> (1.0 - prm.learning_rate * prm.l2)
    cdef floating bias_decay = <floating> (1.0 - prm.learning_rate * prm.l2_bias)
    cdef floating mu = <floating> prm.mu
    cdef floating s, g
    cdef floating *p
    cdef floating *q
    cdef int64_t j, idx
    cdef int32_t u, i
    loss_sum_init(&loss)
    for j in range(count):
        idx = pos + j * step
        u = users[idx]
        i = items[idx]
        p = P + <int64_t> u * k
        q = Q + <int64_t> i * k
        s = mu + bu[u] + bi[i] + dot(p, q, k)
        g = loss_grad(tag, values[idx], s, &loss)
        if prm.biases:
            bu[u] = bias_decay * bu[u] + lr * g
            bi[i] = bias_decay * bi[i] + lr * g
        pair_step(p, q, k, decay, lr * g)
    return loss_sum_value(&loss)


cdef double _run_block(loss_t tag, const int32_t *users, const int32_t *items,
                       const floating *values, int64_t begin, int64_t n, int64_t start,
                       bint backward, floating *P, floating *Q, floating *bu, floating *bi,
                       const SGDParams *prm) noexcept nogil:
    """Visit the n ratings at [begin, begin + n) once, cyclically from begin + start."""
    cdef double loss
    if n == 0:
        return 0.0
    if backward:   # start, start-1, ..., 0, n-1, ..., start+1
        loss = _run(tag, users, items, values, begin + start, start + 1, -1,
                    P, Q, bu, bi, prm)
        loss += _run(tag, users, items, values, begin + n - 1, n - 1 - start, -1,
                     P, Q, bu, bi, prm)
    else:          # start, ..., n-1, 0, ..., start-1
        loss = _run(tag, users, items, values, begin + start, n - start, 1,
                    P, Q, bu, bi, prm)
        loss += _run(tag, users, items, values, begin, start, 1, P, Q, bu, bi, prm)
    return loss


cdef int _epoch(loss_t tag, const int32_t *users, const int32_t *items,
                const floating *values, const int64_t *block_ptr, int n_blocks,
                floating *P, floating *Q, floating *bu, floating *bi,
                const SGDParams *prm, uint64_t *state, int num_threads,
                Plan *plan, double *block_loss, double *loss_out) noexcept nogil:
    cdef int B = n_blocks
    cdef int t, r
    cdef int status = STATUS_OK
    cdef int64_t blk, e
    cdef double total = 0.0
    _draw_plan(B, block_ptr, state, plan)
    for t in range(B):
        # The B blocks of a stratum are disjoint in users and items.  `dynamic`: block
        # sizes differ, and which thread runs a block does not change the result.
        for r in prange(B, num_threads=num_threads, schedule="dynamic", chunksize=1):
            e = t * B + r
            blk = plan.block[e]
            block_loss[r] = _run_block(
                tag, users, items, values, block_ptr[blk],
                block_ptr[blk + 1] - block_ptr[blk], plan.start[e], plan.backward[e],
                P, Q, bu, bi, prm)
        for r in range(B):     # fixed summation order: same total for any thread count
            total += block_loss[r]
        if not isfinite(total):
            status = STATUS_NONFINITE
            break
    loss_out[0] = total
    return status


cdef class _PlanBuffers:
    """Owns the scratch arrays behind a Plan for B x B blocks."""
    cdef int64_t[::1] block, start
    cdef signed char[::1] backward
    cdef int[::1] perms
    cdef double[::1] block_loss
    cdef Plan plan

    def __cinit__(self, int n_blocks):
        cdef int B = n_blocks
        self.block = np.empty(B * B, dtype=np.int64)
        self.start = np.empty(B * B, dtype=np.int64)
        self.backward = np.empty(B * B, dtype=np.int8)
        self.perms = np.empty(2 * B, dtype=np.intc)
        self.block_loss = np.empty(B, dtype=np.float64)
        self.plan.block = &self.block[0]
        self.plan.start = &self.start[0]
        self.plan.backward = &self.backward[0]
        self.plan.order = &self.perms[0]
        self.plan.cols = &self.perms[B]


def sgd_epoch(const int32_t[::1] users,        # IN  user of each rating, block order
              const int32_t[::1] items,        # IN  item of each rating, block order
              const floating[::1] values,      # IN  target of each rating
              const int64_t[::1] block_ptr,    # IN  B*B+1 offsets of block (r, c) at r*B+c
              int n_blocks,                    # IN  B
              floating[:, ::1] user_factors,   # IN/OUT  (n_users, k)
              floating[:, ::1] item_factors,   # IN/OUT  (n_items, k)
              floating[::1] user_bias,         # IN/OUT  (n_users,)
              floating[::1] item_bias,         # IN/OUT  (n_items,)
              double mu, double learning_rate, double l2, double l2_bias,
              bint biases, int loss,
              uint64_t[::1] rng_state,         # IN/OUT  one word, advanced by the epoch
              int num_threads):
    """Run one SGD epoch in place.  Returns ``(loss_sum, status)``: the sum over ratings of
    the loss seen just before each update, and 0 (ok) or 1 (non-finite loss; the epoch
    stopped early and the parameters must be discarded).

    All arguments are trusted: shapes, index ranges, block layout and thread count are
    checked by the Python layer (fastmf._sgd).
    """
    cdef SGDParams prm
    prm.learning_rate = learning_rate
    prm.l2 = l2
    prm.l2_bias = l2_bias
    prm.mu = mu
    prm.biases = biases
    prm.k = user_factors.shape[1]
    cdef double loss_sum = 0.0
    cdef int status
    cdef Squared squared
    cdef Logistic logistic
    cdef _PlanBuffers buf = _PlanBuffers(n_blocks)
    cdef const int32_t *u_ptr = &users[0]
    cdef const int32_t *i_ptr = &items[0]
    cdef const floating *v_ptr = &values[0]
    cdef floating *P = &user_factors[0, 0]
    cdef floating *Q = &item_factors[0, 0]
    cdef floating *bu = &user_bias[0]
    cdef floating *bi = &item_bias[0]
    with nogil:
        if loss == LOSS_LOGISTIC:
            status = _epoch(logistic, u_ptr, i_ptr, v_ptr, &block_ptr[0], n_blocks,
                            P, Q, bu, bi, &prm, &rng_state[0], num_threads,
                            &buf.plan, &buf.block_loss[0], &loss_sum)
        else:
            status = _epoch(squared, u_ptr, i_ptr, v_ptr, &block_ptr[0], n_blocks,
                            P, Q, bu, bi, &prm, &rng_state[0], num_threads,
                            &buf.plan, &buf.block_loss[0], &loss_sum)
    return loss_sum, status


def epoch_order(const int64_t[::1] block_ptr, int n_blocks, uint64_t[::1] rng_state):
    """Positions of the ratings in the order that `sgd_epoch` with the same `rng_state`
    visits them on one thread (strata in order, blocks of a stratum in row order).
    Advances `rng_state` exactly as `sgd_epoch` does.  Used by tests and the reference."""
    cdef int B = n_blocks
    cdef int64_t nnz = block_ptr[B * B]
    order_arr = np.empty(nnz, dtype=np.int64)
    cdef int64_t[::1] order = order_arr
    cdef _PlanBuffers buf = _PlanBuffers(n_blocks)
    cdef int64_t w = 0, j, begin, n, start, e
    _draw_plan(B, &block_ptr[0], &rng_state[0], &buf.plan)
    for e in range(B * B):
        begin = block_ptr[buf.plan.block[e]]
        n = block_ptr[buf.plan.block[e] + 1] - begin
        start = buf.plan.start[e]
        for j in range(n):
            if buf.plan.backward[e]:
                order[w] = begin + (start - j + n) % n
            else:
                order[w] = begin + (start + j) % n
            w += 1
    return order_arr


def py_loss_grad(int loss, double y, double s):
    """``(l(y, s), -dl/ds)`` in double precision, for tests of _losses.pxd."""
    cdef LossSum value
    cdef double g
    cdef Squared squared
    cdef Logistic logistic
    loss_sum_init(&value)
    if loss == LOSS_SQUARED:
        g = loss_grad(squared, y, s, &value)
    elif loss == LOSS_LOGISTIC:
        g = loss_grad(logistic, y, s, &value)
    else:
        raise ValueError(f"unknown loss code {loss}")
    return loss_sum_value(&value), g
