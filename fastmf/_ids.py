"""Raw ids <-> contiguous indices: the one id map of fastmf.

An :class:`IdMap` holds the distinct raw ids of one axis (users or items): built from
raw ids it holds them sorted, so index ``j`` is the j-th smallest raw id.  A model that
``partial_fit`` grows appends the ids it had not seen after the others
(:meth:`IdMap.extended`), so that the indices it already had keep their meaning.
Raw -> index lookups are binary searches over a sorted array (no Python dict, no per-id
objects).  Raw ids are integers (int64) or strings.  Every place that maps ids uses it:
:mod:`fastmf.data` (``from_arrays``), the file readers (:mod:`fastmf.io`), a model
fitted on raw ids, the command line and ``fastmf.distributed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import numpy as np

from ._validation import check_choice

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._typing import IndexArray

_T = TypeVar("_T")


def coerce_ids(name: str, values: Any) -> np.ndarray:
    """A 1-D array of integer ids (int64) or string ids (numpy str or bytes)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == object:
        kinds = {type(v) for v in arr.tolist()}
        if kinds and all(issubclass(t, str) for t in kinds):
            arr = arr.astype(str)
        elif kinds and all(issubclass(t, int | np.integer) and not issubclass(t, bool)
                           for t in kinds):
            arr = arr.astype(np.int64)
        elif kinds:
            names = sorted(t.__name__ for t in kinds)
            raise TypeError(
                f"{name} must hold only integers or only strings, got a mix of {names}"
            )
        else:
            arr = arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        # One integer dtype for every map, so lookups never compare mixed int/uint as floats.
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name} holds integer ids above 2**63 - 1")
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind in "US":
        return arr
    raise TypeError(f"{name} must hold integer or string ids, got dtype {arr.dtype}")


