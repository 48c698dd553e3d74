"""Pure-NumPy reference implementation of fastmf's models.

Written for clarity, one rating at a time exactly as the update formulas read: it is the
oracle the kernels are tested against and the baseline benchmarks report speed-ups over.
Everything works in place on the arrays passed in, like the kernels.
"""

from __future__ import annotations

import math

import numpy as np


def _squared(y: float, s: float) -> tuple[float, float]:
    g = y - s
    return 0.5 * g * g, g


def _logistic(y: float, s: float) -> tuple[float, float]:
    e = math.exp(-abs(s))
    if s >= 0:
        return (s - y * s) + math.log1p(e), y - 1.0 / (1.0 + e)
    return math.log1p(e) - y * s, y - e / (1.0 + e)


_LOSS_GRAD = {"squared": _squared, "logistic": _logistic}


def sgd_epoch(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    order: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    global_bias: float,
    *,
    learning_rate: float,
    l2: float,
    l2_bias: float,
    biases: bool = True,
    loss: str = "squared",
) -> float:
    """One SGD epoch visiting ratings ``order[0], order[1], ...``; returns the summed loss.

    For rating (u, i, y) with score s = mu + b_u + b_i + p_u.q_i and g = -dl/ds::

        b_u += lr (g - l2_bias b_u);  b_i += lr (g - l2_bias b_i)
        p_u += lr (g q_i - l2 p_u);   q_i += lr (g p_u_old - l2 q_i)
    """
    loss_grad = _LOSS_GRAD[loss]
    lr = learning_rate
    total = 0.0
    for idx in order:
        u, i, y = users[idx], items[idx], float(values[idx])
        p, q = user_factors[u], item_factors[i]
        s = global_bias + user_bias[u] + item_bias[i] + float(p @ q)
        value, g = loss_grad(y, s)
        total += value
        if biases:
            user_bias[u] += lr * (g - l2_bias * user_bias[u])
            item_bias[i] += lr * (g - l2_bias * item_bias[i])
        p_old = p.copy()
        p += lr * (g * q - l2 * p)
        q += lr * (g * p_old - l2 * q)
    return total


def predict(
    users: np.ndarray,
    items: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    global_bias: float,
    *,
    loss: str = "squared",
    raw: bool = False,
) -> np.ndarray:
    """Scores mu + b_u + b_i + p_u.q_i for each pair, through the sigmoid for the logistic
    loss unless ``raw``."""
    s = (
        global_bias
        + user_bias[users]
        + item_bias[items]
        + np.einsum("ij,ij->i", user_factors[users], item_factors[items])
    )
    if loss == "logistic" and not raw:
        e = np.exp(-np.abs(s))
        s = np.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return s
