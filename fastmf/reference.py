"""Pure-NumPy reference implementation of fastmf's models.

Written for clarity, one rating at a time exactly as the update formulas read: it is the
oracle the kernels are tested against and the baseline benchmarks report speed-ups over.
Everything works in place on the arrays passed in, like the kernels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._loss_table import sigmoid

if TYPE_CHECKING:
    from ._typing import SparseMatrix

__all__ = ["als_half_sweep", "als_objective", "predict", "sgd_epoch"]


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

    Examples
    --------
    >>> import numpy as np
    >>> from fastmf import reference
    >>> users, items, values = np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([4.0, 3.0, 5.0])
    >>> rng = np.random.default_rng(0)
    >>> P, Q = 0.1 * rng.standard_normal((2, 4)), 0.1 * rng.standard_normal((2, 4))
    >>> bu, bi = np.zeros(2), np.zeros(2)
    >>> losses = [reference.sgd_epoch(users, items, values, np.arange(3), P, Q, bu, bi,
    ...                               values.mean(), learning_rate=0.1, l2=0.01,
    ...                               l2_bias=0.01) for epoch in range(20)]
    >>> bool(losses[-1] < losses[0])
    True
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
    loss unless ``raw``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmf import reference
    >>> P, Q = np.array([[1.0, 0.0]]), np.array([[0.5, 0.0], [2.0, 1.0]])
    >>> bu, bi = np.array([0.5]), np.array([0.0, -1.0])
    >>> reference.predict(np.array([0, 0]), np.array([0, 1]), P, Q, bu, bi, 3.0)
    array([4. , 4.5])
    """
    s = (
        global_bias
        + user_bias[users]
        + item_bias[items]
        + np.einsum("ij,ij->i", user_factors[users], item_factors[items])
    )
    return sigmoid(s) if loss == "logistic" and not raw else s


# ------------------------------------------------------------------------------ ALS
def als_half_sweep(
    csr: SparseMatrix,
    X: np.ndarray,
    x_bias: np.ndarray,
    Y: np.ndarray,
    y_bias: np.ndarray,
    *,
    model: str = "explicit",
    global_bias: float = 0.0,
    l2: float,
    l2_bias: float = 0.0,
    weighted_l2: bool = False,
    biases: bool = True,
    alpha: float = 1.0,
    newton_steps: int = 1,
) -> None:
    """Solve every row of ``csr`` (rows x cols) for ``X[row]`` (and ``x_bias[row]``) with
    ``Y`` and ``y_bias`` fixed, in place, by building each row's normal equations densely
    and calling ``np.linalg.solve``.

    ``model`` is ``"explicit"`` (squared loss; with ``biases`` the unknowns are
    ``[x, b]`` and the features ``[y_i, 1]``, target ``r - mu - b_i``), ``"implicit"``
    (Hu, Koren & Volinsky: preference 1 and confidence ``1 + alpha r`` on the stored
    entries, preference 0 and confidence 1 on every other column, summed densely here) or
    ``"logistic"`` (``newton_steps`` Newton steps on the row's L2-regularised logistic
    regression).  Without ``biases``, ``global_bias`` and ``y_bias`` are not used.  With
    ``weighted_l2`` the penalties are multiplied by the row's count.
    Rows without entries get zeros.

    Examples
    --------
    Each row's solve is exact, so a half-sweep never increases :func:`als_objective`:

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from fastmf import reference
    >>> X = sp.csr_matrix(np.array([[5.0, 3.0, 0.0], [4.0, 0.0, 1.0]]))
    >>> rng = np.random.default_rng(0)
    >>> P, Q = rng.standard_normal((2, 2)), rng.standard_normal((3, 2))
    >>> bu, bi = np.zeros(2), np.zeros(3)
    >>> opts = dict(global_bias=3.25, l2=0.1, l2_bias=0.1)
    >>> before = reference.als_objective(X, P, Q, bu, bi, **opts)
    >>> reference.als_half_sweep(X, P, bu, Q, bi, **opts)      # users, items fixed
    >>> bool(reference.als_objective(X, P, Q, bu, bi, **opts) < before)
    True
    """
    n_cols, k = Y.shape
    use_bias = biases and model != "implicit"
    for row in range(X.shape[0]):
        lo, hi = csr.indptr[row], csr.indptr[row + 1]
        cols = csr.indices[lo:hi]
        vals = csr.data[lo:hi].astype(np.float64)
        if cols.size == 0:
            X[row] = 0
            if use_bias:
                x_bias[row] = 0
            continue
        scale = cols.size if weighted_l2 else 1.0
        Yr = Y[cols].astype(np.float64)
        Z = np.hstack([Yr, np.ones((cols.size, 1))]) if use_bias else Yr
        penalty = np.full(Z.shape[1], l2 * scale)
        if use_bias:
            penalty[-1] = l2_bias * scale
        if model == "explicit":
            target = vals - (global_bias + y_bias[cols] if use_bias else 0.0)
            x = np.linalg.solve(Z.T @ Z + np.diag(penalty), Z.T @ target)
        elif model == "implicit":
            conf = np.ones(n_cols)
            conf[cols] = 1.0 + alpha * vals
            pref = np.zeros(n_cols)
            pref[cols] = 1.0
            Yall = Y.astype(np.float64)
            A = Yall.T @ (conf[:, None] * Yall) + np.diag(penalty)
            x = np.linalg.solve(A, Yall.T @ (conf * pref))
        elif model == "logistic":
            x = X[row].astype(np.float64)
            if use_bias:
                x = np.append(x, float(x_bias[row]))
            offset = global_bias + y_bias[cols] if use_bias else 0.0
            for _ in range(newton_steps):
                s = offset + Z @ x
                prob = 1.0 / (1.0 + np.exp(-s))
                grad = Z.T @ (prob - vals) + penalty * x
                hess = Z.T @ ((prob * (1.0 - prob))[:, None] * Z) + np.diag(penalty)
                x = x - np.linalg.solve(hess, grad)
        else:
            raise ValueError(f"unknown model {model!r}")
        X[row] = x[:k]
        if use_bias:
            x_bias[row] = x[k]


