"""SGD solver driver: lays the ratings out in conflict-free blocks and runs the kernel.

See ``src_cython/sgd.pyx`` for the parallel scheme.  This module owns the block layout
(built once per fit) and the epoch loop with its divergence checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._dispatch import kernel
from ._hardware import caches
from ._kernels import layout as _layout_kernel
from ._validation import Ratings

logger = logging.getLogger("fastmf")

# Below this many blocks per side the layout would depend on the thread count (B must be
# at least 2 per thread); 8 keeps it, hence the result, the same for 1 to 4 threads.
_MIN_BLOCKS = 8
_MAX_BLOCKS = 64
# The item rows of the two groups that two threads walk at once, plus the user rows they
# stream, should stay in the last-level cache: an item group gets a quarter of it.
_ITEM_GROUP_SHARE_OF_LLC = 4
# An epoch gets one thread per this many multiply-adds (ratings x factors): a smaller
# epoch (100,000 ratings at k=32 takes about a millisecond) gains nothing from a second
# thread and loses the threads' start-up and waits, several times over on a busy
# machine.  The result does not depend on the thread count, so this only affects speed.
_EPOCH_WORK_PER_THREAD = 4_000_000


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or parameter (the learning rate is too high).

    The model is left as it was before the call.

    Examples
    --------
    >>> import fastmf
    >>> from fastmf.datasets import make_ratings
    >>> model = fastmf.MatrixFactorization(4, learning_rate=50.0, epochs=3)
    >>> try:
    ...     model.fit(make_ratings(100, 50, 1_000, seed=0))
    ... except fastmf.DivergenceError as exc:
    ...     print("diverged in epoch 1" in str(exc), hasattr(model, "user_factors_"))
    True False
    """


@dataclass(frozen=True)
class BlockedRatings:
    """Ratings laid out for the SGD kernel, in renumbered ids.

    User ``u`` of the caller is row ``user_new[u]`` of the kernel's factor matrices and
    ``user_order`` is the inverse map (likewise for items).  Block (r, c) of the B x B grid
    occupies positions ``block_ptr[r*B + c] : block_ptr[r*B + c + 1]``, sorted by (user,
    item); user group r is the contiguous range of new ids ``[ceil(r n / B), ceil((r + 1)
    n / B))``, so the rows a block touches are one slice of each factor matrix.
    """

    users: np.ndarray       # int32 new user ids, block order
    items: np.ndarray       # int32 new item ids, block order
    values: np.ndarray      # model dtype, block order
    block_ptr: np.ndarray   # int64, B*B + 1
    n_blocks: int
    user_order: np.ndarray  # int32 (n_users,): original id of each new user id
    item_order: np.ndarray  # int32 (n_items,): original id of each new item id


