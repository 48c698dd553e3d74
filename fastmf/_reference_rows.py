"""The NumPy reference of one ALS row: its linear system, its penalty, and the two ways of
solving it (exactly, and by block coordinate passes).  :mod:`fastmf.reference` builds its
ALS half-sweeps from these; ``src_cython/als.pyx`` and ``src_cython/_als_block.pxd``
are the kernels they are the oracle of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._typing import SparseMatrix


def penalty_scale(n: int | np.ndarray, n_cols: int, *, weighted_l2: bool, alpha: float,
                  l2_exponent: float = 1.0,
                  l2_unobserved: float = 0.0) -> float | np.ndarray:
    """What a row of ``n`` ratings among ``n_cols`` columns multiplies ``l2`` and
    ``l2_bias`` by: 1, or with ``weighted_l2``
    ``(n + l2_unobserved * n_cols / (1 + alpha)) ** l2_exponent``."""
    if not weighted_l2:
        return 1.0
    count = np.asarray(n, dtype=np.float64) + l2_unobserved * n_cols / (1.0 + alpha)
    return count ** l2_exponent


def row_system(model: str, x: np.ndarray, cols: np.ndarray, vals: np.ndarray,
               Y: np.ndarray, y_bias: np.ndarray, *, global_bias: float, use_bias: bool,
               alpha: float, penalty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dense system ``A x = b`` of one row (float64), whose solution is the row's new
    unknowns ``[p, b]`` (or ``p``): the least-squares optimum for ``"explicit"`` and
    ``"implicit"`` (every column of ``Y`` weighed by its confidence), one Newton step
    from ``x`` for ``"logistic"``.  ``penalty`` is the diagonal added to ``A``."""
    Yr = Y[cols].astype(np.float64)
    Z = np.hstack([Yr, np.ones((cols.size, 1))]) if use_bias else Yr
    if model == "explicit":
        target = vals - (global_bias + y_bias[cols] if use_bias else 0.0)
        return Z.T @ Z + np.diag(penalty), Z.T @ target
    if model == "implicit":
        conf = np.ones(Y.shape[0])
        conf[cols] = 1.0 + alpha * vals
        pref = np.zeros(Y.shape[0])
        pref[cols] = 1.0
        Yall = Y.astype(np.float64)
        return Yall.T @ (conf[:, None] * Yall) + np.diag(penalty), Yall.T @ (conf * pref)
    if model == "logistic":
        offset = global_bias + y_bias[cols] if use_bias else 0.0
        prob = 1.0 / (1.0 + np.exp(-(offset + Z @ x)))
        hess = Z.T @ ((prob * (1.0 - prob))[:, None] * Z) + np.diag(penalty)
        grad = Z.T @ (prob - vals) + penalty * x
        return hess, hess @ x - grad
    raise ValueError(f"unknown model {model!r}")


def solve_rows(csr: SparseMatrix, X: np.ndarray, x_bias: np.ndarray, Y: np.ndarray,
               y_bias: np.ndarray, *, model: str, global_bias: float, l2: float,
               l2_bias: float, weighted_l2: bool, biases: bool, alpha: float,
               newton_steps: int, l2_exponent: float, l2_unobserved: float,
               block_size: int | None) -> None:
    """Every row of ``csr`` solved in place (see ``reference.als_half_sweep``): exactly
    (``block_size=None``), or by one pass of blocks of ``block_size`` coordinates in
    order, each solved exactly with the others fixed (``reference.als_subspace_half_sweep``)."""
    n_cols, k = Y.shape
    use_bias = biases and model != "implicit"
    d = k + 1 if use_bias else k
    for row in range(X.shape[0]):
        lo, hi = csr.indptr[row], csr.indptr[row + 1]
        cols = csr.indices[lo:hi]
        vals = csr.data[lo:hi].astype(np.float64)
        if cols.size == 0:
            X[row] = 0
            if use_bias:
                x_bias[row] = 0
            continue
        scale = penalty_scale(cols.size, n_cols, weighted_l2=weighted_l2, alpha=alpha,
                              l2_exponent=l2_exponent, l2_unobserved=l2_unobserved)
        penalty = np.full(d, l2 * scale)
        if use_bias:
            penalty[-1] = l2_bias * scale
        x = X[row].astype(np.float64)
        if use_bias:
            x = np.append(x, float(x_bias[row]))
        for _ in range(newton_steps if model == "logistic" else 1):
            A, b = row_system(model, x, cols, vals, Y, y_bias, global_bias=global_bias,
                              use_bias=use_bias, alpha=alpha, penalty=penalty)
            if block_size is None:
                x = np.linalg.solve(A, b)
                continue
            for start in range(0, d, block_size):
                B = slice(start, min(start + block_size, d))
                x[B] += np.linalg.solve(A[B, B], b[B] - A[B] @ x)
        X[row] = x[:k]
        if use_bias:
            x_bias[row] = x[k]
