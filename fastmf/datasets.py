"""Synthetic rating data sets with a known low-rank structure.

Splitting ratings is :mod:`fastmf.model_selection`'s job and reading rating files is
:mod:`fastmf.io`'s; ``train_test_split``, ``load_movielens`` and ``load_delimited`` can
still be imported from here, as in earlier versions.

.. rubric:: Synthetic ratings

:func:`make_ratings` builds an explicit-feedback data set that looks roughly like a
real rating log while having a known low-rank structure:

1. **Skewed activity.** User ``u`` with activity rank ``r_u`` (1 = most active) gets
   sampling weight proportional to ``r_u ** -0.6``; item ``i`` with popularity rank
   ``r_i`` gets weight proportional to ``r_i ** -0.8``. Ranks are assigned to ids through
   a random permutation, so popularity is not correlated with the id.
2. **Unique pairs.** ``(user, item)`` pairs are drawn independently from the product of
   these two distributions; repeated pairs are dropped and more pairs are drawn until
   exactly ``n_ratings`` distinct pairs exist (the pairs drawn first are kept). The pairs
   are returned in shuffled order. When more than a quarter of all possible pairs is
   requested, the same distribution is sampled without repeated draws: each pair gets an
   arrival time ``E / p`` (``E ~ Exp(1)``, ``p`` its draw probability) and the
   ``n_ratings`` earliest arrivals are kept, which is the order in which repeated drawing
   first meets distinct pairs.
3. **Ground truth.** Factors ``U`` (``n_users x rank``) and ``V`` (``n_items x rank``) have
   i.i.d. ``N(0, sigma**2)`` entries with ``sigma = (0.49 / rank) ** 0.25``, so
   ``<U_u, V_i>`` has standard deviation ``0.7`` whatever the rank. User biases are
   ``N(0, 0.3**2)`` and item biases ``N(0, 0.5**2)``.
4. **Ratings.** ``3.6 + b_u + b_i + <U_u, V_i> + N(0, noise**2)``, clipped to ``[1, 5]``.

With the default ``noise=0.5`` the ratings have a mean close to 3.56 and a standard
deviation close to 1.0; :func:`make_binary_ratings` thresholds them at 4 (about 36 %
positives).

All randomness comes from one ``numpy.random.default_rng(seed)`` generator, so equal
seeds give identical data sets.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import model_selection
from ._pairs import distinct_pairs, zipf_log_weights
from .data import Triples
from .io import load_delimited as load_delimited
from .io import load_movielens as load_movielens

__all__ = [
    "make_binary_ratings",
    "make_ratings",
    "train_test_split",
]

_GLOBAL_MEAN = 3.6
_USER_EXPONENT = 0.6
_ITEM_EXPONENT = 0.8
_USER_BIAS_STD = 0.3
_ITEM_BIAS_STD = 0.5
_DOT_VARIANCE = 0.49
_RATING_MIN = 1.0
_RATING_MAX = 5.0
_BINARY_THRESHOLD = 4.0

# Number of ratings scored per block when evaluating the ground-truth model.
_SCORE_BLOCK = 1 << 20


# ---------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------


def _check_count(value: object, name: str) -> int:
    """Return ``value`` as a Python ``int`` and require it to be at least 1."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        count = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if count < 1:
        raise ValueError(f"{name} must be at least 1, got {count}")
    return count


def _check_noise(noise: object) -> float:
    try:
        value = float(noise)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"noise must be a real number, got {noise!r}") from None
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    return value


