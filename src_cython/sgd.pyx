# SGD epoch kernel for biased matrix factorisation.
#
# Design
# ------
# (a) Conflict-free blocks instead of Hogwild.  The ratings are laid out (by the Python
#     layer, once per fit) in a B x B grid: users and items are each split into B groups
#     through random permutations, and block (r, c) holds the ratings of user group r and
#     item group c, sorted by user.  An epoch's plan is B "strata" of B blocks that share
#     no user group and no item group (DSGD, Gemulla et al. 2011).  Threads never touch the
#     same parameter at the same time, so no locks guard the factors.
#     Instead of a barrier after each stratum, a block starts as soon as the earlier blocks
#     of its own user group and item group are done (a wavefront; see _epoch).  Each
#     parameter then receives exactly the updates of the one-thread run, in the same
#     order: the result is bit-identical for any number of threads, and a thread that the
#     OS preempts holds up only its own row and column of the grid, not the whole epoch.
# (b) Memory locality.  Inside a block the item rows of one item group are reused across
#     users (the group is sized to stay in cache) and each user's ratings are consecutive,
#     so the user row stays in L1.  (A plain C loop of this update over 1M ratings runs
#     about 3x faster in this order than in a random global order on a 2-core Xeon.)
# (c) Shuffling.  Each epoch draws, from a seeded SplitMix64 stream, the order of the
#     strata, the pairing of user groups with item groups, and for every block a random
#     start position and direction.  The whole plan is drawn serially before the parallel
#     loop, so it does not depend on scheduling either.
# (d) Losses are a compile-time fused tag (see _losses.pxd); each specialisation has one
#     loop body.  A user's consecutive ratings in a block form a chain of dependent steps
#     (each score needs the user row the previous step wrote), and the logistic step puts
#     an exp and a division on that chain.  Its walk therefore finds each next score of the
#     same user ahead of time (_step_ahead in _sgd_update.pxd: the score after the step is
#     an affine function of g whose two coefficients come from the rows before the step),
#     so that only one multiply-add separates g from the next score.  Same updates in the
#     same order; the scores differ from directly computed ones by rounding only (the
#     models of tools/fit_grid.py moved by 2e-7 relative in float32, 3e-16 in float64).
#     Ranking losses for implicit feedback (BPR, sampled softmax, WARP) have walks of their
#     own, with negatives drawn inside the block's item group from a stream per block
#     (_sgd_rank.pxd): the same wavefront, and the same independence of the thread count.
# (e) Errors never raise inside the parallel region: a non-finite loss in a block is
#     reported as a status after the epoch and the Python layer raises.
#
# The update for one rating (y, u, i), with s = mu + b_u + b_i + <p_u, q_i>, g = -dl/ds:
#     b_u <- b_u + lr (g - l2_bias b_u)        b_i <- b_i + lr (g - l2_bias b_i)
#     p_u <- p_u + lr (g q_i - l2 p_u)          q_i <- q_i + lr (g p_u - l2 q_i)
# where both factor updates use the values from before the step.
#
# This module is built with the compiler's baseline instruction set; sgd_avx2 and
# sgd_avx512 hold the same code built for AVX2 + FMA and for AVX-512 (wider vectors,
# fused multiply-adds): each of them includes this file, and setup.py compiles the three
# with different flags; fastmf._dispatch imports the fastest one the CPU supports.
from cython cimport floating
from cython.parallel cimport parallel, threadid
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from _openmp cimport (fmf_pause, fmf_yield, omp_destroy_lock, omp_init_lock, omp_lock_t, omp_set_lock,
                      omp_unset_lock)
from _losses cimport (LOSS_BPR, LOSS_LOGISTIC, LOSS_SOFTMAX, LOSS_SQUARED, LOSS_WARP,
                      Logistic, LossSum, Squared, loss_grad,
                      loss_sum_init, loss_sum_value, loss_t)
from _common cimport STATUS_NONFINITE, STATUS_OK
from _rng cimport rng_below, rng_next
from _sgd_rank cimport (RankParams, _block_seed, draw_negatives, group_first, next_segment,
                       rank_scratch_bytes, run_rank_block, segment_begin, segment_end,
                       visit_position)
from _sgd_update cimport SGDParams, _advance, _run_block, _second_half

import numpy as np

cdef enum:
    # A thread with no block ready spins this many times (a pause each, a few tens of
    # microseconds in all, about a block's work on small data) before it gives the core
    # away: sched_yield() on a machine with other runnable processes hands them a whole
    # time slice, and on MovieLens 100K that turned 2 ms epochs into 8 ms ones.
    SPIN_BEFORE_YIELD = 2000