def choose_blocks(n_users: int, n_items: int, factors: int, itemsize: int,
                  n_threads: int) -> int:
    """Grid size B: at least 8 (so the layout, hence the result, is the same for 1 to 4
    threads) and 2 per thread; more when an item group would fill more than a quarter of
    the last-level cache; never more groups than users or items.

    Once the rows of one group are contiguous in memory (see :class:`BlockedRatings`),
    fewer, larger blocks are faster: each user row is fetched once per block in which the
    user has ratings, and the item rows the walk jumps between are prefetched a few
    ratings ahead.  On synth 10M (k=32, one thread) B = 4, 8 and 16 gave 103, 106 and 90M
    updates/s, where the cache-sized item groups of 256 KiB used before (B = 25) were
    slower still.
    """
    share = caches().l3 // _ITEM_GROUP_SHARE_OF_LLC
    cache_groups = -(-n_items * factors * itemsize // max(share, 1))
    b = max(_MIN_BLOCKS, 2 * n_threads, cache_groups)
    return int(max(1, min(b, _MAX_BLOCKS, n_users, n_items)))


def _renumbering(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(order, new)``: a random permutation of range(n) (new id -> id) and its inverse."""
    order = rng.permutation(n).astype(np.int32)
    new = np.empty(n, dtype=np.int32)
    new[order] = np.arange(n, dtype=np.int32)
    return order, new


def block_layout(data: Ratings, n_blocks: int, rng: np.random.Generator,
                 n_threads: int = 1) -> BlockedRatings:
    """Renumber users and items at random and lay the ratings out in the B x B grid
    (counting sorts, no full-length sort key; see ``src_cython/layout.pyx``).  The result
    depends on the ratings and ``rng`` only, not on their order or ``n_threads``.  Raises
    ValueError on a duplicate (user, item) pair."""
    B = n_blocks
    user_order, user_new = _renumbering(data.n_users, rng)
    item_order, item_new = _renumbering(data.n_items, rng)
    nnz = data.nnz
    users = np.empty(nnz, dtype=np.int32)
    items = np.empty(nnz, dtype=np.int32)
    values = np.empty(nnz, dtype=data.values.dtype)
    block_ptr = np.empty(B * B + 1, dtype=np.int64)
    status, pos = _layout_kernel.sgd_blocks(
        data.users, data.items, data.values, user_new, item_new, B, users, items, values,
        block_ptr, max(1, n_threads))
    if status == _layout_kernel.STATUS["nomem"]:
        raise MemoryError("the SGD block layout could not allocate its scratch buffers")
    if status == _layout_kernel.STATUS["duplicate"]:
        raise ValueError(
            f"X contains more than one rating for (user {user_order[users[pos]]}, item "
            f"{item_order[items[pos]]}); aggregate duplicates (for example average them) "
            "before fitting"
        )
    return BlockedRatings(users=users, items=items, values=values, block_ptr=block_ptr,
                          n_blocks=B, user_order=user_order, item_order=item_order)


@dataclass
class SGDState:
    """Everything one SGD epoch reads and writes, besides the data.  The arrays are in
    the layout's renumbered order (see :func:`start` and :func:`write_back`)."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_bias: float
    rng_state: np.ndarray   # uint64[1], the kernel's SplitMix64 stream


@dataclass(frozen=True)
class SGDSettings:
    """The hyperparameters an SGD epoch takes (see MatrixFactorization for their meaning);
    ``fastmf._params.Params.sgd_settings`` makes them from the checked parameters."""

    learning_rate: float
    l2: float
    l2_bias: float
    biases: bool
    loss_code: int          # the kernel's code of the loss (_loss_table.LOSSES)
    negatives: int = 1      # softmax: negatives per user and block
    temperature: float = 1.0    # softmax: tau
    unit_rows: bool = False     # the model's factor rows are the trained ones scaled to
                                # unit norm (the working copy keeps its norms)

    def kernel_settings(self, global_bias: float) -> dict[str, float | int | bool]:
        """The scalar arguments of the kernel's ``sgd_epoch`` (its ``EpochSettings``)."""
        return {"mu": global_bias, "learning_rate": self.learning_rate, "l2": self.l2,
                "l2_bias": self.l2_bias, "biases": self.biases, "loss_code": self.loss_code}


def epoch(blocked: BlockedRatings, state: SGDState, settings: SGDSettings, *,
          n_threads: int, number: int = 1) -> float:
    """Run one epoch in place; returns its mean training loss.

    Raises DivergenceError if the epoch meets a non-finite loss or leaves a non-finite
    parameter behind (``number`` only labels the message).
    """
    sgd = kernel("sgd")
    loss_sum, status = sgd.sgd_epoch(
        blocked.users, blocked.items, blocked.values, blocked.block_ptr, blocked.n_blocks,
        state.user_factors, state.item_factors, state.user_bias, state.item_bias,
        settings.kernel_settings(state.global_bias), state.rng_state, n_threads,
        settings.negatives, settings.temperature,
    )
    if status != sgd.STATUS["ok"] or not _all_finite(state):
        raise DivergenceError(
            f"SGD diverged in epoch {number}: the training loss or a parameter became "
            f"non-finite with learning_rate={settings.learning_rate}. Lower the learning "
            "rate (and check that the ratings are on a moderate scale)."
        )
    loss = loss_sum / blocked.values.shape[0]
    logger.debug("sgd epoch %d: training loss %.6g", number, loss)
    return loss


def start(blocked: BlockedRatings, arrays: list[np.ndarray], global_bias: float,
          rng_state: np.ndarray) -> SGDState:
    """The kernel's working copy of the model ``arrays`` (user factors, item factors,
    user biases, item biases, in the caller's ids), rows in the layout's order."""
    pu, qi, bu, bi = arrays
    u, i = blocked.user_order, blocked.item_order
    return SGDState(pu[u], qi[i], bu[u], bi[i], global_bias, rng_state)


def write_back(blocked: BlockedRatings, state: SGDState, arrays: list[np.ndarray], *,
               unit_rows: bool = False) -> None:
    """Copy the working parameters into the model ``arrays`` (the caller's ids), with
    ``unit_rows`` each non-zero factor row scaled to unit norm."""
    pu, qi, bu, bi = arrays
    u, i = blocked.user_order, blocked.item_order
    pu[u] = state.user_factors
    qi[i] = state.item_factors
    bu[u] = state.user_bias
    bi[i] = state.item_bias
    if unit_rows:
        _unit_rows(pu)
        _unit_rows(qi)


class Training:
    """SGD epochs on a working copy of the model in the layout's order.

    The copy is made at the first epoch (by then the caller may have dropped the input
    triples, so the two never coexist) and written back to the model ``arrays`` by
    :meth:`sync`, which the epoch loop calls whenever something may read the model
    between epochs and once at the end.  ``n_threads`` is the most threads an epoch
    gets: a small epoch runs on fewer (see ``_EPOCH_WORK_PER_THREAD``).
    """

    def __init__(self, blocked: BlockedRatings, arrays: list[np.ndarray], global_bias: float,
                 rng_state: np.ndarray, settings: SGDSettings, *, n_threads: int) -> None:
        self._blocked = blocked
        self._arrays = arrays
        self._global_bias = global_bias
        self._rng_state = rng_state
        self._settings = settings
        work = blocked.values.shape[0] * max(arrays[0].shape[1], 1)
        self.n_threads = max(1, min(n_threads, work // _EPOCH_WORK_PER_THREAD))
        self._state: SGDState | None = None
        self._dirty = False

    def __call__(self, number: int) -> float:
        """Run epoch ``number``; returns its mean training loss."""
        if self._state is None:
            self._state = start(self._blocked, self._arrays, self._global_bias,
                                self._rng_state)
        self._dirty = True
        return epoch(self._blocked, self._state, self._settings, n_threads=self.n_threads,
                     number=number)

    def sync(self) -> None:
        """Write the working copy back to the model arrays (if it changed since)."""
        if self._dirty and self._state is not None:
            write_back(self._blocked, self._state, self._arrays,
                       unit_rows=self._settings.unit_rows)
            self._dirty = False


def _all_finite(state: SGDState) -> bool:
    return all(
        np.isfinite(a).all()
        for a in (state.user_factors, state.item_factors, state.user_bias, state.item_bias)
    )


def _unit_rows(factors: np.ndarray) -> None:
    """Scale every non-zero row to unit norm, in place (a cosine loss does not see the
    norms; unit rows make the model's dot products those cosines).  Non-finite rows are
    left as they are."""
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", factors, factors, dtype=np.float64))
    nonzero = norms > 0
    factors[nonzero] /= norms[nonzero, None].astype(factors.dtype)
