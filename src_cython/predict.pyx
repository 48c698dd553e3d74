# Batched prediction over (user, item) pairs: r_hat = mu + b_u + b_i + <p_u, q_i>, or its
# sigmoid for the logistic loss.  Pairs are independent, so a static schedule is used.
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t

from _losses cimport LOSS_LOGISTIC, Logistic, link
from _vec cimport score_pair


def predict_pairs(const int64_t[::1] users,            # IN  (n,) validated indices
                  const int64_t[::1] items,            # IN  (n,)
                  const floating[:, ::1] user_factors, # IN  (n_users, k)
                  const floating[:, ::1] item_factors, # IN  (n_items, k)
                  const floating[::1] user_bias,       # IN  (n_users,)
                  const floating[::1] item_bias,       # IN  (n_items,)
                  double mu,
                  int loss,              # apply the loss's link (sigmoid for logistic)
                  bint raw,              # return raw scores, no link
                  floating[::1] out,                   # OUT (n,)
                  int num_threads):
    """Fill ``out`` with the model's prediction for each pair (trusted arguments)."""
    cdef int64_t n = users.shape[0]
    cdef int64_t j
    cdef int k = user_factors.shape[1]
    cdef floating s
    cdef floating fmu = <floating> mu
    cdef bint sigmoid = loss == LOSS_LOGISTIC and not raw
    cdef Logistic logistic
    if n == 0:
        return
    cdef const floating *P = &user_factors[0, 0]
    cdef const floating *Q = &item_factors[0, 0]
    cdef const floating *bu = &user_bias[0]
    cdef const floating *bi = &item_bias[0]
    with nogil:
        for j in prange(n, num_threads=num_threads, schedule="static"):
            # the score that the C-level API (fastmf_capi.pxd) gives too
            s = score_pair(P, Q, bu, bi, fmu, k, users[j], items[j])
            out[j] = link(logistic, s) if sigmoid else s
