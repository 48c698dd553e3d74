"""Using a trained factor model: top-n recommendation, similar items and fold-in.

Every function here works on plain arrays (factor matrices and bias vectors), so it serves
any model that stores them.  Ranking runs in the ``fastmf._kernels.topk`` kernel: query rows
are scored a tile at a time and the best ``n`` per row are kept by partial selection, so no
rows x items score matrix is ever built.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._dispatch import kernel
from ._hardware import caches
from ._threads import effective_n_threads, single_threaded_blas, threads_for
from ._validation import _binary_labels, check_choice, check_float, check_ids, check_int

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike, DTypeLike

    from ._typing import FloatArray, SparseMatrix

__all__ = ["fold_in", "recommend", "recommend_all", "similar"]


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------


def _float_dtype(a: np.ndarray) -> np.dtype:
    """float32 stays float32; every other real dtype is computed in float64."""
    return np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)


def _check_matrix(name: str, a: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """A finite 2-D real array as a C-contiguous array of ``dtype`` (a copy only if needed)."""
    if sp.issparse(a):
        raise TypeError(f"{name} must be a dense 2-D array, got a sparse matrix")
    arr = np.asarray(a)
    if arr.ndim != 2:
        hint = " (use .reshape(1, -1) for a single row)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be two-dimensional, got shape {arr.shape}{hint}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    dtype = _float_dtype(arr) if dtype is None else dtype
    with np.errstate(over="ignore"):           # reported below
        arr = np.require(arr, dtype=dtype, requirements=["C", "A"])    # the kernels need both
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (or values beyond "
                         f"the range of {np.dtype(dtype).name})")
    return arr


def _check_vector(name: str, a: Any, length: int, dtype: DTypeLike) -> np.ndarray:
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


def _check_n(n: Any) -> int:
    return check_int("n", n, low=1)


def _exclusion_csr(exclude: Any, n_rows: int, n_items: int,
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


def tile_sizes(factors: int, itemsize: int) -> tuple[int, int]:
    """``(row_tile, item_tile)`` of the top-n kernel, from the L2 size: the item rows of
    one GEMM take an eighth of it and the score tile half, so the scores are still in L2
    when the selection reads them.  Larger row tiles also mean fewer repackings of the
    item tile by the GEMM: on synth 1M (k=64, L2 1 MiB) 256 x 512 tiles took all users'
    top 10 from 0.23 s (64 x 1024) to 0.19 s."""
    l2 = caches().l2
    item_tile = min(max(l2 // 8 // max(factors * itemsize, 1), 128), 8192)
    item_tile -= item_tile % 32             # whole panels of the kernel's score blocks
    row_tile = min(max(l2 // 2 // (item_tile * itemsize), 16), 512)
    return row_tile, item_tile


# A kernel call holds no GIL and cannot be interrupted, so a large request is cut into
# calls of about this many multiply-adds per thread (0.1 s or less at the kernel's speed),
# and Ctrl-C lands between two of them.  Calls start at multiples of the kernel's row tile
# (tile_sizes), so every tile is computed as in a single call; the kernel's scores do not
# depend on the tiling either (fastmf_tile.h), so the result is bit-identical to one call.
_CALL_WORK = 1 << 31


def _run_topk(queries: np.ndarray, items: np.ndarray, item_bias: np.ndarray,
              query_bias: np.ndarray, item_ids: np.ndarray, excl_indptr: np.ndarray,
              excl_indices: np.ndarray, excl_self: np.ndarray, n: int, n_threads: int,
              out: tuple[np.ndarray, np.ndarray] | None = None,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Call the kernel on validated arrays (BLAS must already be single-threaded); the
    result goes into ``out`` (C-contiguous int64 ids and scores of shape (m, n)) when
    given."""
    m = queries.shape[0]
    if out is None:
        ids = np.empty((m, n), dtype=np.int64)
        scores = np.empty((m, n), dtype=queries.dtype)
    else:
        ids, scores = out
    row_tile, item_tile = tile_sizes(queries.shape[1], queries.dtype.itemsize)
    topk = kernel("topk").topk
    per_row = max(1, items.shape[0] * (queries.shape[1] + 1))
    step = max(1, _CALL_WORK * n_threads // per_row // row_tile) * row_tile
    for r0 in range(0, m, step):
        r1 = min(m, r0 + step)
        # the exclusion row pointers stay absolute offsets into excl_indices
        status = topk(queries[r0:r1], items, item_bias, query_bias[r0:r1], item_ids,
                      excl_indptr[r0:r1 + 1], excl_indices, excl_self[r0:r1], ids[r0:r1],
                      scores[r0:r1], row_tile, item_tile, n_threads)
        if status:
            raise MemoryError("topk: could not allocate per-thread scratch buffers")
    if not np.isfinite(scores[ids >= 0]).all():
        raise FloatingPointError(
            f"scores overflowed {scores.dtype.name} (factors of magnitude "
            f"{max(np.abs(queries).max(), np.abs(items).max()):.3g}): the model's "
            "parameters are too large to rank with")
    return ids, scores


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
    items_mat = _check_matrix("item_factors", item_factors)
    dtype = items_mat.dtype
    queries = _check_matrix("user_vectors", user_vectors, dtype)
    n_items, k = items_mat.shape
    m = queries.shape[0]
    if queries.shape[1] != k:
        raise ValueError(
            f"user_vectors has {queries.shape[1]} columns but item_factors has {k}: both "
            "must hold the same number of factors"
        )
    n = _check_n(n)
    if item_bias is None:
        ibias = np.zeros(n_items, dtype=dtype)
    else:
        ibias = _check_vector("item_bias", item_bias, n_items, dtype)
    if user_bias is None:
        qbias = np.zeros(m, dtype=dtype)
    else:
        qbias = _check_vector("user_bias", user_bias, m, dtype)
    indptr, indices = _exclusion_csr(exclude, m, n_items)
    if exclude_ids is None:
        self_ids = np.full(m, -1, dtype=np.int64)
    else:
        self_ids = _check_exclude_ids(exclude_ids, m, n_items)
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
        return _run_topk(queries, cand_mat, cand_bias, qbias, cand, indptr, indices,
                         self_ids, n, n_threads)


# Rows per batch of recommend_all: large enough that every thread gets many row tiles,
# small enough that a batch's checks and exclusion rows stay a few megabytes.
_ALL_USERS_BATCH = 16_384


def _check_out(out: Any, m: int, n: int, dtype: np.dtype[Any],
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
    items_mat = _check_matrix("item_factors", item_factors)
    dtype = items_mat.dtype
    P = np.asarray(user_factors)
    if P.ndim != 2 or P.shape[1] != items_mat.shape[1]:
        raise ValueError(f"user_factors must have shape (m, {items_mat.shape[1]}), got "
                         f"{P.shape}")
    m, n_items = P.shape[0], items_mat.shape[0]
    n = min(_check_n(n), n_items)       # no row can hold more: never allocate beyond that
    ibias = (np.zeros(n_items, dtype=dtype) if item_bias is None
             else _check_vector("item_bias", item_bias, n_items, dtype))
    qbias = (np.zeros(m, dtype=dtype) if user_bias is None
             else _check_vector("user_bias", user_bias, m, dtype))
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
    ids, scores = _check_out(out, m, n, dtype)
    if n == 0:
        return ids, scores
    cand = np.arange(n_items, dtype=np.int64)
    n_threads = effective_n_threads(num_threads)
    for start in range(0, m, batch):
        stop = min(start + batch, m)
        queries = _check_matrix("user_factors", P[start:stop], dtype)
        rows = None if exclude is None else exclude[start:stop]
        indptr, indices = _exclusion_csr(rows, stop - start, n_items)
        threads = threads_for(n_threads, (stop - start) * n_items * (items_mat.shape[1] + 1))
        batch_ids, batch_scores = ids[start:stop], scores[start:stop]
        with single_threaded_blas():
            _run_topk(queries, items_mat, ibias, qbias[start:stop], cand, indptr, indices,
                      np.full(stop - start, -1, dtype=np.int64), n, threads,
                      out=(batch_ids, batch_scores))
        if link is not None:
            kept = batch_ids >= 0
            batch_scores[kept] = link(batch_scores[kept])
    return ids, scores


def _check_exclude_ids(exclude_ids: ArrayLike, m: int, n_items: int) -> np.ndarray:
    arr = np.asarray(exclude_ids)
    if arr.ndim != 1 or arr.shape[0] != m:
        raise ValueError(f"exclude_ids must have shape ({m},), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"exclude_ids must hold integer ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (int(arr.min()) < -1 or int(arr.max()) >= n_items):
        raise ValueError(f"exclude_ids must lie in [-1, {n_items}) (-1 means none)")
    return arr


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
    mat = _check_matrix("factors", factors)
    q = check_ids("query_ids", query_ids, mat.shape[0])
    n = _check_n(n)
    norms = np.sqrt(np.einsum("ij,ij->i", mat, mat, dtype=np.float64))
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = np.ascontiguousarray(mat * scale[:, None].astype(mat.dtype))
    return recommend(unit[q], unit, n=n, num_threads=num_threads, exclude_ids=q)


# ---------------------------------------------------------------------------
# fold-in
# ---------------------------------------------------------------------------

# Users per batched solve; bounds the (nnz, d, d) outer-product scratch.
_FOLD_IN_SCRATCH = 1 << 22


# Overflow on hostile input (huge ratings or factors, tiny l2) is not warned about
# midway: the result is checked at the end and reported as one FloatingPointError.
@np.errstate(over="ignore", invalid="ignore")
def fold_in(
    X_rows: SparseMatrix,
    item_factors: ArrayLike,
    item_bias: ArrayLike | None = None,
    global_bias: float = 0.0,
    l2: float = 0.02,
    l2_bias: float | None = None,
    loss: str = "squared",
    biases: bool = True,
    newton_steps: int = 25,
) -> tuple[FloatArray, FloatArray]:
    r"""Factors and bias of new users from their ratings, with the items held fixed.

    For each row :math:`u` of ``X_rows`` with ratings :math:`y_{ui}` on items
    :math:`i \in I_u`, write :math:`x_i = [q_i, 1]` and :math:`w = [p_u, b_u]`, so the score
    is :math:`s_{ui} = \mu + b_i + x_i \cdot w`.  The result minimises

    .. math::
        \sum_{i \in I_u} \ell(y_{ui}, s_{ui}) + \tfrac12 \lambda \lVert p_u \rVert^2
        + \tfrac12 \lambda_b b_u^2

    * ``loss="squared"``: :math:`\ell = \tfrac12 (y - s)^2`; the minimiser is the exact
      solution of :math:`(X_u^T X_u + \Lambda) w = X_u^T (y_u - \mu - b)`.
    * ``loss="logistic"``: :math:`\ell = \log(1 + e^s) - y s` with :math:`y \in \{0, 1\}`
      (``{-1, +1}`` is accepted and mapped); minimised by Newton's method with step halving
      from :math:`w = 0`.

    Parameters
    ----------
    X_rows : scipy.sparse matrix of shape (n_new, n_items)
        One row per new user; every stored entry is a rating (explicit zeros included).
    item_factors : array_like of shape (n_items, k)
        The fixed item factors.
    item_bias : array_like of shape (n_items,), optional
        :math:`b_i` (zeros if omitted).
    global_bias : float, default=0.0
        :math:`\mu`.
    l2 : float, default=0.02
        :math:`\lambda`, >= 0.
    l2_bias : float, optional
        :math:`\lambda_b`, >= 0; ``None`` uses ``l2``.
    loss : {"squared", "logistic"}, default="squared"
        The per-rating loss :math:`\ell`.
    biases : bool, default=True
        Solve for :math:`b_u`; if False it is fixed at 0 and only :math:`p_u` is solved.
    newton_steps : int, default=25
        Maximum Newton iterations for the logistic loss (it stops earlier once every
        user's Newton decrement is below 1e-20 times the objective).

    Returns
    -------
    user_factors : ndarray of shape (n_new, k)
    user_bias : ndarray of shape (n_new,)
        In the dtype of ``item_factors`` (float32 or float64).  Rows with no ratings get
        zeros.  With ``l2 = 0`` and too few ratings to determine :math:`w`, the
        minimum-norm least-squares solution is returned.

    Raises
    ------
    FloatingPointError
        The solution does not fit the dtype (huge ratings or factors, tiny ``l2``).

    Examples
    --------
    Without a penalty and with enough ratings, the exact factors of a user whose ratings
    the items explain perfectly are recovered:

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from fastmf.recommend import fold_in
    >>> item_factors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]])
    >>> ratings = item_factors @ np.array([0.5, -1.0]) + 0.25    # p_u = (0.5, -1), b_u = 0.25
    >>> X = sp.csr_matrix(ratings[None, :])
    >>> factors, bias = fold_in(X, item_factors, l2=0.0)
    >>> np.round(factors, 6), np.round(bias, 6)
    (array([[ 0.5, -1. ]]), array([0.25]))
    """
    items_mat = _check_matrix("item_factors", item_factors)
    dtype = items_mat.dtype
    n_items, k = items_mat.shape
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
             else _check_vector("item_bias", item_bias, n_items, np.float64))
    if isinstance(global_bias, bool) or not isinstance(global_bias, numbers.Real) or not (
        np.isfinite(global_bias)
    ):
        raise ValueError(f"global_bias must be a finite real number, got {global_bias!r}")
    l2 = check_float("l2", l2)
    l2_bias = l2 if l2_bias is None else check_float("l2_bias", l2_bias)
    check_choice("loss", loss, ("squared", "logistic"))
    if not isinstance(biases, bool | np.bool_):
        raise TypeError(f"biases must be a bool, got {biases!r}")
    newton_steps = check_int("newton_steps", newton_steps, low=1)

    coo = X_rows.tocoo()
    if coo.data.dtype.kind not in "biuf":
        raise TypeError(f"X_rows must hold real ratings, got dtype {coo.data.dtype}")
    n_new = X_rows.shape[0]
    order = np.lexsort((coo.col, coo.row))
    rows = coo.row[order].astype(np.int64)
    cols = coo.col[order].astype(np.int64)
    y = np.asarray(coo.data[order], dtype=np.float64)
    if y.size and not np.all(np.isfinite(y)):
        raise ValueError("X_rows contains NaN or infinite ratings")
    if loss == "logistic" and y.size:
        y = _binary_labels(y)

    d = k + 1 if biases else k
    feats = items_mat.astype(np.float64)
    penalty = np.full(d, l2)
    if biases:
        penalty[k] = l2_bias
    w = np.zeros((n_new, d))
    counts = np.bincount(rows, minlength=n_new)
    offset = float(global_bias) + ibias            # mu + b_i, per item
    users = np.flatnonzero(counts)
    starts = np.concatenate(([0], np.cumsum(counts)))
    # Batches of whole users so that the (nnz, d, d) outer products stay bounded.
    batch_nnz = max(1, _FOLD_IN_SCRATCH // (d * d))
    b0 = 0
    while b0 < users.size:
        b1 = b0 + 1
        while b1 < users.size and starts[users[b1] + 1] - starts[users[b0]] <= batch_nnz:
            b1 += 1
        batch = users[b0:b1]
        lo, hi = starts[batch[0]], starts[batch[-1] + 1]
        x = feats[cols[lo:hi]]
        if biases:
            x = np.hstack([x, np.ones((hi - lo, 1))])
        seg = starts[batch] - lo                     # segment starts within the batch
        target = y[lo:hi] - offset[cols[lo:hi]]
        if loss == "squared":
            w[batch] = _squared_solve(x, target, seg, penalty)
        else:
            w[batch] = _logistic_newton(x, y[lo:hi], offset[cols[lo:hi]], seg, penalty,
                                        newton_steps)
        b0 = b1
    user_factors = np.ascontiguousarray(w[:, :k], dtype=dtype)
    user_bias = (np.ascontiguousarray(w[:, k], dtype=dtype) if biases
                 else np.zeros(n_new, dtype=dtype))
    if not (np.isfinite(user_factors).all() and np.isfinite(user_bias).all()):
        raise FloatingPointError(
            f"fold-in produced values beyond the range of {np.dtype(dtype).name}: the "
            "ratings or factors are too large for it (or l2 is tiny)")
    return user_factors, user_bias


def _solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched solve of a[j] w[j] = b[j]; singular systems get the minimum-norm solution."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(aj, bj, rcond=None)[0] for aj, bj in zip(a, b,
                                                                                  strict=True)])


