"""The top-n driver: every ranking (``recommend``, ``recommend_all``, ``similar``, the
ranking metrics) reaches the ``fastmf._kernels.topk`` kernel through this module.

It sizes the kernel's tiles from the cache sizes and cuts large requests into calls that
Ctrl-C can fall between, without changing a result: the kernel's scores and ranking do not
depend on the tiling (see ``src_cython/topk.pyx``).  Arguments are checked by the callers
(``fastmf._validation``).
"""

from __future__ import annotations

import numpy as np

from ._dispatch import kernel
from ._hardware import caches


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


def top_n(queries: np.ndarray, items: np.ndarray, item_bias: np.ndarray,
          query_bias: np.ndarray, item_ids: np.ndarray, excl_indptr: np.ndarray,
          excl_indices: np.ndarray, excl_self: np.ndarray, n: int, n_threads: int,
          out: tuple[np.ndarray, np.ndarray] | None = None,
          ) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best of the candidates ``items`` (ids ``item_ids``) for every query row,
    from the kernel, on validated arrays (BLAS must already be single-threaded): the
    result goes into ``out`` (C-contiguous int64 ids and scores of shape (m, n)) when
    given."""
    m = queries.shape[0]
    if out is None:
        ids = np.empty((m, n), dtype=np.int64)
        scores = np.empty((m, n), dtype=queries.dtype)
    else:
        ids, scores = out
    row_tile, item_tile = tile_sizes(queries.shape[1], queries.dtype.itemsize)
    module = kernel("topk")
    per_row = max(1, items.shape[0] * (queries.shape[1] + 1))
    step = max(1, _CALL_WORK * n_threads // per_row // row_tile) * row_tile
    for r0 in range(0, m, step):
        r1 = min(m, r0 + step)
        # the exclusion row pointers stay absolute offsets into excl_indices
        status = module.topk(queries[r0:r1], items, item_bias, query_bias[r0:r1], item_ids,
                             excl_indptr[r0:r1 + 1], excl_indices, excl_self[r0:r1],
                             ids[r0:r1], scores[r0:r1], row_tile, item_tile, n_threads)
        if status != module.STATUS["ok"]:
            raise MemoryError("topk: could not allocate per-thread scratch buffers")
    if not np.isfinite(scores[ids >= 0]).all():
        raise FloatingPointError(
            f"scores overflowed {scores.dtype.name} (factors of magnitude "
            f"{max(np.abs(queries).max(), np.abs(items).max()):.3g}): the model's "
            "parameters are too large to rank with")
    return ids, scores


def pair_counts(queries: np.ndarray, items: np.ndarray, item_bias: np.ndarray,
                item_ids: np.ndarray, excl_indptr: np.ndarray, excl_indices: np.ndarray,
                pos_indptr: np.ndarray, pos_indices: np.ndarray,
                n_threads: int) -> np.ndarray:
    """Per query row, (positives, negatives, wrongly ordered pairs, tied pairs) of the
    kernel's ``pair_counts`` (BLAS must already be single-threaded)."""
    out = np.empty((queries.shape[0], 4), dtype=np.int64)
    module = kernel("topk")
    status = module.pair_counts(queries, items, item_bias, item_ids, excl_indptr,
                                excl_indices, pos_indptr, pos_indices, out, n_threads)
    if status != module.STATUS["ok"]:
        raise MemoryError("pair_counts: could not allocate per-thread scratch buffers")
    return out
