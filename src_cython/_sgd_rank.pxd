# Ranking losses on the SGD block grid (header-only: cimported by bare name by sgd.pyx).
#
# Implicit feedback: every stored (u, i) is a positive; the other items of the catalogue
# are candidates for negatives.  The update for one positive of block (r, c) draws its
# negatives from item group c only (after the layout's renumbering a group's items are
# the contiguous range [item_lo, item_lo + item_n)), so a block still writes only the
# rows of its own user group and item group: the DSGD wavefront of sgd.pyx stays free of
# conflicts.  A draw that lands on an item the user has in this block (a positive: all
# of the user's items in group c are there) is dropped.
#
# The negatives come from a SplitMix64 stream of their own per plan entry, seeded from a
# word drawn serially with the epoch plan (_block_seed), and are drawn in the walk's
# visiting order: the draws, hence the updates, do not depend on the thread count.
# `draw_negatives` is the only place that draws them; sgd.pyx's `ranking_plan` lists
# them, through it, for the tests and the NumPy reference.
#
# BPR (Rendle et al. 2009), one negative j per positive i, d = <p_u, q_i> - <p_u, q_j>:
#     l = log(1 + exp(-d)),   g = -dl/dd = sigmoid(-d)
#     p_u <- decay p_u + lr g (q_i - q_j)
#     q_i <- decay q_i + lr g p_u           q_j <- decay q_j - lr g p_u
# with decay = 1 - lr l2 and p_u, q_i, q_j the rows from before the step.  A dropped
# negative skips the step (no update, no loss).
#
# Sampled softmax (InfoNCE) with cosine scores and temperature tau.  A block is walked by
# user: the user's positives in the block (one run, the block being sorted by user) share
# N negatives drawn once for the run.  With c(a, b) = <a, b> / (|a| |b|), for a positive i
# and the run's negatives J (dropped draws and rows of zero norm left out):
#     l_i = -log( e^{c(p, q_i)/tau} / (e^{c(p, q_i)/tau} + sum_{j in J} e^{c(p, q_j)/tau}) )
# The run's gradients are taken at the rows from before the run (p, and each q_j's score
# and norm), the exponentials relative to their bound e^{1/tau}.  Each positive's row is
# updated as its term is met; then each negative's row, with the weight
#     G_j = sum_i pi_ij / tau,   pi_ij the softmax weight of j in l_i,
# and last the user row, with every term's gradient and the decay of each positive:
#     q_i <- decay q_i - lr g_i dc/dq_i,    g_i = -(1 - pi_ii) / tau
#     q_j <- decay q_j - lr G_j dc/dq_j
#     p   <- (1 - m lr l2) p - lr (sum_i g_i dc/dp + sum_j G_j dc/dp)     (m positives)
# with dc(p, q)/dp = (q/|q| - c p/|p|) / |p| and dc/dq = (p/|p| - c q/|q|) / |q|.
#
# WARP (Weston et al. 2011, as LightFM defines it), for each positive i with score s_i:
# draw candidates j one at a time (at most N), skipping dropped draws, until one
# violates the margin, s_j > s_i - 1.  With d draws made by then, the rank of i is
# estimated as floor((n_items - 1) / d) and the step is BPR's with g replaced by the
# weight w = log(max(1, floor((n_items - 1) / d))) of the hinge w (1 - s_i + s_j):
#     p_u <- decay p_u + lr w (q_i - q_j),  q_i <- decay q_i + lr w p_u,
#     q_j <- decay q_j - lr w p_u
# No violator in N draws: no step.  The stream always advances by N draws per positive
# (the unused ones are skipped at once: SplitMix64 jumps by adding the increment), so
# `draw_negatives` with count N lists every candidate the walk may look at.
from cython cimport floating
from libc.math cimport exp, log, sqrt
from libc.stdint cimport int32_t, int64_t, uint64_t