def _squared_solve(x: np.ndarray, target: np.ndarray, seg: np.ndarray,
                   penalty: np.ndarray) -> np.ndarray:
    """(X_u^T X_u + diag(penalty)) w_u = X_u^T target_u for each user segment."""
    gram = np.add.reduceat(np.einsum("ni,nj->nij", x, x), seg, axis=0)
    gram += np.diag(penalty)
    rhs = np.add.reduceat(x * target[:, None], seg, axis=0)
    return _solve_spd(gram, rhs)


def _logistic_objective(x: np.ndarray, y: np.ndarray, offset: np.ndarray, seg: np.ndarray,
                        penalty: np.ndarray, w_rows: np.ndarray, w: np.ndarray,
                        ) -> np.ndarray:
    s = offset + np.einsum("ni,ni->n", x, w_rows)
    per = np.logaddexp(0.0, s) - y * s
    return np.asarray(np.add.reduceat(per, seg) + 0.5 * np.einsum("ui,i,ui->u", w, penalty, w))


def _logistic_newton(x: np.ndarray, y: np.ndarray, offset: np.ndarray, seg: np.ndarray,
                     penalty: np.ndarray, steps: int) -> np.ndarray:
    """Newton's method with step halving on each user's penalised logistic loss."""
    n_users, d = seg.size, x.shape[1]
    lengths = np.diff(np.append(seg, x.shape[0]))
    owner = np.repeat(np.arange(n_users), lengths)
    w = np.zeros((n_users, d))
    obj = _logistic_objective(x, y, offset, seg, penalty, w[owner], w)
    # Stop once the Newton decrement g' H^-1 g (about twice the distance to the optimum in
    # objective) is negligible; eps alone would leave gradients of order 1e-7.
    tol = 1e-20
    for _ in range(steps):
        s = offset + np.einsum("ni,ni->n", x, w[owner])
        p = 0.5 * (1.0 + np.tanh(0.5 * s))           # sigmoid without overflow
        grad = np.add.reduceat(x * (p - y)[:, None], seg, axis=0) + penalty * w
        curv = p * (1.0 - p)
        hess = np.add.reduceat(np.einsum("ni,nj->nij", x * curv[:, None], x), seg, axis=0)
        hess += np.diag(penalty)
        step = _solve_spd(hess, grad)
        decrement = np.einsum("ui,ui->u", grad, step)
        if np.all(decrement <= tol * np.maximum(1.0, np.abs(obj))):
            break
        slack = 1e-12 * np.maximum(1.0, np.abs(obj))
        t = np.ones(n_users)
        pending = np.ones(n_users, dtype=bool)
        for _ in range(30):
            trial = w - t[:, None] * step
            new_obj = _logistic_objective(x, y, offset, seg, penalty, trial[owner], trial)
            # Near the optimum the decrease is below the rounding of the objective's sum;
            # a slack of that size lets the (then quadratically convergent) full step pass.
            accept = pending & (new_obj <= obj + slack)
            w[accept] = trial[accept]
            obj[accept] = new_obj[accept]
            pending &= ~accept
            if not pending.any():
                break
            t[pending] *= 0.5
    return w
