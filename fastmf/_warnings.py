"""Warnings where a fit would run but not give what its user wants.

Each names what was seen in the data and what to do instead.  They are ``UserWarning``
s, raised once per fit, pointing at the caller's ``fit`` or ``partial_fit`` line.
(Values a fit cannot use at all, such as negative implicit feedback or non-binary
labels for the logistic loss, are errors: see :mod:`._validation` and :mod:`._als`.)
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._params import Params
    from ._validation import Ratings

# the caller -> fit/partial_fit -> _fitting -> warn_about -> _warn
_STACKLEVEL = 5


def warn_about(params: Params, data: Ratings) -> None:
    """Warn about ratings that make an explicit model learn nothing useful, and about
    more factors than the data has items (or users)."""
    if params.feedback == "explicit" and data.nnz:
        low, high = float(data.values.min()), float(data.values.max())
        if low == high and params.loss == "logistic":
            _warn(f"loss='logistic' with labels of one class only (all {low:g}): the model "
                  "learns to predict that class for every pair. Add negative examples "
                  "(e.g. sampled pairs the users did not interact with, labelled 0), or "
                  "fit interactions with solver='als', feedback='implicit'.")
        elif low == high:
            _warn(f"every rating is {low:g}: explicit feedback then learns that value for "
                  "every pair. For interactions (clicks, plays, purchases), use "
                  "solver='als', feedback='implicit'.")
    smallest = min(data.n_users, data.n_items)
    if smallest and params.factors >= smallest:
        side = "items" if data.n_items <= data.n_users else "users"
        _warn(f"factors={params.factors} is not smaller than the number of {side} "
              f"({smallest}): the factors can then reproduce the training ratings exactly "
              "instead of generalising. Use fewer factors.")


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=_STACKLEVEL)
