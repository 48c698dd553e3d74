"""What the estimator accepts, read into one form: ratings with their id maps, and ids
at serving time with the unknown-id policy.

Ratings come as a sparse users x items matrix or ``(users, items, values)`` index
triples (:class:`fastmf.data.Triples` carry the matrix's shape), or with raw ids: a
pandas DataFrame (one rating per row), :class:`fastmf.data.Interactions` (a matrix and
its id maps) or triples whose ids are strings.  :func:`read_ratings` turns raw ids into
index triples through the model's :class:`~fastmf._ids.IdMap` of each axis (built at
``fit``, extended by ``partial_fit``), so everything below sees indices only.

At serving time :func:`lookup` turns the ids a caller gives (raw ids or indices, see
``raw_ids``) into row indices, marking the ids the model does not know, which the
estimator's ``unknown`` policy then either refuses or serves from the biases.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._ids import IdMap, coerce_ids
from ._validation import check_choice, index_array
from .data import Interactions, Triples

if TYPE_CHECKING:
    from ._state import FittedState

UNKNOWN = ("bias", "raise")


@dataclass(frozen=True)
class Read:
    """Ratings in index form (what ``check_ratings`` reads: a sparse matrix or index
    triples) and the id maps of a raw-id input (None for index input)."""

    X: Any
    user_ids: IdMap | None
    item_ids: IdMap | None


def is_frame(X: Any) -> bool:
    """A pandas DataFrame (without importing pandas when it is not loaded)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(X, pd.DataFrame)


def frame_columns(df: Any, columns: Any) -> tuple[Any, Any, Any | None]:
    """The (user, item, value) columns of a DataFrame: ``columns`` when given (two or
    three names; with two the values are ones), else the first three columns (the first
    two of a two-column frame)."""
    names = list(df.columns)
    if columns is None:
        if len(names) < 2:
            raise ValueError(f"a DataFrame of ratings needs a user and an item column, got "
                             f"columns {names}")
        picked = names[:3]
    else:
        if isinstance(columns, str) or len(columns) not in (2, 3):
            raise ValueError(f"columns must name the user, item and (optionally) value "
                             f"columns, got {columns!r}")
        picked = list(columns)
        for name in picked:
            if name not in names:
                raise ValueError(f"column {name!r} is not in the DataFrame ({names})")
    for name in picked:
        if df[name].isna().any():
            raise ValueError(f"column {name!r} has missing values")
    return picked[0], picked[1], picked[2] if len(picked) == 3 else None


