"""From raw (user id, item id, value) records to the users x items matrix fastmf fits.

Raw ids may be integers or strings.  Each axis gets an :class:`IdMap`: the sorted distinct
raw ids, so index ``j`` is the j-th smallest raw id, and raw -> index lookups are binary
searches over that sorted array (no Python dict, no per-id objects).  The same map serves
the file readers (:mod:`fastmf.io`), the command line and ``fastmf.distributed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp

from ._ids import IdMap, coerce_ids, encode
from ._validation import check_choice

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike, DTypeLike

__all__ = ["IdMap", "Interactions", "from_arrays", "from_dataframe"]

_AGGREGATES = ("raise", "sum", "mean", "last")


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