# The codes as the Python layer reads them (fastmf._loss_table, fastmf._sgd), never copied.
LOSSES = {"squared": LOSS_SQUARED, "logistic": LOSS_LOGISTIC, "bpr": LOSS_BPR,
          "softmax": LOSS_SOFTMAX, "warp": LOSS_WARP}
STATUS = {"ok": STATUS_OK, "nonfinite": STATUS_NONFINITE}   # nonfinite: the epoch stopped


cdef struct EpochSettings:
    # The scalar arguments of sgd_epoch (from a dict with these keys).
    double mu               # global bias, fixed
    double learning_rate
    double l2               # decay of factor rows, per update of that row
    double l2_bias          # decay of biases, per update of that bias
    bint biases             # learn b_u and b_i
    int loss_code           # LOSSES


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


cdef void _walk_order(int64_t begin, int64_t n, int64_t start, bint backward,
                      int64_t *out) noexcept nogil:
    """Write the positions `_run_block` visits, in its order, to out[0:n]."""
    cdef int64_t d = -1 if backward else 1
    cdef int64_t h = n // 2
    cdef int64_t a = start
    cdef int64_t b = _second_half(start, d, n)
    cdef int64_t j
    for j in range(h):
        out[2 * j] = begin + a
        out[2 * j + 1] = begin + b
        a = _advance(a, d, n)
        b = _advance(b, d, n)
    if n - h > h:
        out[n - 1] = begin + b


cdef struct Progress:
    # Shared by the threads of one epoch, guarded by `lock`.
    omp_lock_t lock
    int *row_done       # B: strata finished by each user group
    int *col_done       # B: strata finished by each item group
    signed char *taken  # B*B: plan entry claimed by a thread
    int first_open      # every plan entry before this one is taken


