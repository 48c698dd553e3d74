"""Splitting ratings into training and test parts: holdout, per user, and k-fold.

Every splitter takes the ratings in any form that ``fit`` accepts, and returns the
parts in the same form:

* a sparse users x items matrix: its *stored entries* are split (explicit zeros
  included), duplicate stored positions summed first (the matrix they represent is
  unchanged).  The parts are new CSR matrices with the input's shape and value dtype,
  sorted indices and no memory shared with the input, and ``train + test`` equals the
  input;
* a ``(users, items, values)`` triple of parallel arrays: its rows are split as they
  are (a repeated pair stays repeated).  The parts are :class:`fastmf.data.Triples` of
  new arrays with the input dtypes and the shape of the whole: the input's ``shape``
  when it has one, else one more than its largest indices.  A model fitted on the
  training part therefore has a row for every user and item of the test part;
* a pandas DataFrame with one rating per row: its rows are split, the parts are
  DataFrames (``df.iloc`` of the rows, index kept).  A raw-id model fitted on the
  training part meets ids in the test part that it never saw: see ``unknown`` in
  :class:`fastmf.MatrixFactorization`.

Each entry goes to exactly one part, and the input is never modified.  ``random_state``
seeds the draw.  :class:`KFold` is also a scikit-learn cross-validation splitter
(``split`` yields positions), so it serves as ``cv=`` of ``GridSearchCV``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._ids import encode
from ._inputs import is_frame
from ._validation import check_int, check_random_state, index_array
from .data import Triples

if TYPE_CHECKING:
    from ._typing import RandomStateLike, RatingsLike

__all__ = ["KFold", "per_user_split", "train_test_split"]


class _Entries:
    """The entries of ratings ``X`` in any form: how many there are, the user (row)
    of each, and the parts at chosen positions, in ``X``'s own form."""

    def __init__(self, X: Any) -> None:
        self.matrix: sp.csr_matrix | None = None
        self.frame: Any = None
        if is_frame(X):
            if X.shape[1] < 2:
                raise ValueError(f"a DataFrame of ratings needs a user and an item column, "
                                 f"got columns {list(X.columns)}")
            self.frame, self.n, self.what = X, int(X.shape[0]), "rows"
        elif sp.issparse(X):
            if X.ndim != 2:
                raise ValueError(f"X must be two-dimensional, got shape {X.shape}")
            csr = sp.csr_matrix(X, copy=True)
            csr.sum_duplicates()
            self.matrix, self.n, self.what = csr, int(csr.nnz), "stored entries"
        elif isinstance(X, tuple) and len(X) == 3:
            arrays = {"users": np.asarray(X[0]), "items": np.asarray(X[1]),
                      "values": np.asarray(X[2])}
            for name, arr in arrays.items():
                if arr.ndim != 1:
                    raise ValueError(f"{name} must be one-dimensional, got shape "
                                     f"{arr.shape}")
            lengths = {name: arr.shape[0] for name, arr in arrays.items()}
            if len(set(lengths.values())) != 1:
                detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
                raise ValueError("users, items and values must have the same length, "
                                 f"got {detail}")
            self.triple = tuple(arrays.values())
            self.n, self.what = int(lengths["users"]), "ratings"
            # index triples: every part keeps the shape of the whole; raw ids (strings)
            # have no shape and give plain tuples
            raw = any(arrays[name].dtype.kind in "USO" for name in ("users", "items"))
            users, items, values = self.triple
            self.shape = None if raw else Triples(
                users, items, values, shape=getattr(X, "shape", None)).shape
        else:
            raise TypeError("X must be a scipy.sparse matrix (users x items), a (users, "
                            f"items, values) tuple or a DataFrame, got {type(X).__name__}")

    def rows(self) -> tuple[np.ndarray, int]:
        """The user of each entry and the number of users (of a DataFrame: its first
        column's ids, numbered)."""
        if self.matrix is not None:
            n_rows = self.matrix.shape[0]
            return np.repeat(np.arange(n_rows), np.diff(self.matrix.indptr)), n_rows
        if self.frame is not None:
            user_map, users = encode(self.frame.iloc[:, 0].to_numpy(), "the user column")
            return users, len(user_map)
        if self.shape is None:                     # raw ids
            user_map, users = encode(self.triple[0], "users")
            return users, len(user_map)
        users = index_array("users", self.triple[0])
        if users.size and users.min() < 0:
            raise ValueError(f"users contains negative index {int(users.min())}")
        return users, self.shape[0]

    def take(self, where: np.ndarray) -> Any:
        """The entries at ``where`` (a boolean mask, or positions in that order)."""
        if self.frame is not None:
            return self.frame.iloc[where]
        csr = self.matrix
        if csr is None:
            users, items, values = (a[where] for a in self.triple)
            if self.shape is None:
                return users, items, values
            return Triples(users, items, values, shape=self.shape)
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[where]
        indptr = np.zeros(csr.shape[0] + 1, dtype=csr.indptr.dtype)
        np.cumsum(np.bincount(rows, minlength=csr.shape[0]), out=indptr[1:])
        out = sp.csr_matrix((csr.data[where], csr.indices[where], indptr), shape=csr.shape)
        out.has_sorted_indices = True
        return out


