"""Checks at the Python boundary: every input a kernel sees has been through here.

Nothing in this module modifies the caller's arrays or matrices: conversions copy (or
view read-only), and the kernels only ever write to arrays fastmf allocated itself.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

_INDEX_MAX = np.iinfo(np.int32).max
# CSR row pointers and column indices are int32 while every count they hold stays below
# this, int64 beyond (more than 2**31 - 2 ratings).  Tests lower it to run the int64
# kernel paths on small data.
INT32_INDEX_LIMIT = _INDEX_MAX


def index_dtype(n: int) -> type[np.signedinteger[Any]]:
    """The CSR index type for counts up to ``n``: int32, or int64 from
    ``INT32_INDEX_LIMIT`` on."""
    return np.int32 if n < INT32_INDEX_LIMIT else np.int64


def csr_of(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
           shape: tuple[int, int], index: type[np.signedinteger[Any]] | None = None,
           ) -> sp.csr_matrix:
    """A CSR matrix over these arrays whose ``indices`` and ``indptr`` are both of type
    ``index`` (default ``index_dtype(nnz)``), as the kernels take one index type.  SciPy's
    constructor would narrow int64 arrays whose values fit in int32; this keeps the type
    chosen here."""
    index = index_dtype(len(data)) if index is None else index
    csr = sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    csr.indices = np.asarray(indices, dtype=index)
    csr.indptr = np.asarray(indptr, dtype=index)
    return csr


@dataclass(frozen=True)
class Ratings:
    """Validated ratings as parallel arrays (one entry per observed (user, item) pair)."""

    users: np.ndarray       # int32
    items: np.ndarray       # int32
    values: np.ndarray      # model dtype
    n_users: int
    n_items: int

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])


def check_dtype(dtype: Any) -> np.dtype[Any]:
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def check_int(name: str, value: Any, low: int | None = None,
              high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if low is not None and number < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return number


def check_float(name: str, value: Any, *, low: float = 0.0,
                low_inclusive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    ok = number >= low if low_inclusive else number > low
    if not np.isfinite(number) or not ok:
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be finite and {op} {low}, got {number!r}")
    return number


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    choice: str = value
    return choice


def index_array(name: str, values: Any) -> np.ndarray:
    a: np.ndarray = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(
            a == np.round(a)
        ):
            if np.abs(a).max() >= 2.0**63:
                raise ValueError(f"{name} contains index {a[np.argmax(np.abs(a))]}, "
                                 "beyond any model's size")
            return a.astype(np.int64)
        raise TypeError(f"{name} must hold integer indices, got dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} contains index {a.max()}, beyond any model's size")
    return a.astype(np.int64, copy=False)


def check_ids(name: str, ids: Any, n: int) -> np.ndarray:
    """Indices in [0, n) as a contiguous int64 array (a copy only where needed)."""
    a = index_array(name, ids)
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            raise ValueError(f"{name} contains negative index {lo}")
        if hi >= n:
            raise ValueError(
                f"{name} contains index {hi}, but the model knows only {n} "
                f"({name} must be < {n}); unseen ids need a refit"
            )
    return np.require(a, dtype=np.int64, requirements=["C", "A"])


def check_ratings(X: Any, dtype: np.dtype[Any], *, loss: str = "squared",
                  allow_empty: bool = False, name: str = "X") -> Ratings:
    """Turn a sparse users x items matrix, or a ``(users, items, values)`` triple, into
    validated :class:`Ratings`.  A triple's matrix has the triple's ``shape`` when it has
    one (:class:`fastmf.data.Triples`), else one more than its largest indices.

    Stored entries are ratings, explicit zeros included; duplicate (user, item) pairs are
    an error rather than being summed silently.  Values must be real numbers (or bools);
    complex values are refused rather than losing their imaginary part.  No ratings at
    all is an error unless ``allow_empty``.  Errors call the ratings ``name``.
    """
    if sp.issparse(X):
        coo = X.tocoo() if X.format != "coo" else X
        n_users, n_items = coo.shape
        users, items, values = coo.row, coo.col, coo.data
        _check_real(values)
    elif isinstance(X, tuple) and len(X) == 3:
        users = index_array("users", X[0])
        items = index_array("items", X[1])
        values = np.asarray(X[2])
        if values.ndim != 1:
            raise ValueError(f"values must be one-dimensional, got shape {values.shape}")
        if not (len(users) == len(items) == len(values)):
            raise ValueError(
                "users, items and values must have the same length, got "
                f"{len(users)}, {len(items)} and {len(values)}"
            )
        _check_real(values)
        for axis, a in (("users", users), ("items", items)):
            if a.size and a.min() < 0:
                raise ValueError(f"{axis} contains negative index {int(a.min())}")
        n_users = int(users.max()) + 1 if users.size else 0
        n_items = int(items.max()) + 1 if items.size else 0
        shape = getattr(X, "shape", None)        # fastmf.data.Triples know their matrix
        if shape is not None:
            if n_users > shape[0] or n_items > shape[1]:
                raise ValueError(f"the triples hold index ({n_users - 1}, {n_items - 1}), "
                                 f"beyond their shape {tuple(shape)}")
            n_users, n_items = int(shape[0]), int(shape[1])
    elif isinstance(X, np.ndarray | list):
        raise TypeError(
            f"{name} must be a scipy.sparse matrix (users x items) or a (users, items, "
            f"values) tuple; got a dense {type(X).__name__}. Use scipy.sparse.csr_matrix(X) if "
            "every entry, zeros included, is a rating."
        )
    else:
        raise TypeError(
            f"{name} must be a scipy.sparse matrix (users x items) or a (users, items, "
            f"values) tuple, got {type(X).__name__}"
        )

    if len(values) == 0 and not allow_empty:
        raise ValueError(f"{name} holds no ratings: at least one rating is needed to fit")
    if n_users > _INDEX_MAX or n_items > _INDEX_MAX:
        raise ValueError(f"{name} has shape ({n_users}, {n_items}); at most 2**31 - 1 per axis")
    with np.errstate(over="ignore"):              # reported below, with its position
        cast = values.astype(dtype, copy=True)    # never a view of the caller's data
    if not np.all(np.isfinite(cast)):
        bad = int(np.flatnonzero(~np.isfinite(cast))[0])
        where = f"at user {int(users[bad])}, item {int(items[bad])}"
        if np.isfinite(values[bad]):
            raise ValueError(f"{name} contains a rating ({values[bad]}) {where} beyond the range "
                             f"of {np.dtype(dtype).name} (magnitude <= "
                             f"{np.finfo(dtype).max:.4g})")
        raise ValueError(f"{name} contains a non-finite rating ({values[bad]}) {where}")
    values = cast
    if loss == "logistic":
        values = _binary_labels(values, name)
    # contiguous, aligned int32 ids are used as they are (nothing writes to them): no copy
    return Ratings(np.require(users, dtype=np.int32, requirements=["C", "A"]),
                   np.require(items, dtype=np.int32, requirements=["C", "A"]),
                   values, int(n_users), int(n_items))


def _check_real(values: np.ndarray) -> None:
    """Ratings must be real numbers or bools: not complex, text or objects."""
    kind = values.dtype.kind
    if kind not in "biuf":
        what = "complex" if kind == "c" else f"of dtype {values.dtype}"
        raise TypeError(f"ratings must be real numbers, got values {what}")


def _binary_labels(values: np.ndarray, name: str = "X") -> np.ndarray:
    """Labels in {0, 1} or {-1, +1} mapped to {0, 1}."""
    labels = np.unique(values)
    if np.all(np.isin(labels, (0, 1))):
        return values
    if np.all(np.isin(labels, (-1, 1))):
        return (values > 0).astype(values.dtype)
    raise ValueError(
        f"loss='logistic' needs binary labels in {{0, 1}} or {{-1, +1}}; {name} contains "
        f"{labels[:6].tolist()}{' ...' if labels.size > 6 else ''}"
    )


def find_duplicate(users: np.ndarray, items: np.ndarray) -> tuple[int, int] | None:
    """The first repeated (user, item) pair among pairs sorted by (user, item), or None."""
    same = (users[1:] == users[:-1]) & (items[1:] == items[:-1])
    if same.any():
        j = int(np.flatnonzero(same)[0])
        return int(users[j]), int(items[j])
    return None


def check_random_state(random_state: Any) -> np.random.Generator:
    """A NumPy Generator from None, an int, a SeedSequence, a Generator or a RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**32, dtype=np.uint64))
    if random_state is None or isinstance(
        random_state, numbers.Integral | np.random.SeedSequence | np.random.Generator
    ):
        if isinstance(random_state, bool):
            raise TypeError("random_state must be None, an int or a Generator, got a bool")
        if isinstance(random_state, numbers.Integral) and random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        seed: Any = random_state
        return np.random.default_rng(seed)
    raise TypeError(f"random_state must be None, an int or a Generator, got {random_state!r}")


