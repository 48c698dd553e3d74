"""Splitting a sparse users x items matrix into training and test parts.

Every splitter partitions the *stored entries* of the matrix exactly: each entry (explicit
zeros included) goes to exactly one side, ``train + test`` equals the input, and the two
never share a (user, item) position.  Duplicate stored positions are summed first (the
matrix they represent is unchanged).  Outputs are new CSR matrices with the input's shape
and value dtype, sorted indices and no shared memory with the input; the input is never
modified.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._validation import check_int, check_random_state

if TYPE_CHECKING:
    from ._typing import RandomStateLike, SparseMatrix

__all__ = ["KFold", "per_user_split", "train_test_split"]


def _entries(X: Any) -> sp.csr_matrix:
    """A canonical CSR copy of X (duplicates summed, indices sorted)."""
    if not sp.issparse(X):
        raise TypeError(
            f"X must be a scipy.sparse matrix (users x items), got {type(X).__name__}"
        )
    if X.ndim != 2:
        raise ValueError(f"X must be two-dimensional, got shape {X.shape}")
    csr = sp.csr_matrix(X, copy=True)
    csr.sum_duplicates()
    return csr


def _subset(csr: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """The entries of canonical ``csr`` where the boolean ``keep`` is True, as CSR."""
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[keep]
    indptr = np.zeros(csr.shape[0] + 1, dtype=csr.indptr.dtype)
    np.cumsum(np.bincount(rows, minlength=csr.shape[0]), out=indptr[1:])
    out = sp.csr_matrix((csr.data[keep], csr.indices[keep], indptr), shape=csr.shape)
    out.has_sorted_indices = True
    return out


def _n_test(test_size: Any, nnz: int) -> int:
    """Number of held-out entries: a fraction in (0, 1) or a count in [1, nnz - 1]."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1) or an int, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        count = int(test_size)
        if not 1 <= count <= nnz - 1:
            raise ValueError(
                f"test_size={test_size} entries must lie in [1, {nnz - 1}] for a matrix "
                f"with {nnz} stored entries"
            )
        return count
    fraction = float(test_size)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_size must lie strictly between 0 and 1, got {test_size!r}")
    return min(max(round(fraction * nnz), 1), nnz - 1)


def train_test_split(X: SparseMatrix, test_size: float | int = 0.2,
                     random_state: RandomStateLike = None,
                     ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random holdout of the stored entries of X.

    Parameters
    ----------
    X : scipy.sparse matrix of shape (n_users, n_items)
        At least two stored entries.
    test_size : float or int, default=0.2
        A float in (0, 1) is the fraction of entries held out (rounded, at least 1 and at
        most nnz - 1); an int is the number of entries held out.
    random_state : int, numpy Generator or None, default=None
        Seed of the draw.

    Returns
    -------
    train, test : scipy.sparse.csr_matrix of shape (n_users, n_items)
        A partition of X's entries.

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
    """
    csr = _entries(X)
    nnz = csr.nnz
    if nnz < 2:
        raise ValueError(f"X needs at least 2 stored entries to split, got {nnz}")
    n_test = _n_test(test_size, nnz)
    rng = check_random_state(random_state)
    is_test = np.zeros(nnz, dtype=bool)
    is_test[rng.choice(nnz, size=n_test, replace=False)] = True
    return _subset(csr, ~is_test), _subset(csr, is_test)


def per_user_split(X: SparseMatrix, test_size: float | None = None,
                   test_items: int | None = None, random_state: RandomStateLike = None,
                   ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Hold out some entries of every user (row) with at least two of them.

    Each such user keeps at least one entry in ``train`` and gives at least one to
    ``test``; users with fewer than two entries keep all of them in ``train``.

    Parameters
    ----------
    X : scipy.sparse matrix of shape (n_users, n_items)
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
    train, test : scipy.sparse.csr_matrix of shape (n_users, n_items)
        A partition of X's entries.

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
    csr = _entries(X)
    counts = np.diff(csr.indptr).astype(np.int64)
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
    rows = np.repeat(np.arange(csr.shape[0]), counts)
    # A random key per entry; an entry is held out if it is among its row's smallest keys.
    order = np.lexsort((rng.random(csr.nnz), rows))
    rank = np.empty(csr.nnz, dtype=np.int64)
    rank[order] = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1].astype(np.int64), counts)
    is_test = rank < per_user[rows]
    return _subset(csr, ~is_test), _subset(csr, is_test)


class KFold:
    """K-fold cross-validation over the stored entries of a sparse matrix.

    Entries are split into ``n_splits`` folds of sizes differing by at most one; each
    fold is the test part once, the other entries being the training part.

    Parameters
    ----------
    n_splits : int, default=5
        At least 2, and at most the number of stored entries.
    shuffle : bool, default=True
        Assign entries to folds at random; if False, folds are consecutive runs of
        entries in row-major (user, item) order.
    random_state : int, numpy Generator or None, default=None
        Used only when ``shuffle`` is True.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from fastmf.model_selection import KFold
    >>> X = sp.random(100, 50, density=0.1, format="csr", random_state=0)
    >>> [test.nnz for train, test in KFold(n_splits=3, random_state=0).split(X)]
    [167, 167, 166]
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = True,
                 random_state: RandomStateLike = None) -> None:
        self.n_splits = check_int("n_splits", n_splits, low=2)
        if not isinstance(shuffle, bool | np.bool_):
            raise TypeError(f"shuffle must be a bool, got {shuffle!r}")
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def get_n_splits(self, X: SparseMatrix | None = None) -> int:
        """Number of (train, test) pairs that :meth:`split` yields."""
        return self.n_splits

    def split(self, X: SparseMatrix) -> Iterator[tuple[sp.csr_matrix, sp.csr_matrix]]:
        """Yield ``n_splits`` (train, test) CSR pairs, each a partition of X's entries.

        The folds are drawn when ``split`` is called, so the input is validated at once.
        """
        csr = _entries(X)
        nnz = csr.nnz
        if self.n_splits > nnz:
            raise ValueError(
                f"n_splits={self.n_splits} is larger than the {nnz} stored entries of X"
            )
        fold = np.arange(nnz) * self.n_splits // nnz       # sizes differ by at most one
        if self.shuffle:
            fold = check_random_state(self.random_state).permutation(fold)
        return self._folds(csr, fold)

    def _folds(self, csr: sp.csr_matrix, fold: np.ndarray,
               ) -> Iterator[tuple[sp.csr_matrix, sp.csr_matrix]]:
        for f in range(self.n_splits):
            is_test = fold == f
            yield _subset(csr, ~is_test), _subset(csr, is_test)
