"""Distinct (user, item) pairs drawn from the product of two popularity distributions:
the sampler behind :func:`fastmf.datasets.make_ratings` (steps 1 and 2 of the recipe in
its module docstring)."""

from __future__ import annotations

import math

import numpy as np

# At most 2**_BATCH_BITS pairs are drawn in one sampling round (bounds peak memory).
_BATCH_BITS = 23
# Above this fraction of all possible pairs the equivalent exponential-race sampler is used.
_DENSE_FRACTION = 0.25


def zipf_log_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Normalised log-weights ``log(rank ** -exponent / Z)`` indexed by id.

    The rank of each id is given by a random permutation.
    """
    log_w = -exponent * np.log(np.arange(1, n + 1, dtype=np.float64))
    log_w -= np.log(np.exp(log_w).sum())
    by_id = np.empty(n, dtype=np.float64)
    by_id[rng.permutation(n)] = log_w
    return by_id


class _Sampler:
    """Draw ids from a discrete distribution given by log-weights.

    Inverse-CDF sampling accelerated by a guide table: for a uniform ``r`` the search for
    the first CDF entry above ``r`` starts at the first entry above ``floor(r * n) / n``,
    which is at most a few entries short of the answer.
    """

    def __init__(self, log_weights: np.ndarray) -> None:
        order = np.argsort(-log_weights, kind="stable")
        self._ids = order.astype(np.int64)
        cdf = np.cumsum(np.exp(log_weights[order]))
        cdf /= cdf[-1]
        cdf[-1] = 1.0
        self._cdf = cdf
        self._n = len(cdf)
        grid = np.arange(self._n, dtype=np.float64) / self._n
        self._guide = np.searchsorted(cdf, grid, side="right")

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Return ``size`` ids drawn independently."""
        r = rng.random(size)
        pos = self._guide[(r * self._n).astype(np.intp)]
        behind = np.flatnonzero(self._cdf[pos] <= r)
        while behind.size:
            pos[behind] += 1
            behind = behind[self._cdf[pos[behind]] <= r[behind]]
        return self._ids[pos]


def _distinct_in_draw_order(
    keys: np.ndarray, index_bits: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``keys`` and the position where each first occurs.

    When ``index_bits`` is given, ``keys`` must be non-negative and small enough that
    ``keys << index_bits`` fits in int64, and ``len(keys) <= 2 ** index_bits``; the key
    and the position are then packed into one integer and sorted together.
    """
    if index_bits is None:
        return np.unique(keys, return_index=True)
    packed = keys << index_bits
    packed |= np.arange(keys.size, dtype=np.int64)
    packed.sort()
    sorted_keys = packed >> index_bits
    starts = np.empty(keys.size, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts[1:])
    first = packed[starts]
    first &= (1 << index_bits) - 1
    return sorted_keys[starts], first


def _merge_new(seen: np.ndarray, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split sorted distinct ``uniq`` against sorted distinct ``seen``.

    Returns the mask of the entries of ``uniq`` absent from ``seen`` and the sorted union.
    """
    tagged = np.concatenate((seen << 1, (uniq << 1) | 1))
    tagged.sort()
    sorted_keys = tagged >> 1
    starts = np.empty(tagged.size, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts[1:])
    from_batch = (tagged & 1).astype(bool)
    fresh = starts[from_batch]
    return fresh, sorted_keys[starts]


def _sample_pairs_by_rejection(
    user_log_w: np.ndarray,
    item_log_w: np.ndarray,
    n_ratings: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw pairs i.i.d., drop repeats, and keep the first ``n_ratings`` distinct ones.

    Pairs are encoded as ``user * n_items + item``. The result is not shuffled.
    """
    n_items = len(item_log_w)
    n_pairs = len(user_log_w) * n_items
    user_sampler = _Sampler(user_log_w)
    item_sampler = _Sampler(item_log_w)
    index_bits = _BATCH_BITS if n_pairs <= 1 << (62 - _BATCH_BITS) else None

    seen = np.empty(0, dtype=np.int64)  # sorted distinct keys found so far
    chunks: list[np.ndarray] = []
    n_found = 0
    accept_rate = 1.0
    while n_found < n_ratings:
        need = n_ratings - n_found
        size = int(min(1 << _BATCH_BITS, math.ceil(need / accept_rate * 1.05) + 256))
        keys = user_sampler.draw(rng, size)
        keys *= n_items
        keys += item_sampler.draw(rng, size)

        uniq, first = _distinct_in_draw_order(keys, index_bits)
        del keys
        if seen.size:
            fresh, union = _merge_new(seen, uniq)
            uniq = uniq[fresh]
            first = first[fresh]
        else:
            union = uniq

        accept_rate = max(uniq.size / size, 1e-3)
        if uniq.size > need:
            # keep the distinct pairs that were drawn first
            keep = np.argpartition(first, need - 1)[:need]
            chunks.append(uniq[keep])
            break
        chunks.append(uniq)
        n_found += uniq.size
        seen = union
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def _sample_pairs_by_race(
    user_log_w: np.ndarray,
    item_log_w: np.ndarray,
    n_ratings: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Dense-case sampler with the same distribution as :func:`_sample_pairs_by_rejection`.

    The distinct pairs met first when drawing i.i.d. with probabilities ``p`` follow the
    order of the arrival times ``E / p`` with ``E ~ Exp(1)``; keeping the ``n_ratings``
    earliest arrivals therefore selects the same set without repeated draws.
    """
    n_pairs = len(user_log_w) * len(item_log_w)
    if n_ratings == n_pairs:
        return np.arange(n_pairs, dtype=np.int64)
    with np.errstate(divide="ignore"):
        log_arrival = np.log(
            rng.standard_exponential((len(user_log_w), len(item_log_w)), dtype=np.float32)
        )
    log_arrival -= user_log_w.astype(np.float32)[:, None]
    log_arrival -= item_log_w.astype(np.float32)[None, :]
    flat = log_arrival.ravel()
    cutoff = np.partition(flat, n_ratings - 1)[n_ratings - 1]
    earlier = np.flatnonzero(flat < cutoff)
    at_cutoff = np.flatnonzero(flat == cutoff)[: n_ratings - earlier.size]
    return np.concatenate((earlier, at_cutoff)).astype(np.int64)


def distinct_pairs(user_log_w: np.ndarray, item_log_w: np.ndarray, n_ratings: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``n_ratings`` distinct pairs, encoded as ``user * n_items + item``, in the order
    the sampler met them (not shuffled)."""
    if n_ratings > _DENSE_FRACTION * (len(user_log_w) * len(item_log_w)):
        return _sample_pairs_by_race(user_log_w, item_log_w, n_ratings, rng)
    return _sample_pairs_by_rejection(user_log_w, item_log_w, n_ratings, rng)