from _losses cimport LOSS_BPR, LOSS_WARP, Logistic, LossSum, loss_grad, loss_sum_init, loss_sum_value
from _rng cimport rng_below
from _sgd_update cimport SGDParams, _second_half
from _vec cimport (K16, K32, K64, K100, K128, KAny, dot, fmf_dot_tree_d, fmf_dot_tree_f,
                   width_of, width_t)


cdef struct RankParams:
    # What a ranking epoch needs besides SGDParams.
    int loss                # LOSS_BPR, LOSS_SOFTMAX or LOSS_WARP
    int64_t n_items         # rows of the item factors
    int negatives           # softmax: negatives per user and block; WARP: most draws
    double temperature      # softmax: tau
    char *scratch           # per-thread scratch (rank_scratch_bytes each), thread t at
    int64_t stride          # scratch + t * stride


cdef inline int64_t rank_scratch_bytes(int negatives, int k) noexcept nogil:
    """Bytes of one thread's softmax scratch (rounded up to a cache line): four doubles
    and one int32 per negative, two rows of k doubles (room for either float type)."""
    cdef int64_t b = <int64_t> negatives * (4 * 8 + 4) + 2 * <int64_t> k * 8
    return (b + 63) // 64 * 64


cdef inline uint64_t _block_seed(uint64_t base, int64_t entry) noexcept nogil:
    """Start of the negatives' stream of plan entry `entry` in an epoch whose serially
    drawn word is `base`: a different Weyl offset per entry (an odd multiplier unrelated
    to SplitMix64's own increment), so the entries' streams do not overlap in practice."""
    return base + <uint64_t> (entry + 1) * <uint64_t> 0xD1B54A32D192ED03


cdef inline int64_t group_first(int64_t c, int64_t n, int64_t B) noexcept nogil:
    """First id of group c of n ids cut into B groups (as layout.pyx cuts them)."""
    return (c * n + B - 1) // B


cdef inline int64_t visit_position(int64_t j, int64_t n, int64_t start,
                                   bint backward) noexcept nogil:
    """Position (in [0, n)) of the j-th rating that a block walk visits: the walk of
    _sgd_update.pxd, which interleaves the halves that begin at `start` and at
    `_second_half`, moving cyclically by -1 or +1."""
    cdef int64_t d = -1 if backward else 1
    cdef int64_t h = n // 2
    cdef int64_t base, m
    if j < 2 * h:
        m = j >> 1
        base = start if (j & 1) == 0 else _second_half(start, d, n)
    else:               # odd n: the last rating of the second half
        m = h
        base = _second_half(start, d, n)
    return ((base + d * m) % n + n) % n


cdef inline bint _rated(const int32_t *users, const int32_t *items, int64_t begin,
                        int64_t n, int32_t u, int32_t j) noexcept nogil:
    """Whether (u, j) is among the block's ratings [begin, begin + n), which are sorted
    by (user, item) (binary search)."""
    cdef int64_t lo = begin, hi = begin + n, mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if users[mid] < u or (users[mid] == u and items[mid] < j):
            lo = mid + 1
        else:
            hi = mid
    return lo < begin + n and users[lo] == u and items[lo] == j


cdef inline void draw_negatives(uint64_t *state, int64_t item_lo, int64_t item_n,
                                const int32_t *users, const int32_t *items, int64_t begin,
                                int64_t n, int64_t idx, int32_t *out,
                                int count) noexcept nogil:
    """Draw `count` negatives for the positive at position idx of the block [begin,
    begin + n), uniformly from the item group [item_lo, item_lo + item_n); a draw that
    is one of the user's positives is written as -1 (dropped)."""
    cdef int t
    cdef int32_t u = users[idx]
    cdef int32_t j
    for t in range(count):
        j = <int32_t> (item_lo + <int64_t> rng_below(state, <uint64_t> item_n))
        out[t] = -1 if _rated(users, items, begin, n, u, j) else j


