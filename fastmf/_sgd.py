"""SGD solver driver: lays the ratings out in conflict-free blocks and runs the kernel.

See ``src_cython/sgd.pyx`` for the parallel scheme.  This module owns the block layout
(built once per fit) and the epoch loop with its divergence checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._dispatch import kernel
from ._validation import Ratings, find_duplicate

logger = logging.getLogger("fastmf")

# Item rows of one item group should stay in a core's cache while a block runs.
_ITEM_GROUP_BYTES = 256 * 1024
_MAX_BLOCKS = 64


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
    """Ratings reordered for the SGD kernel: block (r, c) of the B x B grid occupies
    positions ``block_ptr[r*B + c] : block_ptr[r*B + c + 1]``, sorted by user."""

    users: np.ndarray       # int32, block order
    items: np.ndarray       # int32, block order
    values: np.ndarray      # model dtype, block order
    block_ptr: np.ndarray   # int64, B*B + 1
    n_blocks: int


def choose_blocks(n_users: int, n_items: int, factors: int, itemsize: int,
                  n_threads: int) -> int:
    """Grid size B: enough blocks per stratum to balance ``n_threads`` threads (and at
    least 8, so the layout, hence the result, is the same for 1 to 4 threads), item
    groups small enough to stay in cache, and no more groups than users or items."""
    cache_groups = -(-n_items * factors * itemsize // _ITEM_GROUP_BYTES)
    b = max(8, 2 * n_threads, cache_groups)
    return int(max(1, min(b, _MAX_BLOCKS, n_users, n_items)))


def block_layout(data: Ratings, n_blocks: int, rng: np.random.Generator) -> BlockedRatings:
    """Reorder the ratings into the B x B grid (random user and item groups), each block
    sorted by a random user order; raises ValueError on a duplicate (user, item) pair."""
    B = n_blocks
    user_group = rng.permutation(data.n_users) % B
    item_group = rng.permutation(data.n_items) % B
    user_rank = rng.permutation(data.n_users)
    users, items = data.users, data.items
    # One sort on (block, user rank, item): blocks contiguous, each user's ratings
    # consecutive within a block, duplicates adjacent.  Keys of distinct ratings are
    # distinct, so the result does not depend on the input order.  The key is built in
    # place in one int64 array (the layout's only temporary besides the sort's order).
    if B * B * data.n_users * data.n_items < 2**62:
        key = user_group[users]
        key *= B
        key += item_group[items]
        key *= data.n_users
        key += user_rank[users]
        key *= data.n_items
        key += items
        perm = np.argsort(key)
        del key
    else:
        perm = np.lexsort((items, user_rank[users], user_group[users] * B
                           + item_group[items]))
    users, items, values = users[perm], items[perm], data.values[perm]
    del perm
    dup = find_duplicate(users, items)
    if dup is not None:
        raise ValueError(
            f"X contains more than one rating for (user {dup[0]}, item {dup[1]}); "
            "aggregate duplicates (for example average them) before fitting"
        )
    counts = np.bincount(user_group[users] * B + item_group[items], minlength=B * B)
    block_ptr = np.zeros(B * B + 1, dtype=np.int64)
    np.cumsum(counts, out=block_ptr[1:])
    return BlockedRatings(users=users, items=items, values=values, block_ptr=block_ptr,
                          n_blocks=B)


@dataclass
class SGDState:
    """Everything one SGD epoch reads and writes, besides the data."""

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
        state.global_bias, settings.learning_rate, settings.l2, settings.l2_bias,
        settings.biases, settings.loss_code, state.rng_state, n_threads,
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


def run_epochs(blocked: BlockedRatings, state: SGDState, settings: SGDSettings, *,
               epochs: int, n_threads: int) -> list[float]:
    """Run ``epochs`` epochs in place; returns the mean training loss of each."""
    return [epoch(blocked, state, settings, n_threads=n_threads, number=e + 1)
            for e in range(epochs)]


def _all_finite(state: SGDState) -> bool:
    return all(
        np.isfinite(a).all()
        for a in (state.user_factors, state.item_factors, state.user_bias, state.item_bias)
    )
