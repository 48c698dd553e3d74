"""The losses fastmf fits, shared by the estimator, the NumPy reference and the tests.

Each loss maps a target ``y`` and a raw score ``s`` to a per-rating value; the kernels
implement the same formulas in ``src_cython/_losses.pxd`` (codes below must match there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def squared_value(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Half squared error ``(y - s)**2 / 2``."""
    return 0.5 * (y - s) ** 2


def squared_neg_grad(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``-d/ds`` of the half squared error: ``y - s``."""
    return y - s


def log1pexp(s: np.ndarray) -> np.ndarray:
    """``log(1 + exp(s))`` without overflow."""
    s = np.asarray(s, dtype=float)
    return np.maximum(s, 0.0) + np.log1p(np.exp(-np.abs(s)))


def sigmoid(s: np.ndarray) -> np.ndarray:
    """Logistic function, stable for large ``|s|``."""
    s = np.asarray(s, dtype=float)
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logistic_value(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Logistic loss for ``y`` in {0, 1}: ``log(1 + exp(s)) - y s``, that is
    ``log(1 + exp(-y' s))`` with ``y' = 2 y - 1`` in {-1, +1}.

    Evaluated as ``(max(s, 0) - y s) + log1p(exp(-|s|))``: the first bracket is exactly 0
    for a confident correct score, so small losses keep their relative precision."""
    s = np.asarray(s, dtype=float)
    return (np.maximum(s, 0.0) - y * s) + np.log1p(np.exp(-np.abs(s)))


def logistic_neg_grad(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``-d/ds`` of the logistic loss: ``y - sigmoid(s)``."""
    return y - sigmoid(s)


@dataclass(frozen=True)
class Loss:
    name: str
    code: int                   # kernel code (LOSS_* in _losses.pxd)
    value: object               # (y, s) -> per-rating loss
    neg_grad: object            # (y, s) -> -dl/ds
    link: object                # raw score -> prediction


LOSSES: dict[str, Loss] = {
    "squared": Loss("squared", 0, squared_value, squared_neg_grad, lambda s: s),
    "logistic": Loss("logistic", 1, logistic_value, logistic_neg_grad, sigmoid),
}