cdef inline void _pair_update(floating *p, floating *qi, floating *qj, int k,
                              floating decay, floating step) noexcept nogil:
    """One pairwise step of weight decay and gradient `step` on (p_u, q_i, q_j): both
    item rows move along the user row from before the step, the user row along
    q_i - q_j."""
    cdef floating pf, a, b
    cdef int f
    for f in range(k):
        pf = p[f]
        a = qi[f]
        b = qj[f]
        p[f] = decay * pf + step * (a - b)
        qi[f] = decay * a + step * pf
        qj[f] = decay * b - step * pf


cdef inline void _bpr_step(width_t width, floating *p, floating *qi, floating *qj, int k,
                           floating lr, floating decay, LossSum *loss) noexcept nogil:
    """The BPR update of one (user, positive, negative) triple (rule at the top)."""
    k = width_of(width, k)
    cdef Logistic logistic
    cdef floating d, step
    if floating is float:
        d = fmf_dot_tree_f(p, qi, k) - fmf_dot_tree_f(p, qj, k)
    else:
        d = fmf_dot_tree_d(p, qi, k) - fmf_dot_tree_d(p, qj, k)
    # the logistic loss of label 1 at score d: log(1 + exp(-d)), -dl/dd = sigmoid(-d)
    step = lr * loss_grad(logistic, <floating> 1, d, loss)
    _pair_update(p, qi, qj, k, decay, step)


cdef inline double _walk_bpr(width_t width, const int32_t *users, const int32_t *items,
                             int64_t begin, int64_t n, int64_t start, bint backward,
                             floating *P, floating *Q, const SGDParams *prm,
                             int64_t item_lo, int64_t item_n,
                             uint64_t seed) noexcept nogil:
    """BPR over the block [begin, begin + n) in the walk's order; returns the summed
    loss."""
    cdef int k = width_of(width, prm.k)
    cdef LossSum loss
    cdef floating lr = <floating> prm.learning_rate
    cdef floating decay = <floating> (1.0 - prm.learning_rate * prm.l2)
    cdef uint64_t state = seed
    cdef int64_t j, idx
    cdef int32_t neg
    loss_sum_init(&loss)
    for j in range(n):
        idx = begin + visit_position(j, n, start, backward)
        draw_negatives(&state, item_lo, item_n, users, items, begin, n, idx, &neg, 1)
        if neg < 0:
            continue
        _bpr_step(width, P + <int64_t> users[idx] * k, Q + <int64_t> items[idx] * k,
                  Q + <int64_t> neg * k, k, lr, decay, &loss)
    return loss_sum_value(&loss)


cdef inline int64_t segment_end(const int32_t *users, int64_t begin, int64_t n,
                                 int64_t s) noexcept nogil:
    """End (exclusive) of the run of the user at position s of the block [begin, begin+n)."""
    cdef int32_t u = users[begin + s]
    s += 1
    while s < n and users[begin + s] == u:
        s += 1
    return s


cdef inline int64_t segment_begin(const int32_t *users, int64_t begin,
                                  int64_t s) noexcept nogil:
    """Start of the run of the user at position s of the block starting at begin."""
    cdef int32_t u = users[begin + s]
    while s > 0 and users[begin + s - 1] == u:
        s -= 1
    return s


cdef inline int64_t next_segment(const int32_t *users, int64_t begin, int64_t n, int64_t s,
                                 bint backward) noexcept nogil:
    """Start of the run a by-user walk visits after the run starting at s: the next one
    (wrapping to 0) or, walking backwards, the previous one (wrapping to the last)."""
    cdef int64_t e
    if backward:
        return segment_begin(users, begin, (s if s > 0 else n) - 1)
    e = segment_end(users, begin, n, s)
    return e if e < n else 0


cdef inline double _norm(const floating *a, int k) noexcept nogil:
    cdef double acc = 0
    cdef int f
    for f in range(k):
        acc += <double> a[f] * a[f]
    return sqrt(acc)


cdef inline double _dot_d(const floating *a, const floating *b, int k) noexcept nogil:
    cdef double acc = 0
    cdef int f
    for f in range(k):
        acc += <double> a[f] * b[f]
    return acc


