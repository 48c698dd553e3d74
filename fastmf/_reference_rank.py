"""Pure-NumPy reference of the SGD ranking losses (re-exported by :mod:`fastmf.reference`).

One positive at a time, exactly as the update formulas read.  The negatives are given:
the kernel's ``ranking_plan`` lists the visiting order and the negatives an epoch of
``sgd_epoch`` draws, so the kernel and this reference can be compared update for update.
"""

from __future__ import annotations

import math

import numpy as np


def bpr_epoch(
    users: np.ndarray,
    items: np.ndarray,
    order: np.ndarray,
    negatives: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    *,
    learning_rate: float,
    l2: float,
) -> float:
    """One BPR epoch over the positives ``order[0], order[1], ...``, in place; returns the
    summed loss.

    Positive ``t`` is ``(users[order[t]], items[order[t]])`` and its negative is
    ``negatives[t]`` (an item id, or -1: the step is skipped).  With
    ``d = p_u.q_i - p_u.q_j`` and ``g = sigmoid(-d)``::

        loss += log(1 + exp(-d))
        p_u += lr (g (q_i - q_j) - l2 p_u)
        q_i += lr (g p_u_old - l2 q_i);   q_j += lr (-g p_u_old - l2 q_j)

    Examples
    --------
    >>> import numpy as np
    >>> from fastmf import reference
    >>> rng = np.random.default_rng(0)
    >>> P, Q = 0.1 * rng.standard_normal((2, 4)), 0.1 * rng.standard_normal((3, 4))
    >>> users, items = np.array([0, 1]), np.array([0, 1])
    >>> negatives = np.array([[2], [2]])
    >>> losses = [reference.bpr_epoch(users, items, np.arange(2), negatives, P, Q,
    ...                               learning_rate=0.5, l2=0.0) for epoch in range(30)]
    >>> bool(losses[-1] < losses[0]), bool(P[0] @ Q[0] > P[0] @ Q[2])
    (True, True)
    """
    lr = learning_rate
    total = 0.0
    negatives = np.asarray(negatives).reshape(len(order), -1)
    for t, idx in enumerate(order):
        j = int(negatives[t, 0])
        if j < 0:
            continue
        p, qi, qj = user_factors[users[idx]], item_factors[items[idx]], item_factors[j]
        d = float(p @ qi) - float(p @ qj)
        e = math.exp(-abs(d))
        total += max(-d, 0.0) + math.log1p(e)                 # log(1 + exp(-d))
        g = e / (1.0 + e) if d >= 0 else 1.0 / (1.0 + e)       # sigmoid(-d)
        p_old = p.copy()
        p += lr * (g * (qi - qj) - l2 * p)
        qi += lr * (g * p_old - l2 * qi)
        qj += lr * (-g * p_old - l2 * qj)
    return total