def _n_test(test_size: Any, entries: _Entries) -> int:
    """Number of held-out entries: a fraction in (0, 1) or a count in [1, n - 1]."""
    nnz = entries.n
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1) or an int, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        count = int(test_size)
        if not 1 <= count <= nnz - 1:
            raise ValueError(
                f"test_size={test_size} entries must lie in [1, {nnz - 1}] for "
                f"{nnz} {entries.what}"
            )
        return count
    fraction = float(test_size)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_size must lie strictly between 0 and 1, got {test_size!r}")
    return min(max(round(fraction * nnz), 1), nnz - 1)


def train_test_split(X: RatingsLike, test_size: float | int = 0.2,
                     random_state: RandomStateLike = None) -> tuple[Any, Any]:
    """Random holdout of the entries of X.

    Parameters
    ----------
    X : scipy.sparse matrix of shape (n_users, n_items), (users, items, values) or DataFrame
        At least two entries (stored entries of a matrix, rows of a triple or of a
        DataFrame).
    test_size : float or int, default=0.2
        A float in (0, 1) is the fraction of entries held out (rounded, at least 1 and at
        most n - 1); an int is the number of entries held out.
    random_state : int, numpy Generator or None, default=None
        Seed of the draw.

    Returns
    -------
    train, test : scipy.sparse.csr_matrix of shape (n_users, n_items), Triples or DataFrames
        A partition of X's entries, in X's form (triples: :class:`fastmf.data.Triples`
        with the shape of X).  The rows of two triples or DataFrames come in random
        order (the test part is the first ``n_test`` of a random permutation).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from fastmf.model_selection import train_test_split
    >>> X = sp.random(100, 50, density=0.1, format="csr", random_state=0)
    >>> train, test = train_test_split(X, test_size=0.25, random_state=0)
    >>> X.nnz, train.nnz, test.nnz
    (500, 375, 125)
    >>> bool(abs(train + test - X).max() == 0)          # a partition of X's entries
    True

    Rating triples, as :func:`fastmf.datasets.make_ratings` returns them:

    >>> from fastmf.datasets import make_ratings
    >>> train, test = train_test_split(make_ratings(100, 50, 1_000, seed=0),
    ...                                test_size=0.2, random_state=0)
    >>> len(train[0]), len(test[0])
    (800, 200)
    >>> train.shape == test.shape == (100, 50)      # the shape of the whole data
    True
    """
    entries = _Entries(X)
    n = entries.n
    if n < 2:
        raise ValueError(f"X needs at least 2 {entries.what} to split, got {n}")
    n_test = _n_test(test_size, entries)
    rng = check_random_state(random_state)
    if entries.matrix is None:                  # triples and DataFrames: a permutation
        order = rng.permutation(n)
        return entries.take(order[n_test:]), entries.take(order[:n_test])
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.choice(n, size=n_test, replace=False)] = True
    return entries.take(~is_test), entries.take(is_test)


