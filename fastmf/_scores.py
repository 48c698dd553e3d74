"""Scores of (user, item) pairs: the prediction kernel, the unknown-id policy and
clipping.

``unknown="bias"`` serves a pair whose user or item the model does not know from the
biases alone, as Surprise falls back to its baseline estimate: :math:`\\mu + b_i` for an
unknown user, :math:`\\mu + b_u` for an unknown item, :math:`\\mu` when neither is known
(0 for implicit feedback, which has no biases; its sigmoid for the logistic loss).
``unknown="raise"`` refuses them with a ``ValueError``.

``clip``: predictions of explicit ratings (squared loss, explicit feedback) are clipped
to the range of the training ratings (``True``), to a given ``(low, high)``, or not at
all (``False``).  Raw scores (``decision_function``) are never clipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._inputs import lookup, uses_raw_ids
from ._kernels import predict as _predict_kernel
from ._loss_table import LOSSES, sigmoid
from ._threads import effective_n_threads, threads_for

if TYPE_CHECKING:
    from ._state import FittedState
    from ._typing import FloatArray


def scores_of(model: Any, s: FittedState, users: Any, items: Any, *, raw_ids: Any,
              unknown: str, clip: Any, probabilities: bool) -> FloatArray:
    """Scores of (user, item) pairs in the state ``s``: predictions (``probabilities``:
    the sigmoid for the logistic loss, clipped explicit ratings) or raw scores."""
    use_raw = uses_raw_ids(s, raw_ids)
    n_users, n_items = s.user_factors.shape[0], s.item_factors.shape[0]
    u, known_u = lookup("users", users, s.user_ids, n_users, raw=use_raw, unknown=unknown)
    i, known_i = lookup("items", items, s.item_ids, n_items, raw=use_raw, unknown=unknown)
    if u.shape != i.shape:
        raise ValueError(
            f"users and items must have the same length, got {u.size} and {i.size}")
    out = np.empty(u.shape[0], dtype=s.dtype)
    _predict_kernel.predict_pairs(
        u, i, s.user_factors, s.item_factors, s.user_bias, s.item_bias, s.global_bias,
        LOSSES[s.loss].code, not probabilities, out,
        threads_for(effective_n_threads(model.num_threads), u.shape[0] * (s.factors + 1)))
    unknown_pair = ~(known_u & known_i)
    if unknown_pair.any():                  # the bias-only prediction
        fallback = (s.global_bias + np.where(known_u, s.user_bias[u], 0)
                    + np.where(known_i, s.item_bias[i], 0))[unknown_pair]
        if probabilities and s.loss == "logistic":
            fallback = sigmoid(fallback)
        out[unknown_pair] = fallback
    if not np.isfinite(out).all():
        raise FloatingPointError(
            f"predictions overflowed {s.dtype.name}: the model's parameters are too "
            "large for its dtype")
    bounds = clip_range(s, clip) if probabilities else None
    if bounds is not None:
        np.clip(out, bounds[0], bounds[1], out=out)
    return out


def clip_range(s: FittedState, clip: Any) -> tuple[float, float] | None:
    """The range explicit predictions are clipped to: the training ratings' range for
    ``clip=True``, the given one for a pair; None for ``False``, for a model of binary
    labels or implicit feedback, and for a model file that does not record the range."""
    if s.loss != "squared" or s.feedback != "explicit" or clip is False:
        return None
    if clip is True:
        return s.rating_range
    low, high = clip
    return float(low), float(high)