# ---------------------------------------------------------------- factor arrays and ranking

def float_dtype(a: np.ndarray) -> np.dtype:
    """float32 stays float32; every other real dtype is computed in float64."""
    return np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)


def check_matrix(name: str, a: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """A finite 2-D real array as a C-contiguous array of ``dtype`` (a copy only if needed)."""
    if sp.issparse(a):
        raise TypeError(f"{name} must be a dense 2-D array, got a sparse matrix")
    arr = np.asarray(a)
    if arr.ndim != 2:
        hint = " (use .reshape(1, -1) for a single row)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be two-dimensional, got shape {arr.shape}{hint}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    dtype = float_dtype(arr) if dtype is None else dtype
    with np.errstate(over="ignore"):           # reported below
        arr = np.require(arr, dtype=dtype, requirements=["C", "A"])    # the kernels need both
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (or values beyond "
                         f"the range of {np.dtype(dtype).name})")
    return arr


def check_vector(name: str, a: Any, length: int, dtype: DTypeLike) -> np.ndarray:
    """A finite real vector of shape (length,) as a C-contiguous array of ``dtype``."""
    arr = np.asarray(a)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        arr = np.require(arr, dtype=dtype, requirements=["C", "A"])
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (or values beyond "
                         f"the range of {np.dtype(dtype).name})")
    return arr


def check_exclusion(exclude: Any, n_rows: int, n_items: int,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices) of the exclusion matrix, both int32 or both int64, with indices
    sorted within each row.  The caller's matrix is never modified (sorting works on a
    copy)."""
    if exclude is None:
        return np.zeros(n_rows + 1, dtype=np.int32), np.zeros(0, dtype=np.int32)
    if not sp.issparse(exclude):
        raise TypeError(
            "exclude must be a scipy.sparse matrix (rows x items) whose stored entries "
            f"mark the items to leave out, got {type(exclude).__name__}"
        )
    if exclude.shape != (n_rows, n_items):
        raise ValueError(
            f"exclude must have shape ({n_rows}, {n_items}) (query rows x items), "
            f"got {exclude.shape}"
        )
    csr = exclude.tocsr()
    indptr, indices = csr.indptr, csr.indices
    if indptr.shape != (n_rows + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0) or (
        indptr[-1] > indices.shape[0]
    ):
        raise ValueError("exclude is not a valid CSR matrix (bad indptr)")
    nnz = int(indptr[-1])
    indices = indices[:nnz]
    if nnz and (int(indices.min()) < 0 or int(indices.max()) >= n_items):
        raise ValueError(f"exclude holds column indices outside [0, {n_items})")
    if nnz > 1:
        # Sorted within rows iff every decrease happens where a new row starts.
        drops = np.flatnonzero(np.diff(indices) < 0) + 1
        starts = np.isin(drops, indptr)
        if not np.all(starts):
            # csr_matrix((data, indices, indptr)) shares the index arrays: copy them first
            csr = sp.csr_matrix((np.ones(nnz, dtype=np.int8), indices.copy(), indptr.copy()),
                                shape=(n_rows, n_items))
            csr.sort_indices()
            indptr, indices = csr.indptr, csr.indices
    wide = indptr.dtype.itemsize > 4 or indices.dtype.itemsize > 4 or nnz > np.iinfo(
        np.int32
    ).max
    idx_dtype = np.int64 if wide else np.int32
    return (np.require(indptr, dtype=idx_dtype, requirements=["C", "A"]),
            np.require(indices, dtype=idx_dtype, requirements=["C", "A"]))


def check_exclude_ids(exclude_ids: ArrayLike, m: int, n_items: int) -> np.ndarray:
    """One excluded id per query row (-1: none), as int64."""
    arr = np.asarray(exclude_ids)
    if arr.ndim != 1 or arr.shape[0] != m:
        raise ValueError(f"exclude_ids must have shape ({m},), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"exclude_ids must hold integer ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (int(arr.min()) < -1 or int(arr.max()) >= n_items):
        raise ValueError(f"exclude_ids must lie in [-1, {n_items}) (-1 means none)")
    return arr


def check_out(out: Any, m: int, n: int, dtype: np.dtype[Any],
              ) -> tuple[np.ndarray, np.ndarray]:
    """The caller's ``(ids, scores)`` output arrays, checked, or new ones."""
    if out is None:
        return np.empty((m, n), dtype=np.int64), np.empty((m, n), dtype=dtype)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("out must be a tuple (ids, scores) of two arrays")
    for name, arr, want in (("ids", out[0], np.dtype(np.int64)), ("scores", out[1], dtype)):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"out {name} must be a NumPy array (or np.memmap), got "
                            f"{type(arr).__name__}")
        if arr.shape != (m, n) or arr.dtype != want:
            raise ValueError(f"out {name} must have shape {(m, n)} and dtype {want}, got "
                             f"{arr.shape} and {arr.dtype}")
        if not (arr.flags.c_contiguous and arr.flags.writeable):
            raise ValueError(f"out {name} must be C-contiguous and writeable")
    return out[0], out[1]