def raw_triples(X: Any, columns: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(raw users, raw items, values)`` of raw-id ratings, or None for index input."""
    if is_frame(X):
        u, i, v = frame_columns(X, columns)
        values = np.ones(len(X)) if v is None else X[v].to_numpy()
        return X[u].to_numpy(), X[i].to_numpy(), values
    if isinstance(X, Interactions):
        coo = X.matrix.tocoo()
        return X.users.ids[coo.row], X.items.ids[coo.col], coo.data
    if isinstance(X, tuple) and len(X) == 3 and not isinstance(X, Triples):
        kinds = [np.asarray(a).dtype.kind for a in X[:2]]
        if any(k in "USO" for k in kinds):
            return (coerce_ids("users", X[0]), coerce_ids("items", X[1]),
                    np.asarray(X[2]))
    return None


def read_ratings(X: Any, columns: Any, maps: tuple[IdMap, IdMap] | None = None,
                 *, grow: bool = True) -> Read:
    """``X`` in index form, with its id maps when its ids are raw.

    ``maps``: the id maps of a model fitted on raw ids, which the ids of ``X`` are read
    through; ``grow`` appends the ids they lack (``partial_fit``), else those ratings
    are refused.  Without ``maps`` a raw-id ``X`` gets new maps (sorted ids).
    """
    raw = raw_triples(X, columns)
    if raw is None:
        if maps is not None:
            raise ValueError(
                "this model was fitted on raw ids (it has user_ids_ and item_ids_): give "
                "its ratings with raw ids too (a DataFrame, fastmf.data.Interactions, or "
                "triples of string ids)")
        if is_frame(X) or isinstance(X, Interactions):
            raise AssertionError("unreachable")     # pragma: no cover
        return Read(X, None, None)
    users, items, values = raw
    if maps is None:
        user_map, item_map = IdMap(users), IdMap(items)
    elif grow:
        user_map, item_map = maps[0].extended(users), maps[1].extended(items)
    else:
        user_map, item_map = maps
    u = user_map.to_index(users)
    i = item_map.to_index(items)
    return Read(Triples(u, i, values, shape=(len(user_map), len(item_map))),
                user_map, item_map)


def check_unknown(value: Any) -> str:
    return check_choice("unknown", value, UNKNOWN)


def uses_raw_ids(state: FittedState, raw_ids: Any) -> bool:
    """Whether the ids a caller gives are raw ids: ``raw_ids`` when it is a bool, else
    (``None``) whether the model was fitted on raw ids."""
    if raw_ids is None:
        return state.user_ids is not None
    if not isinstance(raw_ids, bool | np.bool_):
        raise TypeError(f"raw_ids must be True, False or None, got {raw_ids!r}")
    if raw_ids and state.user_ids is None:
        raise ValueError("raw_ids=True, but this model was fitted on row indices: it has no "
                         "raw ids (fit it on a DataFrame or fastmf.data.Interactions)")
    return bool(raw_ids)


def lookup(name: str, ids: Any, id_map: IdMap | None, n: int, *, raw: bool,
           unknown: str) -> tuple[np.ndarray, np.ndarray]:
    """``(index, known)`` of ``ids`` among the model's ``n`` rows of one axis: raw ids
    through ``id_map`` when ``raw``, else indices, which must not be negative.  Ids the
    model does not know raise KeyError/ValueError under ``unknown="raise"``; otherwise
    they get index 0 and ``known`` False (the caller serves them from the biases)."""
    if raw:
        assert id_map is not None
        try:
            index = id_map.to_index(np.atleast_1d(np.asarray(ids)), missing="ignore")
        except TypeError as exc:
            raise TypeError(f"{name}: {exc} (the model takes raw ids by default; pass "
                            "raw_ids=False to give row indices)") from None
    else:
        index = index_array(name, np.atleast_1d(np.asarray(ids)))
        if index.size and int(index.min()) < 0:
            raise ValueError(f"{name} contains negative index {int(index.min())}")
        index = np.where(index < n, index, -1)
    known = index >= 0
    if not known.all():
        if unknown == "raise":
            bad = np.atleast_1d(np.asarray(ids))[~known][0].item()
            what = "id" if raw else "index"
            raise ValueError(
                f"{name} contains {what} {bad!r}, which the model does not know (it has "
                f"{n} {name}); pass unknown='bias' to the model to score unknown {name} "
                "from the biases, or refit")
        index = np.where(known, index, 0)
    return np.require(index, dtype=np.int64, requirements=["C", "A"]), known


def to_raw(ids: np.ndarray, id_map: IdMap) -> np.ndarray:
    """Raw ids of row indices, -1 (padding) becoming -1 (integer ids) or "" (strings)."""
    raw = id_map.ids
    out = raw[np.maximum(ids, 0)] if raw.size else np.zeros(ids.shape, dtype=raw.dtype)
    pad = ids < 0
    if pad.any():
        out = out.copy()
        out[pad] = "" if raw.dtype.kind in "US" else -1
    return out


def pairs_of(X: Any, state: FittedState, columns: Any, unknown: str, *,
             raw_ids: bool = False,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(users, items, values, known)`` of the ratings ``X`` in any accepted form, in
    the model's rows (what ``score`` and ``exclude`` read).  A DataFrame, Interactions
    or string ids are raw ids, and so are the ids of triples when ``raw_ids``; raw ids
    need a raw-id model.  Ids the model does not know get ``known`` False (or raise,
    under ``unknown``)."""
    raw = raw_triples(X, columns)
    if (raw is None and raw_ids and isinstance(X, tuple) and len(X) in (2, 3)
            and not sp.issparse(X)):
        raw = (X[0], X[1], X[2] if len(X) == 3 else np.ones(np.shape(X[0])))
    n_users, n_items = state.user_factors.shape[0], state.item_factors.shape[0]
    if raw is not None:
        if state.user_ids is None:
            raise ValueError("these ratings have raw ids, but the model was fitted on row "
                             "indices")
        users, items, values = raw
        u, ku = lookup("users", users, state.user_ids, n_users, raw=True, unknown=unknown)
        i, ki = lookup("items", items, state.item_ids, n_items, raw=True, unknown=unknown)
        return u, i, np.asarray(values), ku & ki
    if sp.issparse(X):
        coo = X.tocoo()
        users, items, values = coo.row, coo.col, coo.data
    elif isinstance(X, tuple) and len(X) in (2, 3):
        users, items = X[0], X[1]
        values = X[2] if len(X) == 3 else np.ones(np.shape(users))
    else:
        raise TypeError("ratings must be a scipy.sparse matrix, (users, items, values) "
                        f"triples or a DataFrame, got {type(X).__name__}")
    u, ku = lookup("users", users, None, n_users, raw=False, unknown=unknown)
    i, ki = lookup("items", items, None, n_items, raw=False, unknown=unknown)
    return u, i, np.asarray(values), ku & ki