def per_user_split(X: RatingsLike, test_size: float | None = None,
                   test_items: int | None = None, random_state: RandomStateLike = None,
                   ) -> tuple[Any, Any]:
    """Hold out some entries of every user (row) with at least two of them.

    Each such user keeps at least one entry in ``train`` and gives at least one to
    ``test``; users with fewer than two entries keep all of them in ``train``.

    Parameters
    ----------
    X : scipy.sparse matrix of shape (n_users, n_items), (users, items, values) or DataFrame
        A DataFrame's user is its first column.
    test_size : float in (0, 1), optional
        Fraction of each user's entries held out: ``round(test_size * n_u)`` clamped to
        ``[1, n_u - 1]``.  Used (with value 0.2) when neither argument is given.
    test_items : int >= 1, optional
        Number of each user's entries held out, at most ``n_u - 1``.  Give at most one of
        ``test_size`` and ``test_items``.
    random_state : int, numpy Generator or None, default=None
        Seed of the draw.

    Returns
    -------
    train, test : scipy.sparse.csr_matrix of shape (n_users, n_items), Triples or DataFrames
        A partition of X's entries, in X's form (triples and DataFrames keep X's order
        of rows; triples have the shape of X).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from fastmf.model_selection import per_user_split
    >>> X = sp.random(100, 50, density=0.1, format="csr", random_state=0)
    >>> train, test = per_user_split(X, test_items=1, random_state=0)
    >>> per_user = np.diff(test.indptr)              # held-out entries of each user
    >>> sorted(set(per_user[np.diff(X.indptr) >= 2].tolist()))
    [1]
    """
    if test_size is not None and test_items is not None:
        raise ValueError("give test_size or test_items, not both")
    entries = _Entries(X)
    rows, n_rows = entries.rows()
    counts = np.bincount(rows, minlength=n_rows).astype(np.int64)
    if test_items is not None:
        per_user = np.full(counts.shape, check_int("test_items", test_items, low=1))
    else:
        frac = 0.2 if test_size is None else test_size
        if isinstance(frac, bool) or not isinstance(frac, numbers.Real):
            raise TypeError(f"test_size must be a float in (0, 1), got {frac!r}")
        if not 0.0 < frac < 1.0:
            raise ValueError(f"test_size must lie strictly between 0 and 1, got {frac!r}")
        per_user = np.maximum(np.rint(frac * counts).astype(np.int64), 1)
    per_user = np.where(counts >= 2, np.minimum(per_user, counts - 1), 0)
    rng = check_random_state(random_state)
    # A random key per entry; an entry is held out if it is among its row's smallest keys.
    order = np.lexsort((rng.random(entries.n), rows))
    rank = np.empty(entries.n, dtype=np.int64)
    rank[order] = np.arange(entries.n) - np.repeat(np.cumsum(counts) - counts, counts)
    is_test = rank < per_user[rows]
    return entries.take(~is_test), entries.take(is_test)


class KFold:
    """K-fold cross-validation over the entries of ratings (the stored entries of a
    sparse matrix, the rows of a (users, items, values) triple or of a DataFrame).

    Entries are split into ``n_splits`` folds of sizes differing by at most one; each
    fold is the test part once, the other entries being the training part.
    :meth:`folds` yields the parts themselves; :meth:`split` yields their positions,
    as scikit-learn's splitters do, so a ``KFold`` is a ``cv=`` of ``GridSearchCV`` and
    ``RandomizedSearchCV`` (with the ratings as a DataFrame, one rating per row, which
    scikit-learn indexes by row).

    Parameters
    ----------
    n_splits : int, default=5
        At least 2, and at most the number of entries.
    shuffle : bool, default=True
        Assign entries to folds at random; if False, folds are consecutive runs of
        entries in row-major (user, item) order (a triple's or a DataFrame's: in its
        order).
    random_state : int, numpy Generator or None, default=None
        Used only when ``shuffle`` is True.  An int gives the same folds at every call.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from fastmf.model_selection import KFold
    >>> X = sp.random(100, 50, density=0.1, format="csr", random_state=0)
    >>> [test.nnz for train, test in KFold(n_splits=3, random_state=0).folds(X)]
    [167, 167, 166]
    >>> [len(test) for train, test in KFold(n_splits=3, random_state=0).split(X)]
    [167, 167, 166]
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = True,
                 random_state: RandomStateLike = None) -> None:
        self.n_splits = check_int("n_splits", n_splits, low=2)
        if not isinstance(shuffle, bool | np.bool_):
            raise TypeError(f"shuffle must be a bool, got {shuffle!r}")
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def __repr__(self) -> str:
        return (f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, "
                f"random_state={self.random_state!r})")

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of (train, test) pairs that :meth:`split` and :meth:`folds` yield."""
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None,
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``n_splits`` (train, test) pairs of positions (int64 arrays) of X's
        entries: rows of a DataFrame or a triple, stored entries of a sparse matrix in
        CSR order.  ``y`` and ``groups`` are ignored (scikit-learn's signature).

        The folds are drawn when ``split`` is called, so the input is validated at once.
        """
        fold = self._fold_of(_Entries(X))
        positions = np.arange(fold.size)
        return ((positions[fold != f], positions[fold == f]) for f in range(self.n_splits))

    def folds(self, X: RatingsLike) -> Iterator[tuple[Any, Any]]:
        """Yield ``n_splits`` (train, test) pairs in X's form (CSR matrices, triples that
        keep the shape of X, or DataFrames), each a partition of X's entries.

        The folds are drawn when ``folds`` is called, so the input is validated at once.
        """
        entries = _Entries(X)
        fold = self._fold_of(entries)
        return ((entries.take(fold != f), entries.take(fold == f))
                for f in range(self.n_splits))

    def _fold_of(self, entries: _Entries) -> np.ndarray:
        """The fold of each entry."""
        nnz = entries.n
        if self.n_splits > nnz:
            raise ValueError(
                f"n_splits={self.n_splits} is larger than the {nnz} {entries.what} of X"
            )
        fold = np.arange(nnz) * self.n_splits // nnz       # sizes differ by at most one
        if self.shuffle:
            fold = check_random_state(self.random_state).permutation(fold)
        return fold