def check_fold_in(X_rows: Any, item_factors: ArrayLike, item_bias: ArrayLike | None,
                  global_bias: Any, l2: Any, l2_bias: Any, loss: Any, biases: Any,
                  ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The arguments of ``reference.fold_in``: ``(item_factors, item_bias, l2, l2_bias)``
    checked (the item bias in float64, zeros when None)."""
    items_mat = check_matrix("item_factors", item_factors)
    n_items = items_mat.shape[0]
    if not sp.issparse(X_rows):
        raise TypeError(
            f"X_rows must be a scipy.sparse matrix (new users x items), got "
            f"{type(X_rows).__name__}"
        )
    if X_rows.shape[1] != n_items:
        raise ValueError(
            f"X_rows has {X_rows.shape[1]} columns but item_factors has {n_items} rows"
        )
    ibias = (np.zeros(n_items) if item_bias is None
             else check_vector("item_bias", item_bias, n_items, np.float64))
    if isinstance(global_bias, bool) or not isinstance(global_bias, numbers.Real) or not (
        np.isfinite(cast(float, global_bias))
    ):
        raise ValueError(f"global_bias must be a finite real number, got {global_bias!r}")
    l2 = check_float("l2", l2)
    l2_bias = l2 if l2_bias is None else check_float("l2_bias", l2_bias)
    check_choice("loss", loss, ("squared", "logistic"))
    if not isinstance(biases, bool | np.bool_):
        raise TypeError(f"biases must be a bool, got {biases!r}")
    return items_mat, ibias, l2, l2_bias
