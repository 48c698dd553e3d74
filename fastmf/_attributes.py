"""The fitted attributes of an estimator (``user_factors_``, ``user_ids_``, ...): each
a property read from the one published :class:`~fastmf._state.FittedState`, through
:func:`~fastmf._state.snapshot`; assigning one publishes a new state."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._ids import IdMap
from ._state import publish, published, snapshot


def _exposed(name: str, doc: str, *, writable: bool = False) -> property:
    """A fitted attribute (``user_factors_`` ...) read from the current state."""

    def get(self: FittedModelMixin) -> Any:
        return getattr(snapshot(self), name)

    def set_(self: FittedModelMixin, value: Any) -> None:
        state = snapshot(self)
        if name == "global_bias":
            value = float(value)
        else:
            value = np.array(value, dtype=state.dtype, order="C", copy=True)
        publish(self, dataclasses.replace(state, **{name: value}))

    return property(get, set_ if writable else None, doc=doc)


def _publish_ids(model: object, name: str, value: Any) -> None:
    """Give the model's state raw ids of one axis (both axes must end up with ids or
    without: assign the other one next, or both through ``fit``)."""
    state = snapshot(model)
    ids = None if value is None else IdMap.from_ids(value)
    other = "item_ids" if name == "user_ids" else "user_ids"
    other_ids = getattr(state, other)
    if ids is not None and other_ids is None:
        # the first of the two assignments: the other axis gets its row numbers for now
        n = (state.item_factors if other == "item_ids" else state.user_factors).shape[0]
        other_ids = IdMap.from_ids(np.arange(n))
    if ids is None:
        other_ids = None
    publish(model, dataclasses.replace(state, **{name: ids, other: other_ids}))


class FittedModelMixin:
    """Fitted attributes of an estimator, all read from one published
    :class:`FittedState` (see :func:`snapshot`)."""

    user_factors_ = _exposed("user_factors", "Factors of the users, (n_users, factors); "
                             "read-only.  Assigning a new array publishes a new state.",
                             writable=True)
    item_factors_ = _exposed("item_factors", "Factors of the items, (n_items, factors); "
                             "read-only.", writable=True)
    user_bias_ = _exposed("user_bias", "User biases, (n_users,); read-only.", writable=True)
    item_bias_ = _exposed("item_bias", "Item biases, (n_items,); read-only.", writable=True)
    global_bias_ = _exposed("global_bias", "Global bias mu.", writable=True)
    history_ = _exposed("history", "Per-epoch record (see the class docstring).")
    best_epoch_ = _exposed("best_epoch", "Epoch whose parameters early stopping kept.")
    n_threads_ = _exposed("n_threads", "Threads the last fit used.")

    @property
    def training_loss_(self) -> list[float]:
        """Mean training loss of each epoch (``history_["loss"]``)."""
        return snapshot(self).history["loss"]

    @property
    def user_ids_(self) -> np.ndarray | None:
        """Raw id of each user row (``user_ids_[u]`` is row ``u``'s), or None for a model
        fitted on row indices.  Assigning an array of distinct ids (or None) publishes a
        new state."""
        ids = snapshot(self).user_ids
        return None if ids is None else ids.ids

    @user_ids_.setter
    def user_ids_(self, value: Any) -> None:
        _publish_ids(self, "user_ids", value)

    @property
    def item_ids_(self) -> np.ndarray | None:
        """Raw id of each item column, or None (see ``user_ids_``)."""
        ids = snapshot(self).item_ids
        return None if ids is None else ids.ids

    @item_ids_.setter
    def item_ids_(self, value: Any) -> None:
        _publish_ids(self, "item_ids", value)

    def __sklearn_is_fitted__(self) -> bool:
        return published(self) is not None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_live", None)          # views of fits running in this process
        return state
