"""Using a trained factor model: top-n recommendation and similar items (and, from
:mod:`fastmf.reference`, the NumPy fold-in).

Every function here works on plain arrays (factor matrices and bias vectors), so it serves
any model that stores them.  Ranking runs in the ``fastmf._kernels.topk`` kernel (through
``fastmf._topk``): query rows are scored a tile at a time and the best ``n`` per row are kept
by partial selection, so no rows x items score matrix is ever built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ._threads import effective_n_threads, single_threaded_blas, threads_for
from ._topk import top_n
from ._validation import (
    check_exclude_ids,
    check_exclusion,
    check_ids,
    check_int,
    check_matrix,
    check_out,
    check_vector,
)
from .reference import fold_in as fold_in  # the NumPy fold-in; documented in reference

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    from ._typing import FloatArray, SparseMatrix

__all__ = ["fold_in", "recommend", "recommend_all", "similar"]


# ---------------------------------------------------------------------------
# recommend / similar
# ---------------------------------------------------------------------------


def recommend(
    user_vectors: ArrayLike,
    item_factors: ArrayLike,
    item_bias: ArrayLike | None = None,
    n: int = 10,
    exclude: SparseMatrix | None = None,
    items: ArrayLike | None = None,
    num_threads: int | None = None,
    *,
    user_bias: ArrayLike | None = None,
    exclude_ids: ArrayLike | None = None,
) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
    r"""The ``n`` highest-scoring items for each query row.

    The score of item :math:`i` for row :math:`u` is
    :math:`s_{ui} = p_u \cdot q_i + b_i + c_u`, with :math:`b_i` from ``item_bias`` and
    :math:`c_u` from ``user_bias`` (both optional; :math:`c_u` does not change the ranking,
    only the returned scores, so passing :math:`\mu + b_u` reproduces predicted ratings).

    Parameters
    ----------
    user_vectors : array_like of shape (m, k)
        Query rows, e.g. ``model.user_factors_[users]``.
    item_factors : array_like of shape (n_items, k)
        Item factors.  Scores are computed in float32 if ``item_factors`` is float32, in
        float64 otherwise.
    item_bias : array_like of shape (n_items,), optional
        Added to every score of the item.
    n : int, default=10
        Number of items to return per row (>= 1); at most the number of items
        (``n`` larger than that returns rows of ``n_items``).
    exclude : scipy.sparse matrix of shape (m, n_items), optional
        Items never to return for a row: the stored entries of row ``u`` (whatever their
        values), typically the user's training items.  int32 and int64 indices are used
        without a copy when the column indices are sorted within rows.
    items : array_like of int, optional
        Restrict the ranking to these item ids (duplicates are ignored).
    num_threads : int or None, default=None
        OpenMP threads (see ``fastmf._threads.effective_n_threads``).
    user_bias : array_like of shape (m,), optional
        Per-row constant added to the returned scores.
    exclude_ids : array_like of int of shape (m,), optional
        One more id to leave out of each row (``-1`` for none), e.g. the query item itself.

    Returns
    -------
    ids : ndarray of int64, shape (m, min(n, n_items))
        Item ids, best first.  Equal scores are ordered by lower item id, so the result is
        deterministic.  A row with fewer admissible items (after exclusions and
        ``items``) is padded with ``-1``.
    scores : ndarray, same shape
        The matching scores, ``-inf`` where the id is ``-1``.

    Raises
    ------
    ValueError
        Shapes that do not match, non-finite values, ``n < 1``, or ids out of range.
    TypeError
        Non-numeric arrays, or ``exclude`` that is not a sparse matrix.
    FloatingPointError
        A score overflowed (factors far too large for the dtype).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from fastmf.recommend import recommend
    >>> item_factors = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    >>> users = np.array([[1.0, 0.2], [0.0, 2.0]])
    >>> ids, scores = recommend(users, item_factors, n=2)
    >>> ids
    array([[0, 2],
           [1, 2]])
    >>> seen = sp.csr_matrix(([1.0], ([0], [0])), shape=(2, 3))   # user 0 saw item 0
    >>> recommend(users, item_factors, n=2, exclude=seen)[0]
    array([[2, 1],
           [1, 2]])
    """
    items_mat = check_matrix("item_factors", item_factors)
    dtype = items_mat.dtype
    queries = check_matrix("user_vectors", user_vectors, dtype)
    n_items, k = items_mat.shape
    m = queries.shape[0]
    if queries.shape[1] != k:
        raise ValueError(
            f"user_vectors has {queries.shape[1]} columns but item_factors has {k}: both "
            "must hold the same number of factors"
        )
    n = check_int("n", n, low=1)
    if item_bias is None:
        ibias = np.zeros(n_items, dtype=dtype)
    else:
        ibias = check_vector("item_bias", item_bias, n_items, dtype)
    if user_bias is None:
        qbias = np.zeros(m, dtype=dtype)
    else:
        qbias = check_vector("user_bias", user_bias, m, dtype)
    indptr, indices = check_exclusion(exclude, m, n_items)
    if exclude_ids is None:
        self_ids = np.full(m, -1, dtype=np.int64)
    else:
        self_ids = check_exclude_ids(exclude_ids, m, n_items)
    if items is None:
        cand = np.arange(n_items, dtype=np.int64)
        cand_mat, cand_bias = items_mat, ibias
    else:
        cand = np.unique(check_ids("items", items, n_items))
        cand_mat = np.ascontiguousarray(items_mat[cand])
        cand_bias = np.ascontiguousarray(ibias[cand])
    n = min(n, n_items)            # no row can hold more: never allocate beyond that
    if n == 0:
        return np.empty((m, 0), dtype=np.int64), np.empty((m, 0), dtype=dtype)
    n_threads = threads_for(effective_n_threads(num_threads),
                            m * cand.size * (queries.shape[1] + 1))
    with single_threaded_blas():
        return top_n(queries, cand_mat, cand_bias, qbias, cand, indptr, indices,
                     self_ids, n, n_threads)


# Rows per batch of recommend_all: large enough that every thread gets many row tiles,
# small enough that a batch's checks and exclusion rows stay a few megabytes.
_ALL_USERS_BATCH = 16_384


def recommend_all(
    user_factors: ArrayLike,
    item_factors: ArrayLike,
    item_bias: ArrayLike | None = None,
    n: int = 10,
    *,
    exclude: SparseMatrix | None = None,
    user_bias: ArrayLike | None = None,
    batch_size: int | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
    num_threads: int | None = None,
    link: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
    r"""The ``n`` highest-scoring items of every row of ``user_factors``, in batches.

    The same ranking as :func:`recommend` (scores
    :math:`s_{ui} = p_u \cdot q_i + b_i + c_u`), for all rows at once with memory bounded
    by one batch besides the output: rows are checked, their exclusions taken from
    ``exclude`` and their top ``n`` written into ``out``, ``batch_size`` rows at a time.
    With ``out`` memory-mapped arrays (``numpy.lib.format.open_memmap``) the result need
    not fit in memory either.

    Parameters
    ----------
    user_factors : array_like of shape (m, k)
        Every query row, e.g. ``model.user_factors_``; used in place when C-contiguous
        and of the item factors' dtype.
    item_factors : array_like of shape (n_items, k)
        As for :func:`recommend`.
    item_bias : array_like of shape (n_items,), optional
        As for :func:`recommend`.
    n : int, default=10
        As for :func:`recommend`: at most the number of items (a larger ``n`` returns
        that many).
    exclude : scipy.sparse matrix of shape (m, n_items), optional
        Items never to return for a row (its stored entries), typically the training
        matrix.  CSR is sliced without copying the whole matrix; other formats are
        converted once.
    user_bias : array_like of shape (m,), optional
        Per-row constant added to the returned scores.
    batch_size : int, optional
        Rows per batch (default 16,384).
    out : tuple (ids, scores), optional
        Output arrays of shapes (m, min(n, n_items)), dtypes int64 and the dtype of the
        scores (float32 if ``item_factors`` is float32, else float64), C-contiguous and
        writeable.
    num_threads : int or None, default=None
        OpenMP threads (see ``fastmf._threads.effective_n_threads``).
    link : callable, optional
        Applied to each batch's kept scores (e.g. a sigmoid); padding stays ``-inf``.

    Returns
    -------
    ids : ndarray of int64, shape (m, min(n, n_items))
        The array of ``out`` (or a new one), filled as :func:`recommend` would.
    scores : ndarray, same shape
        Likewise.

    Raises
    ------
    ValueError
        Shapes that do not match, non-finite values, ``n < 1`` or ``batch_size < 1``, or
        an ``out`` of the wrong shape, dtype or layout.
    TypeError
        Non-numeric arrays, ``exclude`` that is not a sparse matrix, or ``out`` that is
        not a tuple of two arrays.
    FloatingPointError
        A score overflowed (factors far too large for the dtype).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmf.recommend import recommend_all
    >>> item_factors = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    >>> users = np.array([[1.0, 0.2], [0.0, 2.0], [1.0, 1.0]])
    >>> ids, scores = recommend_all(users, item_factors, n=2, batch_size=2)
    >>> ids
    array([[0, 2],
           [1, 2],
           [2, 0]])
    """
    items_mat = check_matrix("item_factors", item_factors)
    dtype = items_mat.dtype
    P = np.asarray(user_factors)
    if P.ndim != 2 or P.shape[1] != items_mat.shape[1]:
        raise ValueError(f"user_factors must have shape (m, {items_mat.shape[1]}), got "
                         f"{P.shape}")
    m, n_items = P.shape[0], items_mat.shape[0]
    n = min(check_int("n", n, low=1), n_items)   # no row can hold more: never allocate more
    ibias = (np.zeros(n_items, dtype=dtype) if item_bias is None
             else check_vector("item_bias", item_bias, n_items, dtype))
    qbias = (np.zeros(m, dtype=dtype) if user_bias is None
             else check_vector("user_bias", user_bias, m, dtype))
    if exclude is not None:
        if not sp.issparse(exclude):
            raise TypeError("exclude must be a scipy.sparse matrix (rows x items), got "
                            f"{type(exclude).__name__}")
        if exclude.shape != (m, n_items):
            raise ValueError(f"exclude must have shape ({m}, {n_items}) (query rows x "
                             f"items), got {exclude.shape}")
        exclude = exclude if exclude.format == "csr" else sp.csr_matrix(exclude)
    batch = _ALL_USERS_BATCH if batch_size is None else check_int("batch_size", batch_size,
                                                                  low=1)
    ids, scores = check_out(out, m, n, dtype)
    if n == 0:
        return ids, scores
    cand = np.arange(n_items, dtype=np.int64)
    n_threads = effective_n_threads(num_threads)
    for start in range(0, m, batch):
        stop = min(start + batch, m)
        queries = check_matrix("user_factors", P[start:stop], dtype)
        rows = None if exclude is None else exclude[start:stop]
        indptr, indices = check_exclusion(rows, stop - start, n_items)
        threads = threads_for(n_threads, (stop - start) * n_items * (items_mat.shape[1] + 1))
        batch_ids, batch_scores = ids[start:stop], scores[start:stop]
        with single_threaded_blas():
            top_n(queries, items_mat, ibias, qbias[start:stop], cand, indptr, indices,
                  np.full(stop - start, -1, dtype=np.int64), n, threads,
                  out=(batch_ids, batch_scores))
        if link is not None:
            kept = batch_ids >= 0
            batch_scores[kept] = link(batch_scores[kept])
    return ids, scores


def similar(
    query_ids: ArrayLike,
    factors: ArrayLike,
    n: int = 10,
    num_threads: int | None = None,
) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
    r"""The ``n`` rows of ``factors`` most cosine-similar to each query row.

    :math:`\cos(a, b) = a \cdot b / (\lVert a \rVert \lVert b \rVert)`.  A row of zeros has
    similarity 0 to everything (no NaN), so it ties with every other zero-similarity row.
    The query itself is never returned.

    Parameters
    ----------
    query_ids : array_like of int, shape (m,)
        Rows of ``factors`` to find neighbours for (e.g. item ids with
        ``model.item_factors_``, or user ids with ``model.user_factors_``).
    factors : array_like of shape (n_rows, k)
        One row per item (or user).
    n : int, default=10
        Neighbours per query (>= 1); at most the number of rows.
    num_threads : int or None, default=None
        OpenMP threads.

    Returns
    -------
    ids : ndarray of int64, shape (m, min(n, n_rows))
        Neighbour ids, most similar first, equal similarities by lower id; ``-1`` padding
        when fewer than ``n`` other rows exist.
    scores : ndarray, same shape
        Cosine similarities, ``-inf`` for padding.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmf.recommend import similar
    >>> factors = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])
    >>> ids, sims = similar([0], factors, n=2)
    >>> ids, np.round(sims, 3)
    (array([[1, 2]]), array([[0.999, 0.   ]]))
    """
    mat = check_matrix("factors", factors)
    q = check_ids("query_ids", query_ids, mat.shape[0])
    n = check_int("n", n, low=1)
    norms = np.sqrt(np.einsum("ij,ij->i", mat, mat, dtype=np.float64))
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = np.ascontiguousarray(mat * scale[:, None].astype(mat.dtype))
    return recommend(unit[q], unit, n=n, num_threads=num_threads, exclude_ids=q)