class IdMap:
    """Bijection between raw ids and the indices 0 to n - 1.

    Parameters
    ----------
    raw_ids : array_like of int or str
        Raw ids, in any order, repeats allowed; the map holds their sorted distinct values.

    Attributes
    ----------
    ids : ndarray of shape (n,)
        Index -> raw id (read-only): ``ids[j]`` is the raw id of index ``j``.

    Examples
    --------
    >>> from fastmf.data import IdMap
    >>> m = IdMap(["b", "a", "b", "c"])
    >>> m.ids.tolist(), m["c"], m.to_index(["a", "c"]).tolist()
    (['a', 'b', 'c'], 2, [0, 2])
    """

    def __init__(self, raw_ids: ArrayLike) -> None:
        ids = np.unique(coerce_ids("raw_ids", raw_ids))
        ids.setflags(write=False)
        self._ids = ids
        self._sorted = ids
        self._order: np.ndarray | None = None      # sorted position -> index, if unsorted

    @classmethod
    def from_ids(cls, ids: ArrayLike) -> IdMap:
        """The map whose index ``j`` is ``ids[j]``: the ids in the order given, which must
        be distinct (a saved model's ``user_ids_``, say).

        Examples
        --------
        >>> from fastmf.data import IdMap
        >>> m = IdMap.from_ids(["b", "a"])
        >>> m["b"], m.ids.tolist()
        (0, ['b', 'a'])
        """
        values = np.array(coerce_ids("ids", ids))
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        if ordered.size > 1 and not np.all(ordered[1:] != ordered[:-1]):
            j = int(np.flatnonzero(ordered[1:] == ordered[:-1])[0])
            raise ValueError(f"ids holds {ordered[j].item()!r} more than once")
        if np.array_equal(order, np.arange(order.size)):
            return _of_sorted(values)
        m = cls.__new__(cls)
        values.setflags(write=False)
        ordered.setflags(write=False)
        m._ids, m._sorted, m._order = values, ordered, order.astype(np.int64)
        return m

    def extended(self, raw: ArrayLike) -> IdMap:
        """This map with the ids of ``raw`` it lacks appended (in sorted order) after
        its own, which keep their indices: how a model grows in ``partial_fit``.

        Examples
        --------
        >>> from fastmf.data import IdMap
        >>> IdMap(["b", "d"]).extended(["c", "d", "a"]).ids.tolist()
        ['b', 'd', 'a', 'c']
        """
        new = np.unique(coerce_ids("raw ids", raw))
        if new.size and len(self):
            new = new[~self._lookup(new)[1]]
        if new.size == 0:
            return self
        if len(self) == 0:
            return _of_sorted(new)
        return IdMap.from_ids(np.concatenate([self._ids, new]))

    @property
    def ids(self) -> np.ndarray:
        """Index -> raw id (read-only): ``ids[j]`` is the raw id of index ``j``."""
        return self._ids

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        return f"IdMap(n={len(self)}, dtype={self._ids.dtype})"

    def _lookup(self, raw: Any) -> tuple[np.ndarray, np.ndarray]:
        """(positions, found) for an array of raw ids."""
        query = coerce_ids("raw ids", raw)
        if (query.dtype.kind in "US") != (self._ids.dtype.kind in "US"):
            kind = "string" if self._ids.dtype.kind in "US" else "integer"
            raise TypeError(f"this map holds {kind} ids; got ids of dtype {query.dtype}")
        if query.dtype.kind != self._ids.dtype.kind and query.dtype.kind in "US":
            # bytes vs str ids: compare as the map's kind
            query = query.astype(str) if self._ids.dtype.kind == "U" else np.char.encode(query)
        pos = np.searchsorted(self._sorted, query)
        found = np.zeros(query.shape, dtype=bool)
        inside = pos < len(self)
        found[inside] = self._sorted[pos[inside]] == query[inside]
        pos = pos.astype(np.int64)
        if self._order is not None:
            pos[found] = self._order[pos[found]]
        return pos, found

    def to_index(self, raw: ArrayLike, missing: str = "raise") -> IndexArray:
        """Indices of raw ids.

        Parameters
        ----------
        raw : array_like of int or str, shape (m,)
            Raw ids of the map's kind (integers or strings).
        missing : {"raise", "ignore"}, default="raise"
            What to do with ids the map does not hold: raise ``KeyError``, or map them
            to ``-1``.

        Returns
        -------
        ndarray of int64, shape (m,)

        Examples
        --------
        >>> from fastmf.data import IdMap
        >>> IdMap([10, 30, 20]).to_index([30, 99], missing="ignore").tolist()
        [2, -1]
        """
        check_choice("missing", missing, ("raise", "ignore"))
        pos, found = self._lookup(raw)
        if not found.all():
            if missing == "raise":
                bad = np.asarray(raw)[~found]
                raise KeyError(f"{int((~found).sum())} unknown id(s), e.g. {bad[0]!r}")
            pos[~found] = -1
        return pos

    def to_raw(self, index: ArrayLike) -> np.ndarray:
        """Raw ids of indices (array_like of int in ``[0, n)``).

        Examples
        --------
        >>> from fastmf.data import IdMap
        >>> IdMap(["u1", "u7", "u3"]).to_raw([0, 2]).tolist()
        ['u1', 'u7']
        """
        idx = np.asarray(index)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"index must hold integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ValueError(f"index must lie in [0, {len(self)})")
        return cast(np.ndarray, self._ids[idx])

    def __getitem__(self, raw: object) -> int:
        pos, found = self._lookup([raw])
        if not found[0]:
            raise KeyError(raw)
        return int(pos[0])

    def __contains__(self, raw: object) -> bool:
        try:
            return bool(self._lookup([raw])[1][0])
        except TypeError:
            return False

    @overload
    def get(self, raw: object, default: None = None) -> int | None: ...
    @overload
    def get(self, raw: object, default: _T) -> int | _T: ...

    def get(self, raw: object, default: object = None) -> object:
        """Index of ``raw``, or ``default`` if the map does not hold it.

        Examples
        --------
        >>> from fastmf.data import IdMap
        >>> m = IdMap(["a", "b"])
        >>> m.get("b"), m.get("z"), m.get("z", -1)
        (1, None, -1)
        """
        return self[raw] if raw in self else default


def encode(raw: ArrayLike, name: str = "raw ids") -> tuple[IdMap, np.ndarray]:
    """The :class:`IdMap` of ``raw`` and the index (int64) of each of its entries: what
    ``IdMap(raw)`` and ``to_index(raw)`` give, in one pass.  Integer ids whose span is
    not much larger than their count are mapped through a table instead of a sort."""
    values = coerce_ids(name, raw)
    if values.dtype.kind == "i" and values.size:
        low = int(values.min())
        span = int(values.max()) - low + 1
        if span <= 4 * values.size + 1_000_000:
            offsets = values - low
            present = np.zeros(span, dtype=bool)
            present[offsets] = True
            ids = np.flatnonzero(present).astype(np.int64) + low
            position = np.cumsum(present, dtype=np.int64) - 1
            return _of_sorted(ids), position[offsets]
    ids, index = np.unique(values, return_inverse=True)
    return _of_sorted(ids), index.astype(np.int64).reshape(-1)


def union(maps: Sequence[IdMap]) -> IdMap:
    """The map of every raw id of ``maps`` (all of one kind: integers or strings)."""
    kinds = {m.ids.dtype.kind for m in maps if len(m)}
    if len(kinds) > 1:
        raise ValueError("ids mix integers and strings; use one kind of id per column")
    return IdMap(np.concatenate([m.ids for m in maps]))


def _of_sorted(ids: np.ndarray) -> IdMap:
    """The map whose ids are ``ids``, already sorted and distinct."""
    m = IdMap.__new__(IdMap)
    ids.setflags(write=False)
    m._ids = m._sorted = ids
    m._order = None
    return m
