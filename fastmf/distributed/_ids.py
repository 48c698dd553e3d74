"""Raw user and item ids to contiguous indices, in one distributed pass.

Each partition lists its distinct ids, the lists are merged in a tree of tasks into the
sorted distinct ids of the whole data set, and that array is the mapping: id
``ids[j]`` gets index ``j``.  It is what a single-machine fit of
``np.unique(..., return_inverse=True)`` codes would give, and it is kept on the fitted
model as ``user_ids_`` / ``item_ids_`` (the names :mod:`fastmf._persistence` saves).
Integer ids stay int64; any other ids are stored as strings, as
:func:`fastmf.datasets.load_delimited` does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _normalise(ids: np.ndarray) -> np.ndarray:
    if ids.dtype.kind in "iub":
        return ids.astype(np.int64, copy=False)
    if ids.dtype.kind == "f":
        if ids.size and not np.all(ids == np.round(ids)):
            raise ValueError("float ids must hold whole numbers; use int or str ids")
        return ids.astype(np.int64)
    return ids.astype(str)


def distinct(part: pd.DataFrame, column: str) -> np.ndarray:
    """Sorted distinct ids of one column of one partition."""
    series = part[column]
    if series.isna().any():
        raise ValueError(f"column {column!r} holds a missing id (NaN/None)")
    return np.unique(_normalise(np.asarray(pd.unique(series))))


def merge(*arrays: np.ndarray) -> np.ndarray:
    """Sorted distinct ids of several sorted id arrays (one node of the tree)."""
    kinds = {a.dtype.kind for a in arrays if a.size}
    if len(kinds) > 1:
        raise ValueError("ids mix integers and strings; use one kind of id per column")
    return np.unique(np.concatenate(arrays))


def codes(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each raw id in the mapping ``ids`` (every id is present)."""
    return pd.Index(ids).get_indexer(_normalise(np.asarray(values))).astype(np.int64)