cdef inline double _softmax_run(floating *P, floating *Q, int k, const int32_t *users,
                                const int32_t *items, int64_t begin, int64_t s, int64_t e,
                                const int32_t *negs, int count, double lr, double l2,
                                double inv_tau, char *scratch) noexcept nogil:
    """The sampled-softmax update of the user's run [s, e) of the block (rule at the top),
    with its `count` negatives negs (-1: dropped); returns the run's summed loss."""
    cdef double *sc = <double *> scratch        # score, norm, exp, weight of each negative
    cdef double *nrm = sc + count
    cdef double *ex = nrm + count
    cdef double *G = ex + count
    cdef floating *gp = <floating *> (G + count)
    cdef floating *pold = gp + k
    cdef floating *p = P + <int64_t> users[begin + s] * k
    cdef floating *q
    cdef double pn, qn, c, ei, z, zneg = 0, gpos, a, total = 0
    cdef double decay = 1.0 - lr * l2
    cdef int64_t t
    cdef int n, f
    for f in range(k):
        pold[f] = p[f]
        gp[f] = 0
    pn = _norm(pold, k)
    if pn == 0:
        return 0.0
    for n in range(count):
        G[n] = 0
        ex[n] = 0
        nrm[n] = 0
        if negs[n] < 0:
            continue
        q = Q + <int64_t> negs[n] * k
        nrm[n] = _norm(q, k)
        if nrm[n] == 0:
            continue
        sc[n] = _dot_d(pold, q, k) / (pn * nrm[n])
        ex[n] = exp((sc[n] - 1.0) * inv_tau)
        zneg += ex[n]
    for t in range(s, e):
        q = Q + <int64_t> items[begin + t] * k
        qn = _norm(q, k)
        if qn == 0:
            continue
        c = _dot_d(pold, q, k) / (pn * qn)
        ei = exp((c - 1.0) * inv_tau)
        z = ei + zneg
        total += log(z) - (c - 1.0) * inv_tau
        gpos = -(1.0 - ei / z) * inv_tau
        for n in range(count):
            G[n] += ex[n] / z * inv_tau
        for f in range(k):
            gp[f] += <floating> (gpos * (q[f] / qn - c * pold[f] / pn) / pn)
            q[f] = <floating> (decay * q[f] - lr * gpos * (pold[f] / pn - c * q[f] / qn) / qn)
    for n in range(count):
        if nrm[n] == 0:         # dropped, or a row of zero norm
            continue
        q = Q + <int64_t> negs[n] * k
        a = G[n]
        for f in range(k):
            gp[f] += <floating> (a * (q[f] / nrm[n] - sc[n] * pold[f] / pn) / pn)
            q[f] = <floating> (decay * q[f]
                               - lr * a * (pold[f] / pn - sc[n] * q[f] / nrm[n]) / nrm[n])
    a = 1.0 - (e - s) * lr * l2
    for f in range(k):
        p[f] = <floating> (a * pold[f] - lr * gp[f])
    return total


cdef inline double _walk_softmax(const int32_t *users, const int32_t *items, int64_t begin,
                                 int64_t n, int64_t start, bint backward, floating *P,
                                 floating *Q, const SGDParams *prm, const RankParams *rank,
                                 int64_t item_lo, int64_t item_n, uint64_t seed,
                                 char *scratch) noexcept nogil:
    """Sampled softmax over the block [begin, begin + n), one user's run at a time, from
    the run holding position `start`; returns the summed loss."""
    cdef uint64_t state = seed
    cdef int count = rank.negatives
    cdef int32_t *negs = <int32_t *> (scratch + rank_scratch_bytes(count, prm.k)
                                      - <int64_t> count * 4)
    cdef double total = 0
    cdef int64_t first, s, e
    if n == 0:
        return 0.0
    first = segment_begin(users, begin, start)
    s = first
    while True:
        e = segment_end(users, begin, n, s)
        draw_negatives(&state, item_lo, item_n, users, items, begin, n, begin + s, negs,
                       count)
        total += _softmax_run(P, Q, prm.k, users, items, begin, s, e, negs, count,
                              prm.learning_rate, prm.l2, 1.0 / rank.temperature, scratch)
        s = next_segment(users, begin, n, s, backward)
        if s == first:
            break
    return total