def make_ratings(
    n_users: int = 20_000,
    n_items: int = 5_000,
    n_ratings: int = 1_000_000,
    *,
    rank: int = 10,
    noise: float = 0.5,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> Triples:
    """Generate a synthetic explicit-feedback data set with low-rank structure.

    See the module docstring for the exact generative recipe.

    Parameters
    ----------
    n_users : int, default 20_000
        Number of users; user indices are ``0 .. n_users - 1``.
    n_items : int, default 5_000
        Number of items; item indices are ``0 .. n_items - 1``.
    n_ratings : int, default 1_000_000
        Exact number of distinct ``(user, item)`` pairs to return. At most
        ``n_users * n_items``.
    rank : int, default 10
        Rank of the ground-truth factor model.
    noise : float, default 0.5
        Standard deviation of the Gaussian noise added to each rating.
    seed : int, SeedSequence, Generator or None, default None
        Seed passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    Triples
        ``(users, items, ratings)`` with ``shape == (n_users, n_items)`` (a
        :class:`fastmf.data.Triples`, which unpacks as three arrays):

        users : numpy.ndarray of int32, shape (n_ratings,)
            User index of each rating.
        items : numpy.ndarray of int32, shape (n_ratings,)
            Item index of each rating.
        ratings : numpy.ndarray of float32, shape (n_ratings,)
            Ratings in ``[1, 5]``.

    Raises
    ------
    ValueError
        If a size or ``rank`` is smaller than 1, ``noise`` is negative, or ``n_ratings``
        exceeds ``n_users * n_items``.

    Examples
    --------
    >>> from fastmf.datasets import make_ratings
    >>> users, items, ratings = make_ratings(1_000, 500, 20_000, seed=0)
    >>> users.shape, items.dtype, ratings.dtype
    ((20000,), dtype('int32'), dtype('float32'))
    """
    n_users = _check_count(n_users, "n_users")
    n_items = _check_count(n_items, "n_items")
    n_ratings = _check_count(n_ratings, "n_ratings")
    rank = _check_count(rank, "rank")
    noise = _check_noise(noise)
    for name, size in (("n_users", n_users), ("n_items", n_items)):
        if size > np.iinfo(np.int32).max:
            raise ValueError(f"{name} must fit in int32, got {size}")
    n_pairs = n_users * n_items
    if n_ratings > n_pairs:
        raise ValueError(
            f"n_ratings={n_ratings} exceeds the number of distinct (user, item) pairs "
            f"n_users * n_items = {n_pairs}"
        )

    rng = np.random.default_rng(seed)

    # 1. activity / popularity weights assigned to ids through random permutations
    user_log_w = zipf_log_weights(n_users, _USER_EXPONENT, rng)
    item_log_w = zipf_log_weights(n_items, _ITEM_EXPONENT, rng)

    # 2. distinct pairs in shuffled order
    keys = distinct_pairs(user_log_w, item_log_w, n_ratings, rng)
    rng.shuffle(keys)
    users = (keys // n_items).astype(np.int32)
    items = (keys % n_items).astype(np.int32)
    del keys

    # 3. ground-truth model
    sigma = (_DOT_VARIANCE / rank) ** 0.25
    user_factors = rng.normal(0.0, sigma, size=(n_users, rank))
    item_factors = rng.normal(0.0, sigma, size=(n_items, rank))
    user_bias = rng.normal(0.0, _USER_BIAS_STD, size=n_users)
    item_bias = rng.normal(0.0, _ITEM_BIAS_STD, size=n_items)

    # 4. noisy, clipped ratings (scored block by block to bound memory)
    ratings = np.empty(n_ratings, dtype=np.float32)
    for start in range(0, n_ratings, _SCORE_BLOCK):
        stop = min(start + _SCORE_BLOCK, n_ratings)
        u = users[start:stop]
        i = items[start:stop]
        score = np.einsum("ij,ij->i", user_factors[u], item_factors[i])
        score += user_bias[u]
        score += item_bias[i]
        score += _GLOBAL_MEAN
        score += noise * rng.standard_normal(stop - start)
        np.clip(score, _RATING_MIN, _RATING_MAX, out=score)
        ratings[start:stop] = score
    return Triples(users, items, ratings, shape=(n_users, n_items))


def make_binary_ratings(
    n_users: int = 20_000,
    n_items: int = 5_000,
    n_ratings: int = 1_000_000,
    *,
    rank: int = 10,
    noise: float = 0.5,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> Triples:
    """Generate synthetic binary feedback by thresholding :func:`make_ratings` at 4.

    Parameters
    ----------
    n_users, n_items, n_ratings, rank, noise, seed
        As for :func:`make_ratings`; the same arguments give the same pairs.

    Returns
    -------
    Triples
        ``(users, items, labels)`` with ``shape == (n_users, n_items)``:

        users : numpy.ndarray of int32, shape (n_ratings,)
            User index of each observation.
        items : numpy.ndarray of int32, shape (n_ratings,)
            Item index of each observation.
        labels : numpy.ndarray of float32, shape (n_ratings,)
            ``1.0`` where the underlying rating is at least 4, else ``0.0`` (about 36 %
            ones with the default parameters).

    Raises
    ------
    ValueError
        Under the same conditions as :func:`make_ratings`.

    Examples
    --------
    >>> from fastmf.datasets import make_binary_ratings
    >>> users, items, labels = make_binary_ratings(1_000, 500, 20_000, seed=0)
    >>> sorted(set(labels.tolist())), bool(0.2 < labels.mean() < 0.5)
    ([0.0, 1.0], True)
    """
    users, items, ratings = make_ratings(
        n_users, n_items, n_ratings, rank=rank, noise=noise, seed=seed
    )
    labels = (ratings >= _BINARY_THRESHOLD).astype(np.float32)
    return Triples(users, items, labels, shape=(n_users, n_items))


def train_test_split(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    *,
    test_size: float = 0.2,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> tuple[
    tuple[np.ndarray, np.ndarray, np.ndarray],
    tuple[np.ndarray, np.ndarray, np.ndarray],
]:
    """Randomly split rating triples into a training part and a test part.

    The same as ``fastmf.model_selection.train_test_split((users, items, values),
    test_size, random_state=seed)`` (see :func:`fastmf.model_selection.train_test_split`),
    kept under this name and signature for code written against earlier versions.

    Parameters
    ----------
    users, items, values : array_like, shape (n,)
        Parallel one-dimensional arrays of the same length (at least 2).
    test_size : float, default 0.2
        Fraction of rows put in the test part, strictly between 0 and 1. The test part
        gets ``round(test_size * n)`` rows, clamped to ``[1, n - 1]``.
    seed : int, SeedSequence, Generator or None, default None
        Seed passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    train : tuple of numpy.ndarray
        ``(users, items, values)`` of the training rows.
    test : tuple of numpy.ndarray
        ``(users, items, values)`` of the test rows.

    Examples
    --------
    >>> from fastmf.datasets import make_ratings, train_test_split
    >>> users, items, ratings = make_ratings(1_000, 500, 20_000, seed=0)
    >>> train, test = train_test_split(users, items, ratings, test_size=0.2, seed=0)
    >>> len(train[0]), len(test[0])
    (16000, 4000)
    """
    train, test = model_selection.train_test_split((users, items, values), test_size,
                                                   random_state=seed)
    return train, test
