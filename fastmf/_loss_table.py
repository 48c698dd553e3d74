"""The table of the losses fastmf fits: for each name, the kernels' code and the NumPy
formulas (value and negative gradient; ``sigmoid`` is the logistic link).

The kernels compute the same formulas in C (``src_cython/_losses.pxd``).  The codes are
read from the dict the SGD kernel module exports, never copied.  The formulas serve the
NumPy reference, the validation metric of ``fit`` and the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._kernels import sgd as _sgd_kernel


def squared_value(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Half squared error ``(y - s)**2 / 2``."""
    return np.asarray(0.5 * (y - s) ** 2)


def squared_neg_grad(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``-d/ds`` of the half squared error: ``y - s``."""
    return np.asarray(y - s)


def log1pexp(s: np.ndarray) -> np.ndarray:
    """``log(1 + exp(s))`` without overflow."""
    s = np.asarray(s, dtype=float)
    return np.asarray(np.maximum(s, 0.0) + np.log1p(np.exp(-np.abs(s))))


def sigmoid(s: np.ndarray) -> np.ndarray:
    """Logistic function, stable for large ``|s|``."""
    s = np.asarray(s, dtype=float)
    e = np.exp(-np.abs(s))
    return np.asarray(np.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e)))


def logistic_value(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Logistic loss for ``y`` in {0, 1}: ``log(1 + exp(s)) - y s``, that is
    ``log(1 + exp(-y' s))`` with ``y' = 2 y - 1`` in {-1, +1}.

    Evaluated as ``(max(s, 0) - y s) + log1p(exp(-|s|))``: the first bracket is exactly 0
    for a confident correct score, so small losses keep their relative precision."""
    s = np.asarray(s, dtype=float)
    return np.asarray((np.maximum(s, 0.0) - y * s) + np.log1p(np.exp(-np.abs(s))))


def logistic_neg_grad(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``-d/ds`` of the logistic loss: ``y - sigmoid(s)``."""
    return np.asarray(y - sigmoid(s))


def bpr_value(y: np.ndarray, d: np.ndarray) -> np.ndarray:
    """BPR loss of a positive scored ``d`` above a negative: ``log(1 + exp(-d))``, the
    logistic loss of label 1 at ``d`` (``y`` is not used: every pair is positive)."""
    return log1pexp(-np.asarray(d, dtype=float))


def bpr_neg_grad(y: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``-d/dd`` of the BPR loss: ``sigmoid(-d)``."""
    return sigmoid(-np.asarray(d, dtype=float))


_Formula = Callable[[Any, Any], np.ndarray]


@dataclass(frozen=True)
class Loss:
    name: str
    code: int                               # kernel code (the kernel module's LOSSES)
    value: _Formula | None                  # (y, s) -> per-rating loss
    neg_grad: _Formula | None               # (y, s) -> -dl/ds; None for a loss of many
                                            # scores at once (softmax, WARP: see their
                                            # references)
    ranking: bool = False                   # a ranking loss of implicit feedback (BPR: s
                                            # is the positive's score minus a negative's)


_CODES = _sgd_kernel.LOSSES

LOSSES: dict[str, Loss] = {
    "squared": Loss("squared", _CODES["squared"], squared_value, squared_neg_grad),
    "logistic": Loss("logistic", _CODES["logistic"], logistic_value, logistic_neg_grad),
    "bpr": Loss("bpr", _CODES["bpr"], bpr_value, bpr_neg_grad, ranking=True),
    "softmax": Loss("softmax", _CODES["softmax"], None, None, ranking=True),
    "warp": Loss("warp", _CODES["warp"], None, None, ranking=True),
}
