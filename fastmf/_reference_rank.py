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


def softmax_epoch(
    users: np.ndarray,
    items: np.ndarray,
    order: np.ndarray,
    first: np.ndarray,
    negatives: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    *,
    learning_rate: float,
    l2: float,
    temperature: float,
) -> float:
    """One epoch of the sampled softmax over cosine scores, in place; returns the summed
    loss.

    The positives ``order[a:b]`` from one ``first[a]`` to the next are one step: one
    user's positives sharing the negatives ``negatives[a]`` (item ids; -1, or an item of
    zero norm, is left out).  With ``c(x, y) = x.y / (|x| |y|)``, p the user's row and
    each negative's score and norm taken before the step, for each positive i in turn::

        pi = exp(c_i / tau) / (exp(c_i / tau) + sum_j exp(c_j / tau))
        loss += -log(pi);  g_i = -(1 - pi) / tau;  G_j += exp(c_j/tau) / Z_i / tau
        grad_p += g_i dc(p, q_i)/dp;  q_i = (1 - lr l2) q_i - lr g_i dc(p, q_i)/dq_i

    then every negative j in order (``grad_p += G_j dc/dp``; ``q_j = (1 - lr l2) q_j - lr
    G_j dc/dq_j``) and last ``p = (1 - m lr l2) p - lr grad_p`` for m positives, with
    ``dc/dp = (q/|q| - c p/|p|) / |p|`` and ``dc/dq = (p/|p| - c q/|q|) / |q|``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmf import reference
    >>> rng = np.random.default_rng(0)
    >>> P, Q = rng.standard_normal((1, 4)), rng.standard_normal((4, 4))
    >>> users, items = np.array([0, 0]), np.array([0, 1])
    >>> first = np.array([True, False])
    >>> negatives = np.array([[2, 3], [2, 3]])
    >>> losses = [reference.softmax_epoch(users, items, np.arange(2), first, negatives, P,
    ...                                   Q, learning_rate=0.1, l2=0.0, temperature=0.5)
    ...           for epoch in range(30)]
    >>> bool(losses[-1] < losses[0])
    True
    """
    lr, inv_tau = learning_rate, 1.0 / temperature
    decay = 1.0 - lr * l2
    total = 0.0
    starts = list(np.flatnonzero(first)) + [len(order)]
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        p = user_factors[users[order[a]]]
        pold = p.astype(np.float64)
        pn = float(np.linalg.norm(pold))
        if pn == 0:
            continue
        negs = [int(j) for j in negatives[a]]
        nrm = [float(np.linalg.norm(item_factors[j].astype(np.float64))) if j >= 0 else 0.0
               for j in negs]
        sc = [float(pold @ item_factors[j]) / (pn * n) if n > 0 else 0.0
              for j, n in zip(negs, nrm, strict=True)]
        ex = [math.exp((c - 1.0) * inv_tau) if n > 0 else 0.0
              for c, n in zip(sc, nrm, strict=True)]
        zneg = sum(ex)
        weight = np.zeros(len(negs))
        grad_p = np.zeros_like(pold)
        for idx in order[a:b]:
            q = item_factors[items[idx]]
            qv = q.astype(np.float64)
            qn = float(np.linalg.norm(qv))
            if qn == 0:
                continue
            c = float(pold @ qv) / (pn * qn)
            ei = math.exp((c - 1.0) * inv_tau)
            z = ei + zneg
            total += math.log(z) - (c - 1.0) * inv_tau
            g = -(1.0 - ei / z) * inv_tau
            weight += np.array(ex) / z * inv_tau
            grad_p += g * (qv / qn - c * pold / pn) / pn
            q[...] = decay * qv - lr * g * (pold / pn - c * qv / qn) / qn
        for j, n, c, w in zip(negs, nrm, sc, weight, strict=True):
            if n == 0:
                continue
            q = item_factors[j]
            qv = q.astype(np.float64)
            grad_p += w * (qv / n - c * pold / pn) / pn
            q[...] = decay * qv - lr * w * (pold / pn - c * qv / n) / n
        p[...] = (1.0 - (b - a) * lr * l2) * pold - lr * grad_p
    return total


def warp_epoch(
    users: np.ndarray,
    items: np.ndarray,
    order: np.ndarray,
    candidates: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    *,
    learning_rate: float,
    l2: float,
    n_items: int,
) -> float:
    """One WARP epoch over the positives ``order[0], order[1], ...``, in place; returns
    the summed hinge loss of the steps taken.

    Positive ``t`` looks at its candidates ``candidates[t, 0], candidates[t, 1], ...``
    (item ids; -1 is a dropped draw, which still counts) until one, j after d draws,
    scores ``p_u.q_j > p_u.q_i - 1``; then, with ``w = log(max(1, (n_items - 1) // d))``::

        loss += w (1 - p_u.q_i + p_u.q_j)
        p_u += lr (w (q_i - q_j) - l2 p_u)
        q_i += lr (w p_u_old - l2 q_i);   q_j += lr (-w p_u_old - l2 q_j)

    No violator among the candidates: no step.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmf import reference
    >>> P, Q = np.array([[1.0, 0.0]]), np.array([[0.5, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> loss = reference.warp_epoch(np.array([0]), np.array([0]), np.arange(1),
    ...                             np.array([[2, 1]]), P, Q, learning_rate=0.1, l2=0.0,
    ...                             n_items=3)
    >>> # item 2 violates at the first draw (0 > 0.5 - 1): w = log((3 - 1) // 1) = log 2
    >>> bool(np.isclose(loss, np.log(2) * (1 - 0.5 + 0)))
    True
    """
    lr = learning_rate
    total = 0.0
    for t, idx in enumerate(order):
        p, qi = user_factors[users[idx]], item_factors[items[idx]]
        si = float(p @ qi)
        for d, j in enumerate(candidates[t], start=1):
            if j < 0:
                continue
            qj = item_factors[j]
            sj = float(p @ qj)
            if sj > si - 1.0:
                w = math.log(max(1.0, float((n_items - 1) // d)))
                total += w * (1.0 - si + sj)
                p_old = p.copy()
                p += lr * (w * (qi - qj) - l2 * p)
                qi += lr * (w * p_old - l2 * qi)
                qj += lr * (-w * p_old - l2 * qj)
                break
    return total
