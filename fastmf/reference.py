"""Pure-NumPy reference implementation of fastmf's models.

Written for clarity, one rating at a time exactly as the update formulas read: it is the
oracle the kernels are tested against and the baseline benchmarks report speed-ups over.
Everything works in place on the arrays passed in, like the kernels, except
:func:`fold_in`, which solves new users' rows in batches of dense NumPy systems (the
oracle of ``MatrixFactorization.transform``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from . import _reference_rows as _rows
from ._batched import logistic_newton, squared_solve
from ._loss_table import sigmoid
from ._reference_rank import bpr_epoch, softmax_epoch, warp_epoch
from ._validation import _binary_labels, check_fold_in, check_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._typing import FloatArray, SparseMatrix

__all__ = ["als_half_sweep", "als_objective", "als_subspace_half_sweep", "bpr_epoch", "fold_in",
           "predict", "sgd_epoch", "softmax_epoch", "warp_epoch"]


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
    l2_exponent: float = 1.0,
    l2_unobserved: float = 0.0,
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
    ``weighted_l2`` the penalties are multiplied by the row's count, or by
    ``(count + l2_unobserved * n_cols / (1 + alpha)) ** l2_exponent``.
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
    _rows.solve_rows(csr, X, x_bias, Y, y_bias, model=model, global_bias=global_bias,
                     l2=l2, l2_bias=l2_bias, weighted_l2=weighted_l2, biases=biases,
                     alpha=alpha, newton_steps=newton_steps, l2_exponent=l2_exponent,
                     l2_unobserved=l2_unobserved, block_size=None)


def als_subspace_half_sweep(
    csr: SparseMatrix,
    X: np.ndarray,
    x_bias: np.ndarray,
    Y: np.ndarray,
    y_bias: np.ndarray,
    *,
    block_size: int,
    model: str = "explicit",
    global_bias: float = 0.0,
    l2: float,
    l2_bias: float = 0.0,
    weighted_l2: bool = False,
    biases: bool = True,
    alpha: float = 1.0,
    newton_steps: int = 1,
    l2_exponent: float = 1.0,
    l2_unobserved: float = 0.0,
) -> None:
    """:func:`als_half_sweep` with the subspace solver (``linear_solver="subspace"``):
    each row's system ``A x = b`` is improved from the current row by one pass over its
    unknowns in blocks ``B`` of ``block_size`` coordinates, in order, each solved exactly
    with the others fixed: ``x_B += solve(A_BB, b_B - (A x)_B)`` (the bias, with biases,
    is the last unknown).  ``block_size`` at least the number of unknowns is the exact
    solve.

    Examples
    --------
    Like an exact solve, a block pass never increases :func:`als_objective`:

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from fastmf import reference
    >>> X = sp.csr_matrix(np.array([[5.0, 3.0, 0.0], [4.0, 0.0, 1.0]]))
    >>> rng = np.random.default_rng(0)
    >>> P, Q = rng.standard_normal((2, 3)), rng.standard_normal((3, 3))
    >>> bu, bi = np.zeros(2), np.zeros(3)
    >>> opts = dict(global_bias=3.25, l2=0.1, l2_bias=0.1)
    >>> before = reference.als_objective(X, P, Q, bu, bi, **opts)
    >>> reference.als_subspace_half_sweep(X, P, bu, Q, bi, block_size=2, **opts)
    >>> bool(reference.als_objective(X, P, Q, bu, bi, **opts) < before)
    True
    """
    block_size = check_int("block_size", block_size, low=1)
    _rows.solve_rows(csr, X, x_bias, Y, y_bias, model=model, global_bias=global_bias,
                     l2=l2, l2_bias=l2_bias, weighted_l2=weighted_l2, biases=biases,
                     alpha=alpha, newton_steps=newton_steps, l2_exponent=l2_exponent,
                     l2_unobserved=l2_unobserved, block_size=block_size)


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
    l2_exponent: float = 1.0,
    l2_unobserved: float = 0.0,
) -> float:
    """The objective ALS minimises, penalty included, evaluated densely.

    Data term: ``sum 1/2 (r - s)^2`` over stored entries (explicit), ``sum log(1 + e^s) -
    r s`` (logistic), or ``1/2 sum c (p - s)^2`` over every user x item cell (implicit).
    Penalty: ``l2/2 |p_u|^2 + l2_bias/2 b_u^2`` per user and likewise per item, each
    multiplied by the row's count with ``weighted_l2`` (as :func:`als_half_sweep` scales
    it, with ``l2_exponent`` and ``l2_unobserved``).

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
    def scale(rows: np.ndarray, n: int, n_cols: int) -> float | np.ndarray:
        return _rows.penalty_scale(np.bincount(rows, minlength=n), n_cols,
                                   weighted_l2=weighted_l2, alpha=alpha,
                                   l2_exponent=l2_exponent, l2_unobserved=l2_unobserved)

    n_u = scale(coo.row, csr.shape[0], csr.shape[1])
    n_i = scale(coo.col, csr.shape[1], csr.shape[0])
    penalty = 0.5 * l2 * (np.sum(n_u * np.sum(P**2, axis=1)) + np.sum(n_i * np.sum(Q**2, axis=1)))
    penalty += 0.5 * l2_bias * (np.sum(n_u * user_bias.astype(np.float64) ** 2)
                                + np.sum(n_i * item_bias.astype(np.float64) ** 2))
    return data + float(penalty)