cdef int64_t _claim(Progress *pr, const Plan *plan, int B) noexcept nogil:
    """Claim the first plan entry whose user group and item group have finished all their
    earlier strata; -1 if none is ready yet, -2 once every entry is taken.  Call with the
    lock held."""
    cdef int64_t e, end
    cdef int t, r, c, newest = 0
    while pr.first_open < B * B and pr.taken[pr.first_open]:
        pr.first_open += 1
    if pr.first_open == B * B:
        return -2
    for r in range(B):
        newest = max(newest, pr.row_done[r])
    end = min(<int64_t> B * B, (<int64_t> newest + 1) * B)   # later strata cannot be ready
    for e in range(pr.first_open, end):
        if pr.taken[e]:
            continue
        t = <int> (e // B)
        r = <int> (e % B)
        c = <int> (plan.block[e] % B)
        if pr.row_done[r] == t and pr.col_done[c] == t:
            pr.taken[e] = 1
            return e
    return -1


cdef int _epoch(loss_t tag, const int32_t *users, const int32_t *items,
                const floating *values, const int64_t *block_ptr, int n_blocks,
                floating *P, floating *Q, floating *bu, floating *bi,
                const SGDParams *prm, uint64_t *state, int num_threads,
                Plan *plan, Progress *pr, double *block_loss, double *loss_out,
                const RankParams *rank) noexcept nogil:
    """Run one epoch (of a ranking loss when rank is not NULL: see _sgd_rank.pxd).  A block may start as soon as the blocks before it in the plan that
    share its user group or its item group are done (the rows and columns of the grid
    advance as a wavefront, with no barrier between strata).  Every parameter therefore
    sees the same updates in the same order as on one thread: the result does not depend
    on the number of threads or on how they are scheduled."""
    cdef int B = n_blocks
    cdef int r, c, spins
    cdef int64_t e, blk
    cdef double total = 0.0
    cdef uint64_t seeds = 0
    cdef int64_t item_lo
    _draw_plan(B, block_ptr, state, plan)
    if rank != NULL:    # the word the blocks' negative streams start from
        seeds = rng_next(state)
    for r in range(B):
        pr.row_done[r] = 0
        pr.col_done[r] = 0
    for e in range(B * B):
        pr.taken[e] = 0
    pr.first_open = 0
    omp_init_lock(&pr.lock)
    with parallel(num_threads=num_threads):
        spins = 0
        while True:
            omp_set_lock(&pr.lock)
            e = _claim(pr, plan, B)
            omp_unset_lock(&pr.lock)
            if e == -2:
                break
            if e == -1:
                spins = spins + 1
                if spins < SPIN_BEFORE_YIELD:
                    fmf_pause()
                else:
                    fmf_yield()
                continue
            spins = 0
            blk = plan.block[e]
            if rank != NULL:
                item_lo = group_first(blk % B, rank.n_items, B)
                block_loss[e] = run_rank_block(
                    users, items, block_ptr[blk], block_ptr[blk + 1] - block_ptr[blk],
                    plan.start[e], plan.backward[e], P, Q, prm, rank, item_lo,
                    group_first(blk % B + 1, rank.n_items, B) - item_lo,
                    _block_seed(seeds, e), rank.scratch + threadid() * rank.stride)
            else:
                block_loss[e] = _run_block(
                    tag, users, items, values, block_ptr[blk],
                    block_ptr[blk + 1] - block_ptr[blk], plan.start[e], plan.backward[e],
                    P, Q, bu, bi, prm)
            r = <int> (e % B)
            c = <int> (blk % B)
            omp_set_lock(&pr.lock)
            pr.row_done[r] += 1
            pr.col_done[c] += 1
            omp_unset_lock(&pr.lock)
    omp_destroy_lock(&pr.lock)
    for e in range(B * B):     # plan order: the same total for any thread count
        total += block_loss[e]
    loss_out[0] = total
    return STATUS_OK if isfinite(total) else STATUS_NONFINITE


cdef class _PlanBuffers:
    """Owns the scratch arrays behind a Plan for B x B blocks."""
    cdef int64_t[::1] block, start
    cdef signed char[::1] backward
    cdef int[::1] perms, done
    cdef signed char[::1] taken
    cdef double[::1] block_loss
    cdef Plan plan
    cdef Progress progress

    def __cinit__(self, int n_blocks):
        cdef int B = n_blocks
        self.block = np.empty(B * B, dtype=np.int64)
        self.start = np.empty(B * B, dtype=np.int64)
        self.backward = np.empty(B * B, dtype=np.int8)
        self.perms = np.empty(2 * B, dtype=np.intc)
        self.block_loss = np.empty(B * B, dtype=np.float64)
        self.done = np.empty(2 * B, dtype=np.intc)
        self.taken = np.empty(B * B, dtype=np.int8)
        self.progress.row_done = &self.done[0]
        self.progress.col_done = &self.done[B]
        self.progress.taken = &self.taken[0]
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
              EpochSettings settings,          # IN  the scalars (EpochSettings)
              uint64_t[::1] rng_state,         # IN/OUT  one word, advanced by the epoch
              int num_threads,
              int negatives=1,                 # IN  softmax: per user and block; WARP: draws
              double temperature=1.0):         # IN  softmax: tau
    """Run one SGD epoch in place.  Returns ``(loss_sum, status)``: the sum over ratings of
    the loss seen just before each update, and ``STATUS["ok"]`` or ``STATUS["nonfinite"]``
    (the epoch met a non-finite loss and stopped early: discard the parameters).

    All arguments are trusted: shapes, index ranges, block layout and thread count are
    checked by the Python layer (fastmf._sgd).
    """
    cdef SGDParams prm
    prm.learning_rate = settings.learning_rate
    prm.l2 = settings.l2
    prm.l2_bias = settings.l2_bias
    prm.mu = settings.mu
    prm.biases = settings.biases
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
    cdef RankParams rank
    cdef RankParams *ranking = NULL
    cdef double[::1] scratch
    if (settings.loss_code == LOSS_BPR or settings.loss_code == LOSS_SOFTMAX
            or settings.loss_code == LOSS_WARP):
        rank.loss = settings.loss_code
        rank.n_items = item_factors.shape[0]
        rank.negatives = negatives
        rank.temperature = temperature
        rank.stride = rank_scratch_bytes(negatives, prm.k)
        scratch = np.empty(max(num_threads, 1) * rank.stride // 8 + 1, dtype=np.float64)
        rank.scratch = <char *> &scratch[0]
        ranking = &rank
    with nogil:
        if settings.loss_code == LOSS_LOGISTIC or ranking != NULL:
            status = _epoch(logistic, u_ptr, i_ptr, v_ptr, &block_ptr[0], n_blocks,
                            P, Q, bu, bi, &prm, &rng_state[0], num_threads,
                            &buf.plan, &buf.progress, &buf.block_loss[0], &loss_sum,
                            ranking)
        else:
            status = _epoch(squared, u_ptr, i_ptr, v_ptr, &block_ptr[0], n_blocks,
                            P, Q, bu, bi, &prm, &rng_state[0], num_threads,
                            &buf.plan, &buf.progress, &buf.block_loss[0], &loss_sum,
                            ranking)
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
    cdef int64_t w = 0, begin, n, e
    _draw_plan(B, &block_ptr[0], &rng_state[0], &buf.plan)
    for e in range(B * B):
        begin = block_ptr[buf.plan.block[e]]
        n = block_ptr[buf.plan.block[e] + 1] - begin
        _walk_order(begin, n, buf.plan.start[e], buf.plan.backward[e], &order[w])
        w += n
    return order_arr


def ranking_plan(const int32_t[::1] users,     # IN  user of each rating, block order
                 const int32_t[::1] items,     # IN  item of each rating, block order
                 const int64_t[::1] block_ptr,  # IN  B*B+1 offsets of block (r, c) at r*B+c
                 int n_blocks,                  # IN  B
                 int64_t n_items,               # IN  rows of the item factors
                 uint64_t[::1] rng_state,       # IN/OUT  one word, advanced as sgd_epoch does
                 int count,                     # IN  negatives per draw
                 bint by_user=False):           # IN  the softmax walk (one draw per run)
    """``(order, negatives, first)`` of one epoch of a ranking loss, as `sgd_epoch` with
    the same `rng_state` runs it on one thread: the positions of the positives in visiting
    order; the (nnz, count) negatives drawn for each (row t for order[t]; -1: a draw that
    hit one of the user's positives, dropped); and whether order[t] starts a draw.  BPR
    draws for every positive; with `by_user` (softmax) a user's run of positives in a
    block shares one draw, repeated on each of its rows.  Advances `rng_state` exactly as
    `sgd_epoch` does.  Used by tests and the reference."""
    cdef int B = n_blocks
    cdef int64_t nnz = block_ptr[B * B]
    order_arr = np.empty(nnz, dtype=np.int64)
    neg_arr = np.empty((nnz, max(count, 1)), dtype=np.int32)
    first_arr = np.zeros(nnz, dtype=bool)
    cdef int64_t[::1] order = order_arr
    cdef int32_t[:, ::1] neg = neg_arr
    cdef uint8_t[::1] first = first_arr.view(np.uint8)
    cdef _PlanBuffers buf = _PlanBuffers(n_blocks)
    cdef int64_t w = 0, begin, n, e, j, blk, item_lo, item_n, s, s0, t, m
    cdef uint64_t seeds, stream
    _draw_plan(B, &block_ptr[0], &rng_state[0], &buf.plan)
    seeds = rng_next(&rng_state[0])
    for e in range(B * B):
        blk = buf.plan.block[e]
        begin = block_ptr[blk]
        n = block_ptr[blk + 1] - begin
        item_lo = group_first(blk % B, n_items, B)
        item_n = group_first(blk % B + 1, n_items, B) - item_lo
        stream = _block_seed(seeds, e)
        if n == 0:
            continue
        if not by_user:
            for j in range(n):
                order[w] = begin + visit_position(j, n, buf.plan.start[e],
                                                  buf.plan.backward[e])
                draw_negatives(&stream, item_lo, item_n, &users[0], &items[0], begin, n,
                               order[w], &neg[w, 0], count)
                first[w] = 1
                w += 1
            continue
        s0 = segment_begin(&users[0], begin, buf.plan.start[e])
        s = s0
        while True:
            m = segment_end(&users[0], begin, n, s)
            draw_negatives(&stream, item_lo, item_n, &users[0], &items[0], begin, n,
                           begin + s, &neg[w, 0], count)
            first[w] = 1
            for t in range(s, m):
                order[w] = begin + t
                if t > s:
                    neg[w, :] = neg[w - 1, :]
                w += 1
            s = next_segment(&users[0], begin, n, s, buf.plan.backward[e])
            if s == s0:
                break
    return order_arr, neg_arr[:, :count], first_arr


def py_loss_grad(int loss, double y, double s):
    """``(l(y, s), -dl/ds)`` in double precision, for tests of _losses.pxd (for BPR, s is
    the difference of the two scores, as _sgd_rank.pxd's step computes it)."""
    cdef LossSum value
    cdef double g
    cdef Squared squared
    cdef Logistic logistic
    loss_sum_init(&value)
    if loss == LOSS_SQUARED:
        g = loss_grad(squared, y, s, &value)
    elif loss == LOSS_LOGISTIC:
        g = loss_grad(logistic, y, s, &value)
    elif loss == LOSS_BPR:      # s: the positive's score minus the negative's; y unused
        g = loss_grad(logistic, 1.0, s, &value)
    else:
        raise ValueError(f"unknown loss code {loss}")
    return loss_sum_value(&value), g


def py_logistic_grad_float32(float y, float s):
    """-dl/ds of the logistic loss at (y, s) as a float32 SGD step computes it (with the
    inline exp of fastmf_logistic.h), for tests."""
    cdef LossSum value
    cdef Logistic logistic
    loss_sum_init(&value)
    return loss_grad(logistic, y, s, &value)
