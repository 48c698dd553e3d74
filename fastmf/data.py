"""The forms of rating data: index triples that know their matrix's shape, and raw
(user id, item id, value) records turned into the users x items matrix fastmf fits.

:class:`Triples` are ``(users, items, values)`` of row and column indices together with
the shape of the whole users x items matrix, so that a part of the data (a training
split) never has its number of users or items guessed from the largest index it holds.

Raw ids may be integers or strings.  Each axis gets an :class:`IdMap`: the sorted distinct
raw ids, so index ``j`` is the j-th smallest raw id, and raw -> index lookups are binary
searches over that sorted array (no Python dict, no per-id objects).  The same map serves
the file readers (:mod:`fastmf.io`), a model fitted on raw ids, the command line and
``fastmf.distributed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
import scipy.sparse as sp

from ._ids import IdMap, coerce_ids, encode
from ._validation import check_choice, index_array

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike, DTypeLike

__all__ = ["IdMap", "Interactions", "Triples", "from_arrays", "from_dataframe"]

_AGGREGATES = ("raise", "sum", "mean", "last")


class Triples(tuple):  # type: ignore[type-arg]
    """Ratings as ``(users, items, values)``: parallel arrays of row indices, column
    indices and values, with the shape of the users x items matrix they belong to.

    A tuple of three arrays (it unpacks as ``users, items, values = triples``), plus
    ``shape``.  ``fit`` sizes the model from ``shape``, so users and items that have no
    rating in these triples (those of a test split, say) still get a row.  The
    splitters of :mod:`fastmf.model_selection` give every part the shape of the whole,
    and :func:`fastmf.datasets.make_ratings` and the readers of :mod:`fastmf.io` return
    their data with it.

    Parameters
    ----------
    users, items : array_like of int, shape (n,)
        Row and column indices (0-based).
    values : array_like, shape (n,)
        The ratings.
    shape : (int, int), optional
        ``(n_users, n_items)``, larger than every index; when omitted,
        ``(max(users) + 1, max(items) + 1)``.

    Examples
    --------
    >>> from fastmf.data import Triples
    >>> t = Triples([0, 2], [1, 0], [4.0, 3.0], shape=(5, 3))
    >>> users, items, values = t
    >>> t.shape, users.tolist()
    ((5, 3), [0, 2])
    """

    shape: tuple[int, int]

    def __new__(cls, users: ArrayLike, items: ArrayLike, values: ArrayLike,
                shape: tuple[int, int] | None = None) -> Triples:
        arrays = (np.asarray(users), np.asarray(items), np.asarray(values))
        self = super().__new__(cls, arrays)
        self.shape = _triples_shape(arrays[0], arrays[1], shape)
        return self

    @property
    def users(self) -> np.ndarray:
        """Row (user) index of each rating."""
        return cast(np.ndarray, self[0])

    @property
    def items(self) -> np.ndarray:
        """Column (item) index of each rating."""
        return cast(np.ndarray, self[1])

    @property
    def values(self) -> np.ndarray:
        """The ratings."""
        return cast(np.ndarray, self[2])

    def __getnewargs__(self) -> tuple[Any, ...]:        # pickling and copying
        return (*self, self.shape)

    def __repr__(self) -> str:
        return f"Triples(n={len(self[0])}, shape={self.shape})"


def _triples_shape(users: np.ndarray, items: np.ndarray,
                   shape: Any) -> tuple[int, int]:
    """The checked ``(n_users, n_items)`` of triples: ``shape`` when given (it must exceed
    every index), else one more than the largest index of each axis."""
    tops = []
    for name, a in (("users", users), ("items", items)):
        ids = index_array(name, a)
        tops.append(int(ids.max()) + 1 if ids.size else 0)
    if shape is None:
        return tops[0], tops[1]
    if (not isinstance(shape, tuple | list) or len(shape) != 2
            or not all(isinstance(n, int | np.integer) and not isinstance(n, bool)
                       and n >= 0 for n in shape)):
        raise ValueError(f"shape must be two non-negative ints, got {shape!r}")
    for name, top, n in zip(("users", "items"), tops, shape, strict=True):
        if top > n:
            raise ValueError(f"{name} contains index {top - 1}, beyond shape {tuple(shape)}")
    return int(shape[0]), int(shape[1])


class Interactions(NamedTuple):
    """A users x items matrix and the id maps of its two axes.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of shape (len(users), len(items))
        Row ``u`` is the user whose raw id is ``users.ids[u]``, column ``i`` the item
        whose raw id is ``items.ids[i]``.
    users : IdMap
        Raw user ids of the rows.
    items : IdMap
        Raw item ids of the columns.

    Examples
    --------
    >>> from fastmf.data import from_arrays
    >>> matrix, users, items = from_arrays(["ann", "bob"], ["x", "y"], [5.0, 3.0])
    >>> matrix.shape, users.ids.tolist(), items.ids.tolist()
    ((2, 2), ['ann', 'bob'], ['x', 'y'])
    """

    matrix: sp.csr_matrix
    users: IdMap
    items: IdMap


def from_arrays(user_ids: ArrayLike, item_ids: ArrayLike, values: ArrayLike | None = None,
                *, aggregate: str = "raise", dtype: DTypeLike = np.float64) -> Interactions:
    """Build the users x items CSR matrix from parallel arrays of raw ids.

    Parameters
    ----------
    user_ids, item_ids : array_like of int or str, shape (n,)
        Raw ids; users become rows and items columns, both in sorted raw-id order.
    values : array_like of shape (n,), optional
        The ratings; ones (implicit feedback) if omitted.  Must be finite.
    aggregate : {"raise", "sum", "mean", "last"}, default="raise"
        What to do with repeated (user, item) pairs: raise ``ValueError``, or store their
        sum, their mean, or the value that comes last in the input.
    dtype : numpy dtype, default=numpy.float64
        Value dtype of the matrix.

    Returns
    -------
    Interactions
        ``(matrix, users, items)``: a CSR matrix with sorted indices and no duplicates,
        and the :class:`IdMap` of each axis.

    Examples
    --------
    >>> from fastmf.data import from_arrays
    >>> data = from_arrays(["ann", "bob", "ann", "ann"], [10, 10, 20, 10],
    ...                    [4.0, 2.0, 5.0, 3.0], aggregate="mean")
    >>> data.matrix.toarray()
    array([[3.5, 5. ],
           [2. , 0. ]])
    >>> data.users["bob"], data.items.to_raw([1]).tolist()
    (1, [20])
    """
    check_choice("aggregate", aggregate, _AGGREGATES)
    users = coerce_ids("user_ids", user_ids)
    items = coerce_ids("item_ids", item_ids)
    if users.shape != items.shape:
        raise ValueError(
            f"user_ids and item_ids must have the same length, got {users.shape[0]} and "
            f"{items.shape[0]}"
        )
    n = users.shape[0]
    if values is None:
        vals = np.ones(n, dtype=dtype)
    else:
        vals = np.asarray(values)
        if vals.shape != (n,):
            raise ValueError(f"values must have shape ({n},), got {vals.shape}")
        if not (np.issubdtype(vals.dtype, np.number) or vals.dtype == bool) or np.iscomplexobj(
            vals
        ):
            raise TypeError(f"values must hold real numbers, got dtype {vals.dtype}")
        vals = vals.astype(dtype)                       # always a copy of the caller's data
        if not np.all(np.isfinite(vals)):
            raise ValueError("values contains NaN or infinite values")

    user_map, rows = encode(users)
    item_map, cols = encode(items)
    n_users, n_items = len(user_map), len(item_map)
    key = rows * n_items + cols
    order = np.argsort(key, kind="stable")             # stable: input order within a pair
    key = key[order]
    vals = vals[order]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1]))) if n else key
    if starts.size < n:
        if aggregate == "raise":
            dup = int(np.flatnonzero(key[1:] == key[:-1])[0])
            u, i = order[dup], order[dup + 1]
            raise ValueError(
                f"(user, item) pair ({users[u].item()!r}, {items[u].item()!r}) occurs more "
                f"than once (entries {u} and {i}); pass aggregate='sum', 'mean' or 'last' to "
                "combine repeated pairs"
            )
        counts = np.diff(np.append(starts, n))
        if aggregate == "sum":
            vals = np.add.reduceat(vals, starts)
        elif aggregate == "mean":
            vals = (np.add.reduceat(vals.astype(np.float64), starts) / counts).astype(dtype)
        else:   # "last"
            vals = vals[starts + counts - 1]
        key = key[starts]
    rows, cols = np.divmod(key, max(n_items, 1))
    index_dtype = np.int32 if max(n_users, n_items, key.size) < 2**31 else np.int64
    indptr = np.zeros(n_users + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    matrix = sp.csr_matrix((vals, cols.astype(index_dtype), indptr), shape=(n_users, n_items))
    matrix.has_sorted_indices = True
    return Interactions(matrix, user_map, item_map)


def from_dataframe(df: pd.DataFrame, user_col: str, item_col: str,
                   value_col: str | None = None, *, aggregate: str = "raise",
                   dtype: DTypeLike = np.float64) -> Interactions:
    """Build the users x items CSR matrix from the columns of a pandas DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per interaction.
    user_col, item_col : str
        Columns holding raw user and item ids (integers or strings, no missing values).
    value_col : str, optional
        Column of ratings; ones if omitted.
    aggregate : {"raise", "sum", "mean", "last"}, default="raise"
        See :func:`from_arrays`.
    dtype : numpy dtype, default=numpy.float64
        Value dtype of the matrix.

    Returns
    -------
    Interactions
        As :func:`from_arrays`.

    Examples
    --------
    >>> import pandas as pd
    >>> from fastmf.data import from_dataframe
    >>> df = pd.DataFrame({"user": ["ann", "bob", "ann"], "item": ["x", "x", "y"]})
    >>> data = from_dataframe(df, "user", "item")          # implicit: ones
    >>> data.matrix.nnz, len(data.users), len(data.items)
    (3, 2, 2)
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    columns = {"user_col": user_col, "item_col": item_col}
    if value_col is not None:
        columns["value_col"] = value_col
    for arg, col in columns.items():
        if col not in df.columns:
            raise ValueError(f"{arg}={col!r} is not a column of df ({list(df.columns)})")
        if df[col].isna().any():
            raise ValueError(f"column {col!r} ({arg}) has missing values")
    values = None if value_col is None else df[value_col].to_numpy()
    return from_arrays(df[user_col].to_numpy(), df[item_col].to_numpy(), values,
                       aggregate=aggregate, dtype=dtype)
