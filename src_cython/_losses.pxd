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
#   log(1 + exp(s)) = max(s, 0) + log1p(e)
#   sigmoid(s)      = 1 / (1 + e)  if s >= 0,   e / (1 + e)  otherwise.
from cython cimport floating
from libc.math cimport exp, expf, log1p, log1pf, fabs, fmax


cdef struct Squared:
    char unused     # C forbids empty structs; the tag carries no data

cdef struct Logistic:
    char unused

ctypedef fused loss_t:
    Squared
    Logistic

# Codes used by the Python layer to pick a specialisation (fastmf/_losses.py mirrors them).
cdef enum:
    LOSS_SQUARED = 0
    LOSS_LOGISTIC = 1


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating loss_grad(loss_t tag, floating y, floating s,
                               double *loss) noexcept nogil:
    """Return g = -dl/ds at (y, s) and add l(y, s) to *loss."""
    cdef floating e, d
    if loss_t is Squared:
        e = y - s
        loss[0] += 0.5 * <double>e * e
        return e
    else:
        # Branch-free (the sign of s is a coin flip for the branch predictor).
        e = _exp(-fabs(s))
        d = 1 / (1 + e)
        loss[0] += fmax(s, 0) + _log1p(e) - y * s
        return y - (d if s >= 0 else e * d)


cdef inline floating link(loss_t tag, floating s) noexcept nogil:
    """Map a raw score to the model's prediction: s itself, or sigmoid(s)."""
    cdef floating e
    if loss_t is Squared:
        return s
    else:
        e = _exp(-fabs(s))
        return 1 / (1 + e) if s >= 0 else e / (1 + e)