cdef inline double _walk_warp(const int32_t *users, const int32_t *items, int64_t begin,
                              int64_t n, int64_t start, bint backward, floating *P,
                              floating *Q, const SGDParams *prm, const RankParams *rank,
                              int64_t item_lo, int64_t item_n,
                              uint64_t seed) noexcept nogil:
    """WARP over the block [begin, begin + n) in the walk's order (rule at the top);
    returns the summed hinge loss of the steps taken."""
    cdef int k = prm.k
    cdef floating lr = <floating> prm.learning_rate
    cdef floating decay = <floating> (1.0 - prm.learning_rate * prm.l2)
    cdef uint64_t state = seed
    cdef double total = 0, w
    cdef floating si, sj, step
    cdef floating *p
    cdef floating *qi
    cdef floating *qj
    cdef int64_t j, idx
    cdef int t
    cdef int32_t neg
    for j in range(n):
        idx = begin + visit_position(j, n, start, backward)
        p = P + <int64_t> users[idx] * k
        qi = Q + <int64_t> items[idx] * k
        si = dot(p, qi, k)
        t = 0
        while t < rank.negatives:
            draw_negatives(&state, item_lo, item_n, users, items, begin, n, idx, &neg, 1)
            t += 1
            if neg < 0:
                continue
            qj = Q + <int64_t> neg * k
            sj = dot(p, qj, k)
            if sj > si - 1:
                w = log(max(1.0, <double> ((rank.n_items - 1) // t)))
                total += w * (1.0 - si + sj)
                step = <floating> (lr * w)
                _pair_update(p, qi, qj, k, decay, step)
                break
        # skip the draws not made: every positive takes N from the stream
        state += <uint64_t> (rank.negatives - t) * <uint64_t> 0x9E3779B97F4A7C15
    return total


cdef inline double run_rank_block(const int32_t *users, const int32_t *items,
                                  int64_t begin, int64_t n, int64_t start, bint backward,
                                  floating *P, floating *Q, const SGDParams *prm,
                                  const RankParams *rank, int64_t item_lo, int64_t item_n,
                                  uint64_t seed, char *scratch) noexcept nogil:
    """The ranking loss's walk over one block (BPR with k a compile-time constant for
    the common factor counts, as `_run_block` in _sgd_update.pxd)."""
    cdef K16 k16
    cdef K32 k32
    cdef K64 k64
    cdef K100 k100
    cdef K128 k128
    cdef KAny other
    if rank.loss == LOSS_WARP:
        return _walk_warp(users, items, begin, n, start, backward, P, Q, prm, rank,
                          item_lo, item_n, seed)
    if rank.loss != LOSS_BPR:
        return _walk_softmax(users, items, begin, n, start, backward, P, Q, prm, rank,
                             item_lo, item_n, seed, scratch)
    if prm.k == 32:
        return _walk_bpr(k32, users, items, begin, n, start, backward, P, Q, prm, item_lo,
                         item_n, seed)
    if prm.k == 64:
        return _walk_bpr(k64, users, items, begin, n, start, backward, P, Q, prm, item_lo,
                         item_n, seed)
    if prm.k == 16:
        return _walk_bpr(k16, users, items, begin, n, start, backward, P, Q, prm, item_lo,
                         item_n, seed)
    if prm.k == 128:
        return _walk_bpr(k128, users, items, begin, n, start, backward, P, Q, prm,
                         item_lo, item_n, seed)
    if prm.k == 100:
        return _walk_bpr(k100, users, items, begin, n, start, backward, P, Q, prm,
                         item_lo, item_n, seed)
    return _walk_bpr(other, users, items, begin, n, start, backward, P, Q, prm, item_lo,
                     item_n, seed)
