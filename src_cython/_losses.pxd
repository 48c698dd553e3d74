# Per-rating losses for the kernels (header-only).
#
# A loss maps a target y and a score s = mu + b_u + b_i + <p_u, q_i> to a value l(y, s).
# Kernels need the value (for the reported training loss) and the negative derivative
# g = -dl/ds (the "error" that drives every update), computed together because they share
# the expensive part.  Losses are chosen at compile time through the fused tag type `loss_t`:
# `if loss_t is Squared` is resolved by Cython, so each specialised kernel has one loop body
# with no per-rating branch or virtual call.
#
#   squared:   l = (y - s)^2 / 2                     g = y - s
#   logistic:  l = log(1 + exp(s)) - y s, y in {0,1} g = y - sigmoid(s)
#
# The logistic pair is evaluated without overflow for any finite s: with e = exp(-|s|),
#   log(1 + exp(s)) = max(s, 0) + log(1 + e)
#   sigmoid(s)      = 1 / (1 + e)  if s >= 0,   e / (1 + e)  otherwise.
# The training step (loss_grad) computes this in C without a branch on the sign of s
# (fastmf_logistic.h); in float precision it takes e from an inline exp within 1.9 ulp, so
# its sigmoid is within 2.4e-7 relative of the exact one.  Predictions (`sigmoid`, `link`)
# use libm's exp in every precision.
from cython cimport floating
from libc.math cimport exp, expf, fabs, fabsf, fmax, log, log1p


cdef struct Squared:
    char unused     # C forbids empty structs; the tag carries no data

cdef struct Logistic:
    char unused

ctypedef fused loss_t:
    Squared
    Logistic

# The loss codes: sgd.pyx exports them to Python (LOSSES, read by fastmf._loss_table).
cdef enum:
    LOSS_SQUARED = 0
    LOSS_LOGISTIC = 1
    LOSS_BPR = 2            # ranking, implicit feedback (_sgd_rank.pxd)
    LOSS_SOFTMAX = 3        # ranking, implicit feedback (_sgd_rank.pxd)
    LOSS_WARP = 4           # ranking, implicit feedback (_sgd_rank.pxd)


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef extern from "fastmf_logistic.h" nogil:
    float fmf_logistic_grad_f(float y, float s, float *e, float *pos)
    double fmf_logistic_grad_d(double y, double s, double *e, double *pos)


cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef struct LossSum:
    # Running sum of per-rating losses.  The logistic loss's log1p(exp(-|s|)) terms are
    # gathered as a product of (1 + exp(-|s|)), each factor in (1, 2], and turned into a
    # log only when the product grows large (at most once per 512 ratings) and at the end:
    # one multiply per rating instead of a log1p, with a relative error of about n * 2^-53.
    double total
    double product


cdef inline void loss_sum_init(LossSum *acc) noexcept nogil:
    acc.total = 0.0
    acc.product = 1.0


cdef inline double loss_sum_value(LossSum *acc) noexcept nogil:
    # product - 1 is exact for a product in [1, 2], so a single term keeps full precision.
    return acc.total + log1p(acc.product - 1.0)


cdef inline floating loss_grad(loss_t tag, floating y, floating s,
                               LossSum *acc) noexcept nogil:
    """Return g = -dl/ds at (y, s) and add l(y, s) to *acc."""
    cdef floating e, pos, g
    if loss_t is Squared:
        e = y - s
        acc.total += 0.5 * <double>e * e
        return e
    else:
        if floating is float:
            g = fmf_logistic_grad_f(y, s, &e, &pos)
        else:
            g = fmf_logistic_grad_d(y, s, &e, &pos)
        acc.total += pos - y * s
        acc.product *= 1.0 + <double>e
        if acc.product > 1e154:     # < 2^512: far from overflow, exact to take apart
            acc.total += log(acc.product)
            acc.product = 1.0
        return g


cdef inline floating sigmoid_given(floating e, floating s) noexcept nogil:
    """sigmoid(s) from e = exp(-|s|), whose precision the caller picks: predictions take
    it in the model's precision (sigmoid), the ALS Newton weights in double precision."""
    return 1 / (1 + e) if s >= 0 else e / (1 + e)


cdef inline floating sigmoid(floating s) noexcept nogil:
    """1 / (1 + exp(-s)), without overflow for any finite s."""
    return sigmoid_given(_exp(-_abs(s)), s)


cdef inline double logistic_loss(double y, double s) noexcept nogil:
    """The logistic loss log(1 + exp(s)) - y s in double precision, without overflow."""
    return fmax(s, 0) + log1p(exp(-fabs(s))) - y * s


cdef inline floating link(loss_t tag, floating s) noexcept nogil:
    """Map a raw score to the model's prediction: s itself, or sigmoid(s)."""
    if loss_t is Squared:
        return s
    else:
        return sigmoid(s)
