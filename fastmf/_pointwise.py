"""Pointwise metrics: errors of predicted ratings, the log loss of predicted
probabilities and the ROC AUC of scores.  Public as part of :mod:`fastmf.metrics`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import rankdata

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def _pair(y_true: ArrayLike, y_pred: ArrayLike,
          names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, a in zip(names, (y_true, y_pred), strict=True):
        arr = np.asarray(a)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(
            arr
        ):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
        arrays.append(arr)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got "
            f"{arrays[0].shape[0]} and {arrays[1].shape[0]}"
        )
    if arrays[0].size == 0:
        raise ValueError(f"{names[0]} is empty")
    return arrays[0], arrays[1]


def _binary(name: str, y: np.ndarray) -> np.ndarray:
    """Labels in {0, 1} or {-1, +1} as booleans (True = positive)."""
    labels = np.unique(y)
    if np.all(np.isin(labels, (0.0, 1.0))) or np.all(np.isin(labels, (-1.0, 1.0))):
        return y > 0
    raise ValueError(f"{name} must hold binary labels in {{0, 1}} or {{-1, +1}}, got "
                     f"{labels[:6].tolist()}")


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Root mean squared error :math:`\sqrt{\frac1n \sum (y - \hat y)^2}`.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (n,)
        Finite real values of the same length.

    Returns
    -------
    float

    Examples
    --------
    >>> from fastmf.metrics import rmse
    >>> rmse([1.0, 2.0, 4.0], [1.0, 2.0, 1.0])
    1.7320508075688772
    """
    y, p = _pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Mean absolute error :math:`\frac1n \sum |y - \hat y|`.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (n,)
        Finite real values of the same length.

    Returns
    -------
    float

    Examples
    --------
    >>> from fastmf.metrics import mae
    >>> mae([1.0, 2.0, 4.0], [1.0, 3.0, 1.0])
    1.3333333333333333
    """
    y, p = _pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.mean(np.abs(y - p)))


def log_loss(y_true: ArrayLike, p: ArrayLike, eps: float = 1e-15) -> float:
    r"""Mean negative log-likelihood of binary labels.

    :math:`-\frac1n \sum y \log p + (1 - y) \log(1 - p)`, with ``p`` clipped to
    ``[eps, 1 - eps]`` so that a confident mistake costs a large but finite amount.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels in {0, 1} or {-1, +1}.
    p : array_like of shape (n,)
        Predicted probabilities of the positive class, in [0, 1].
    eps : float, default=1e-15
        Clipping margin, in (0, 0.5).

    Returns
    -------
    float

    Examples
    --------
    >>> from fastmf.metrics import log_loss
    >>> round(log_loss([1, 0, 1], [0.9, 0.2, 0.6]), 4)
    0.2798
    """
    y, prob = _pair(y_true, p, ("y_true", "p"))
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), got {eps!r}")
    if prob.min() < 0.0 or prob.max() > 1.0:
        raise ValueError("p must hold probabilities in [0, 1]")
    pos = _binary("y_true", y)
    prob = np.clip(prob, eps, 1.0 - eps)
    return float(-np.mean(np.where(pos, np.log(prob), np.log1p(-prob))))


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting one half (average ranks, Mann-Whitney U).

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels in {0, 1} or {-1, +1}; both classes must be present.
    scores : array_like of shape (n,)
        Any real scores, higher meaning more likely positive.

    Returns
    -------
    float

    Examples
    --------
    >>> from fastmf.metrics import roc_auc
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = _pair(y_true, scores, ("y_true", "scores"))
    pos = _binary("y_true", y)
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both positive and negative labels in y_true")
    ranks = rankdata(s)                   # average ranks for ties
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