# -------------------------------------------------------------------------- fold-in
# Users per batched solve; bounds the (nnz, d, d) outer-product scratch.
_FOLD_IN_SCRATCH = 1 << 22


# Overflow on hostile input (huge ratings or factors, tiny l2) is not warned about
# midway: the result is checked at the end and reported as one FloatingPointError.
@np.errstate(over="ignore", invalid="ignore")
def fold_in(
    X_rows: SparseMatrix,
    item_factors: ArrayLike,
    item_bias: ArrayLike | None = None,
    global_bias: float = 0.0,
    l2: float = 0.02,
    l2_bias: float | None = None,
    loss: str = "squared",
    biases: bool = True,
    newton_steps: int = 25,
) -> tuple[FloatArray, FloatArray]:
    r"""Factors and bias of new users from their ratings, with the items held fixed.

    For each row :math:`u` of ``X_rows`` with ratings :math:`y_{ui}` on items
    :math:`i \in I_u`, write :math:`x_i = [q_i, 1]` and :math:`w = [p_u, b_u]`, so the score
    is :math:`s_{ui} = \mu + b_i + x_i \cdot w`.  The result minimises

    .. math::
        \sum_{i \in I_u} \ell(y_{ui}, s_{ui}) + \tfrac12 \lambda \lVert p_u \rVert^2
        + \tfrac12 \lambda_b b_u^2

    * ``loss="squared"``: :math:`\ell = \tfrac12 (y - s)^2`; the minimiser is the exact
      solution of :math:`(X_u^T X_u + \Lambda) w = X_u^T (y_u - \mu - b)`.
    * ``loss="logistic"``: :math:`\ell = \log(1 + e^s) - y s` with :math:`y \in \{0, 1\}`
      (``{-1, +1}`` is accepted and mapped); minimised by Newton's method with step halving
      from :math:`w = 0`.

    Parameters
    ----------
    X_rows : scipy.sparse matrix of shape (n_new, n_items)
        One row per new user; every stored entry is a rating (explicit zeros included).
    item_factors : array_like of shape (n_items, k)
        The fixed item factors.
    item_bias : array_like of shape (n_items,), optional
        :math:`b_i` (zeros if omitted).
    global_bias : float, default=0.0
        :math:`\mu`.
    l2 : float, default=0.02
        :math:`\lambda`, >= 0.
    l2_bias : float, optional
        :math:`\lambda_b`, >= 0; ``None`` uses ``l2``.
    loss : {"squared", "logistic"}, default="squared"
        The per-rating loss :math:`\ell`.
    biases : bool, default=True
        Solve for :math:`b_u`; if False it is fixed at 0 and only :math:`p_u` is solved.
    newton_steps : int, default=25
        Maximum Newton iterations for the logistic loss (it stops earlier once every
        user's Newton decrement is below 1e-20 times the objective).

    Returns
    -------
    user_factors : ndarray of shape (n_new, k)
    user_bias : ndarray of shape (n_new,)
        In the dtype of ``item_factors`` (float32 or float64).  Rows with no ratings get
        zeros.  With ``l2 = 0`` and too few ratings to determine :math:`w`, the
        minimum-norm least-squares solution is returned.

    Raises
    ------
    FloatingPointError
        The solution does not fit the dtype (huge ratings or factors, tiny ``l2``).

    Examples
    --------
    Without a penalty and with enough ratings, the exact factors of a user whose ratings
    the items explain perfectly are recovered:

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from fastmf.reference import fold_in
    >>> item_factors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]])
    >>> ratings = item_factors @ np.array([0.5, -1.0]) + 0.25    # p_u = (0.5, -1), b_u = 0.25
    >>> X = sp.csr_matrix(ratings[None, :])
    >>> factors, bias = fold_in(X, item_factors, l2=0.0)
    >>> np.round(factors, 6), np.round(bias, 6)
    (array([[ 0.5, -1. ]]), array([0.25]))
    """
    items_mat, ibias, l2, l2_bias = check_fold_in(X_rows, item_factors, item_bias,
                                                  global_bias, l2, l2_bias, loss, biases)
    newton_steps = check_int("newton_steps", newton_steps, low=1)
    dtype = items_mat.dtype
    n_items, k = items_mat.shape

    coo = X_rows.tocoo()
    if coo.data.dtype.kind not in "biuf":
        raise TypeError(f"X_rows must hold real ratings, got dtype {coo.data.dtype}")
    n_new = X_rows.shape[0]
    order = np.lexsort((coo.col, coo.row))
    rows = coo.row[order].astype(np.int64)
    cols = coo.col[order].astype(np.int64)
    y = np.asarray(coo.data[order], dtype=np.float64)
    if y.size and not np.all(np.isfinite(y)):
        raise ValueError("X_rows contains NaN or infinite ratings")
    if loss == "logistic" and y.size:
        y = _binary_labels(y)

    d = k + 1 if biases else k
    feats = items_mat.astype(np.float64)
    penalty = np.full(d, l2)
    if biases:
        penalty[k] = l2_bias
    w = np.zeros((n_new, d))
    counts = np.bincount(rows, minlength=n_new)
    offset = float(global_bias) + ibias            # mu + b_i, per item
    users = np.flatnonzero(counts)
    starts = np.concatenate(([0], np.cumsum(counts)))
    # Batches of whole users so that the (nnz, d, d) outer products stay bounded.
    batch_nnz = max(1, _FOLD_IN_SCRATCH // (d * d))
    b0 = 0
    while b0 < users.size:
        b1 = b0 + 1
        while b1 < users.size and starts[users[b1] + 1] - starts[users[b0]] <= batch_nnz:
            b1 += 1
        batch = users[b0:b1]
        lo, hi = starts[batch[0]], starts[batch[-1] + 1]
        x = feats[cols[lo:hi]]
        if biases:
            x = np.hstack([x, np.ones((hi - lo, 1))])
        seg = starts[batch] - lo                     # segment starts within the batch
        target = y[lo:hi] - offset[cols[lo:hi]]
        if loss == "squared":
            w[batch] = squared_solve(x, target, seg, penalty)
        else:
            w[batch] = logistic_newton(x, y[lo:hi], offset[cols[lo:hi]], seg, penalty,
                                       newton_steps)
        b0 = b1
    user_factors = np.ascontiguousarray(w[:, :k], dtype=dtype)
    user_bias = (np.ascontiguousarray(w[:, k], dtype=dtype) if biases
                 else np.zeros(n_new, dtype=dtype))
    if not (np.isfinite(user_factors).all() and np.isfinite(user_bias).all()):
        raise FloatingPointError(
            f"fold-in produced values beyond the range of {np.dtype(dtype).name}: the "
            "ratings or factors are too large for it (or l2 is tiny)")
    return user_factors, user_bias