def als_objective(
    csr: SparseMatrix,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    *,
    model: str = "explicit",
    global_bias: float = 0.0,
    l2: float,
    l2_bias: float = 0.0,
    weighted_l2: bool = False,
    alpha: float = 1.0,
) -> float:
    """The objective ALS minimises, penalty included, evaluated densely.

    Data term: ``sum 1/2 (r - s)^2`` over stored entries (explicit), ``sum log(1 + e^s) -
    r s`` (logistic), or ``1/2 sum c (p - s)^2`` over every user x item cell (implicit).
    Penalty: ``l2/2 |p_u|^2 + l2_bias/2 b_u^2`` per user and likewise per item, each
    multiplied by the row's count with ``weighted_l2``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from fastmf import reference
    >>> X = sp.csr_matrix(np.array([[5.0, 3.0]]))
    >>> P, Q = np.array([[1.0]]), np.array([[2.0], [1.0]])
    >>> bu, bi = np.zeros(1), np.zeros(2)
    >>> reference.als_objective(X, P, Q, bu, bi, global_bias=3.0, l2=0.0)   # (0^2 + 1^2)/2
    0.5
    """
    coo = csr.tocoo()
    P = user_factors.astype(np.float64)
    Q = item_factors.astype(np.float64)
    if model == "implicit":
        conf = np.ones(csr.shape)
        conf[coo.row, coo.col] = 1.0 + alpha * coo.data
        pref = np.zeros(csr.shape)
        pref[coo.row, coo.col] = 1.0
        data = 0.5 * float(np.sum(conf * (pref - P @ Q.T) ** 2))
    else:
        s = predict(coo.row, coo.col, P, Q, user_bias.astype(np.float64),
                    item_bias.astype(np.float64), global_bias, raw=True)
        y = coo.data.astype(np.float64)
        if model == "logistic":
            data = float(np.sum(np.logaddexp(0.0, s) - y * s))
        else:
            data = 0.5 * float(np.sum((y - s) ** 2))
    n_u = np.bincount(coo.row, minlength=csr.shape[0]) if weighted_l2 else 1.0
    n_i = np.bincount(coo.col, minlength=csr.shape[1]) if weighted_l2 else 1.0
    penalty = 0.5 * l2 * (np.sum(n_u * np.sum(P**2, axis=1)) + np.sum(n_i * np.sum(Q**2, axis=1)))
    penalty += 0.5 * l2_bias * (np.sum(n_u * user_bias.astype(np.float64) ** 2)
                                + np.sum(n_i * item_bias.astype(np.float64) ** 2))
    return data + float(penalty)
