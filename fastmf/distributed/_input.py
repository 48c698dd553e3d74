"""The accepted inputs, turned into partitions of index triples on the workers.

Three forms are accepted:

* a Dask DataFrame (or a pandas DataFrame, split into a Dask one) with one row per
  rating and columns for the user id, the item id and the value; ids are integers or
  strings, mapped to contiguous indices by an :class:`fastmf.data.IdMap` per column,
  built in one distributed pass (:func:`distinct_ids` per partition, merged in a tree
  of :func:`merge_ids` tasks): id ``ids[j]`` gets index ``j``, as a single-machine
  ``from_arrays`` would map them;
* the path of a Parquet data set of such rows (read with ``dask.dataframe``);
* a list of SciPy sparse row blocks of the users x items matrix, stacked in order: user
  ``u`` of block ``j`` is row ``offset_j + u``; every block has all the items as
  columns.  Rows and columns are already the indices: no id mapping is made.

Partitions are submitted as tasks that hold or read their data (never scattered), so
that Dask can recompute any of them after losing a worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._ids import IdMap, union
from ._blocks import Triples


@dataclass
class Source:
    """Input partitions as futures, and how to read them."""

    parts: list                   # futures of pandas DataFrames or sparse matrices
    kind: str                     # "frame" or "csr"
    columns: tuple[str, str, str] | None     # None for CSR blocks
    n_users: int | None = None    # known up front for "csr"
    n_items: int | None = None
    row_offsets: list | None = None


def _identity(x):
    return x


def _as_coo(block) -> sp.coo_matrix:
    """The block's stored entries, every one of them: a COO block keeps its repeated
    (row, column) pairs, which the block builder then reports, instead of summing them as
    a conversion to CSR would."""
    return sp.coo_matrix(block)      # a copy when converted: the caller's is untouched


def open_source(client, data, columns) -> Source:
    """Check ``data`` on the client and submit its partitions."""
    import dask.dataframe as dd

    if isinstance(data, str | os.PathLike):
        data = dd.read_parquet(os.fspath(data))
    if isinstance(data, pd.DataFrame):
        n = max(1, min(len(data) // 100_000 + 1, 64))
        data = dd.from_pandas(data, npartitions=n)
    if isinstance(data, dd.DataFrame):
        if columns is None:              # as MatrixFactorization.fit reads a DataFrame
            columns = tuple(data.columns[:3])
        _check_columns(data, columns)
        parts = client.compute(data[list(columns)].to_delayed())
        return Source(parts=parts, kind="frame", columns=tuple(columns))
    if isinstance(data, list | tuple) and data and all(sp.issparse(b) for b in data):
        widths = {b.shape[1] for b in data}
        if len(widths) != 1:
            raise ValueError(
                f"every CSR row block must have all the items as columns; got widths "
                f"{sorted(widths)}")
        for b in data:
            if b.dtype.kind not in "biuf":
                raise TypeError(f"ratings must be real numbers, got a block of dtype {b.dtype}")
        offsets = np.concatenate([[0], np.cumsum([b.shape[0] for b in data])]).tolist()
        parts = [client.submit(_as_coo, b, pure=False) for b in data]
        return Source(parts=parts, kind="csr", columns=None,
                      n_users=int(offsets[-1]), n_items=int(widths.pop()),
                      row_offsets=offsets[:-1])
    raise TypeError(
        "data must be a Dask or pandas DataFrame of (user, item, value) rows, the path "
        f"of a Parquet data set, or a non-empty list of SciPy sparse row blocks; got "
        f"{type(data).__name__}")


def _check_columns(frame, columns) -> None:
    if len(columns) != 3 or len(set(columns)) != 3:
        raise ValueError(f"columns must name three distinct columns, got {columns!r}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the ratings have no column {missing[0]!r} (columns: {list(frame.columns)}); "
            "pass columns=(user, item, value) to name them")
    value = frame.dtypes[columns[2]]
    if not (pd.api.types.is_numeric_dtype(value) and not pd.api.types.is_bool_dtype(value)
            and not pd.api.types.is_complex_dtype(value)):
        raise ValueError(f"the value column {columns[2]!r} must be numeric, got {value}")


def _column_ids(ids: np.ndarray) -> np.ndarray:
    """A column of raw ids as int64 (integers, bools and whole floats) or strings."""
    if ids.dtype.kind in "iub":
        return ids.astype(np.int64, copy=False)
    if ids.dtype.kind == "f":
        if ids.size and not np.all(ids == np.round(ids)):
            raise ValueError("float ids must hold whole numbers; use int or str ids")
        return ids.astype(np.int64)
    return ids.astype(str)


def distinct_ids(part: pd.DataFrame, column: str) -> IdMap:
    """The id map of one column of one partition."""
    series = part[column]
    if series.isna().any():
        raise ValueError(f"column {column!r} holds a missing id (NaN/None)")
    return IdMap(_column_ids(np.asarray(pd.unique(series))))


def merge_ids(*maps: IdMap) -> IdMap:
    """The id map of several partitions (one node of the merge tree)."""
    return union(maps)


def triples(part, kind: str, columns, offset: int, user_ids: IdMap | None,
            item_ids: IdMap | None, dtype, logistic: bool) -> tuple[Triples, dict]:
    """One partition as index triples in the model dtype, and its statistics: count,
    sum and minimum of the values, label set (logistic), first non-finite value."""
    if kind == "csr":
        coo = part.tocoo()
        rows = coo.row.astype(np.int64) + offset
        cols = coo.col.astype(np.int64)
        raw_users, raw_items = rows, cols
        values = np.asarray(coo.data, dtype=dtype)
    else:
        ucol, icol, vcol = columns
        raw_users, raw_items = part[ucol].to_numpy(), part[icol].to_numpy()
        rows = user_ids.to_index(_column_ids(np.asarray(raw_users)))
        cols = item_ids.to_index(_column_ids(np.asarray(raw_items)))
        values = np.asarray(part[vcol].to_numpy(dtype=np.float64), dtype=dtype)
    stats = {"n": int(values.size), "sum": float(np.sum(values, dtype=np.float64)),
             "min": float(values.min()) if values.size else np.inf,
             "max": float(values.max()) if values.size else -np.inf, "nonfinite": None,
             "labels": None}
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        stats["nonfinite"] = (raw_users[j].item() if hasattr(raw_users[j], "item")
                              else raw_users[j], raw_items[j].item()
                              if hasattr(raw_items[j], "item") else raw_items[j],
                              float(values[j]))
    if logistic:
        labels = np.unique(values)
        stats["labels"] = labels[:7].tolist()
        values = (values > 0).astype(dtype)      # {-1, +1} and {0, 1} alike
        stats["sum"] = float(np.sum(values, dtype=np.float64))
    return Triples(rows=rows, cols=cols, values=values), stats


def first(pair: tuple):
    return pair[0]


def second(pair: tuple):
    return pair[1]
