"""Rating data sets: a synthetic generator, a train/test splitter and a MovieLens loader.

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
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import numpy as np

__all__ = [
    "load_movielens",
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

# At most 2**_BATCH_BITS pairs are drawn in one sampling round (bounds peak memory).
_BATCH_BITS = 23
# Number of ratings scored per block when evaluating the ground-truth model.
_SCORE_BLOCK = 1 << 20
# Above this fraction of all possible pairs the equivalent exponential-race sampler is used.
_DENSE_FRACTION = 0.25

_MOVIELENS_FILENAMES = ("u.data", "ratings.dat", "ratings.csv")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)
# Ratings are returned as float32: a larger magnitude would become infinity.
_RATING_LIMIT = float(np.finfo(np.float32).max)
# UTF-8, skipping a byte-order mark at the start (spreadsheet exports write one): read as
# plain UTF-8 it would glue itself to the first user id.
_ENCODING = "utf-8-sig"


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


# ---------------------------------------------------------------------------
# synthetic data
# ---------------------------------------------------------------------------


def _zipf_log_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
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


def make_ratings(
    n_users: int = 20_000,
    n_items: int = 5_000,
    n_ratings: int = 1_000_000,
    *,
    rank: int = 10,
    noise: float = 0.5,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    user_log_w = _zipf_log_weights(n_users, _USER_EXPONENT, rng)
    item_log_w = _zipf_log_weights(n_items, _ITEM_EXPONENT, rng)

    # 2. distinct pairs in shuffled order
    if n_ratings > _DENSE_FRACTION * n_pairs:
        keys = _sample_pairs_by_race(user_log_w, item_log_w, n_ratings, rng)
    else:
        keys = _sample_pairs_by_rejection(user_log_w, item_log_w, n_ratings, rng)
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
    return users, items, ratings


def make_binary_ratings(
    n_users: int = 20_000,
    n_items: int = 5_000,
    n_ratings: int = 1_000_000,
    *,
    rank: int = 10,
    noise: float = 0.5,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate synthetic binary feedback by thresholding :func:`make_ratings` at 4.

    Parameters
    ----------
    n_users, n_items, n_ratings, rank, noise, seed
        As for :func:`make_ratings`; the same arguments give the same pairs.

    Returns
    -------
    users : numpy.ndarray of int32, shape (n_ratings,)
        User index of each observation.
    items : numpy.ndarray of int32, shape (n_ratings,)
        Item index of each observation.
    labels : numpy.ndarray of float32, shape (n_ratings,)
        ``1.0`` where the underlying rating is at least 4, else ``0.0`` (about 36 % ones
        with the default parameters).

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
    return users, items, labels


# ---------------------------------------------------------------------------
# splitting
# ---------------------------------------------------------------------------


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

    Raises
    ------
    ValueError
        If the arrays are not one-dimensional, differ in length, have fewer than two
        rows, or ``test_size`` is not strictly between 0 and 1.

    Notes
    -----
    The outputs are new arrays (never views of the inputs) with the input dtypes; the
    rows of each part appear in random order.

    Examples
    --------
    >>> from fastmf.datasets import make_ratings, train_test_split
    >>> users, items, ratings = make_ratings(1_000, 500, 20_000, seed=0)
    >>> train, test = train_test_split(users, items, ratings, test_size=0.2, seed=0)
    >>> len(train[0]), len(test[0])
    (16000, 4000)
    """
    arrays = {"users": np.asarray(users), "items": np.asarray(items), "values": np.asarray(values)}
    for name, arr in arrays.items():
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    lengths = {name: arr.shape[0] for name, arr in arrays.items()}
    if len(set(lengths.values())) != 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"users, items and values must have the same length, got {detail}")
    try:
        fraction = float(test_size)
    except (TypeError, ValueError):
        raise TypeError(f"test_size must be a real number, got {test_size!r}") from None
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_size must be strictly between 0 and 1, got {test_size!r}")
    n = lengths["users"]
    if n < 2:
        raise ValueError(f"need at least 2 rows to split users, items and values, got {n}")

    n_test = min(max(round(fraction * n), 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    test_idx = perm[:n_test]
    train_idx = perm[n_test:]
    u, i, v = arrays["users"], arrays["items"], arrays["values"]
    train = (u[train_idx], i[train_idx], v[train_idx])
    test = (u[test_idx], i[test_idx], v[test_idx])
    return train, test


# ---------------------------------------------------------------------------
# MovieLens
# ---------------------------------------------------------------------------


def _resolve_movielens_path(path: str | os.PathLike[str]) -> Path:
    file = Path(path)
    if file.is_dir():
        for name in _MOVIELENS_FILENAMES:
            if (file / name).is_file():
                return file / name
        raise FileNotFoundError(
            f"no MovieLens ratings file ({', '.join(_MOVIELENS_FILENAMES)}) in directory {file}"
        )
    if not file.is_file():
        raise FileNotFoundError(f"MovieLens ratings file not found: {file}")
    return file


def _detect_format(first_line: str) -> tuple[str | None, bool]:
    """Return ``(separator, has_header)``; separator ``None`` means whitespace."""
    sep: str | None
    if "::" in first_line:
        sep = "::"
    elif "," in first_line:
        sep = ","
    else:
        sep = None
    fields = first_line.split(sep) if sep else first_line.split()
    has_header = sep == "," and _INTEGER.fullmatch(fields[0].strip()) is None
    return sep, has_header


def _check_line(fields: list[str]) -> str | None:
    """Return a description of what is wrong with a data line, or ``None``."""
    if len(fields) < 3:
        return f"expected at least 3 fields (user, item, rating), found {len(fields)}"
    for label, field in (("user id", fields[0]), ("item id", fields[1])):
        text = field.strip()
        if _INTEGER.fullmatch(text) is None or not _INT64_MIN <= int(text) <= _INT64_MAX:
            return f"{label} {text!r} is not a 64-bit integer"
    text = fields[2].strip()
    if _NUMBER.fullmatch(text) is None:
        return f"rating {text!r} is not a finite number"
    return _rating_problem(float(text), text)


def _rating_problem(value: float, text: str) -> str | None:
    """What is wrong with a parsed rating, or None: it must be finite and fit float32."""
    if not np.isfinite(value):
        return f"rating {text!r} is not a finite number"
    if abs(value) > _RATING_LIMIT:
        return f"rating {text!r} is beyond the float32 range (magnitude <= {_RATING_LIMIT:.4g})"
    return None


def _raise_for_bad_line(file: Path, sep: str | None, has_header: bool) -> None:
    """Scan ``file`` line by line and raise a ``ValueError`` at the first malformed line."""
    header_pending = has_header
    with open(file, encoding=_ENCODING, errors="replace") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if header_pending:
                header_pending = False
                continue
            problem = _check_line(line.split(sep) if sep else line.split())
            if problem is not None:
                raise ValueError(f"{file}: malformed line {lineno}: {problem}: {line.rstrip()!r}")


def _skip_header(handle: TextIO) -> None:
    """Consume lines up to and including the first non-blank one."""
    for line in handle:
        if line.strip():
            return


def _numeric_lines(handle: TextIO, sep: str | None) -> Iterable[str]:
    """Lines of ``handle`` with a ``::`` separator turned into a tab."""
    if sep == "::":
        return (line.replace("::", "\t") for line in handle)
    return handle


def _index_ids(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids and the int32 position of each entry of ``raw`` among them."""
    low = int(raw.min())
    span = int(raw.max()) - low + 1
    if span <= 4 * raw.size + 1_000_000:
        offsets = raw - low
        present = np.zeros(span, dtype=bool)
        present[offsets] = True
        ids = np.flatnonzero(present).astype(np.int64) + low
        position = np.cumsum(present, dtype=np.int64) - 1
        index = position[offsets]
    else:
        ids, index = np.unique(raw, return_inverse=True)
    if ids.size > np.iinfo(np.int32).max:
        raise ValueError(f"too many distinct ids for int32 indices: {ids.size}")
    return ids, index.astype(np.int32).reshape(-1)


def load_movielens(
    path: str | os.PathLike[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a MovieLens ratings file from local disk.

    The format is detected from the first line of the file:

    * ``user<TAB>item<TAB>rating<TAB>timestamp`` -- MovieLens 100K ``u.data``, ``u1.base``,
      ``ua.test`` and similar (any whitespace separates the fields);
    * ``user::item::rating::timestamp`` -- MovieLens 1M / 10M ``ratings.dat``;
    * ``userId,movieId,rating,timestamp`` -- ``ratings.csv`` of ml-latest, 20M, 25M, 32M
      (the header line is optional).

    Fields after the rating (the timestamp) are ignored.

    Parameters
    ----------
    path : str or os.PathLike
        The ratings file, or a directory holding ``u.data``, ``ratings.dat`` or
        ``ratings.csv`` (looked up in that order).

    Returns
    -------
    users : numpy.ndarray of int32, shape (n,)
        Contiguous 0-based user indices.
    items : numpy.ndarray of int32, shape (n,)
        Contiguous 0-based item indices.
    ratings : numpy.ndarray of float32, shape (n,)
        The ratings, in file order.
    user_ids : numpy.ndarray of int64
        Sorted distinct raw user ids; ``user_ids[users]`` gives the ids in the file.
    item_ids : numpy.ndarray of int64
        Sorted distinct raw item ids; ``item_ids[items]`` gives the ids in the file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (or a directory holds no known ratings file).
    ValueError
        If the file holds no ratings or a line is malformed (too few fields, an id
        that is not an integer, a rating that is not a finite number or is beyond the
        float32 range); the message names the file and the line number.  The file is
        read as UTF-8; a byte-order mark at its start is skipped.

    Examples
    --------
    A file in the format of MovieLens 100K's ``u.data``:

    >>> import os, tempfile
    >>> from fastmf.datasets import load_movielens
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "u.data")
    ...     with open(path, "w") as f:
    ...         _ = f.write("196\\t242\\t3\\t881250949\\n186\\t302\\t3\\t891717742\\n"
    ...                     "196\\t377\\t1\\t878887116\\n")
    ...     users, items, ratings, user_ids, item_ids = load_movielens(folder)
    >>> users.tolist(), items.tolist(), ratings.tolist()
    ([1, 0, 1], [0, 1, 2], [3.0, 3.0, 1.0])
    >>> user_ids.tolist(), item_ids.tolist()
    ([186, 196], [242, 302, 377])
    """
    file = _resolve_movielens_path(path)
    with open(file, encoding=_ENCODING, errors="replace") as handle:
        first_line = ""
        for first_line in handle:
            if first_line.strip():
                break
    if not first_line.strip():
        raise ValueError(f"{file}: file holds no ratings")
    sep, has_header = _detect_format(first_line)
    delimiter = "\t" if sep == "::" else sep

    dtype = np.dtype([("user", np.int64), ("item", np.int64), ("rating", np.float64)])
    try:
        with open(file, encoding=_ENCODING, errors="replace") as handle, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input contained no data")
            if has_header:
                _skip_header(handle)
            table = np.loadtxt(
                _numeric_lines(handle, sep),
                dtype=dtype,
                delimiter=delimiter,
                usecols=(0, 1, 2),
                comments=None,
                ndmin=1,
            )
    except ValueError as exc:
        _raise_for_bad_line(file, sep, has_header)
        raise ValueError(f"{file}: could not parse ratings: {exc}") from exc

    raw_users = table["user"]
    raw_items = table["item"]
    rating = table["rating"]
    if raw_users.size == 0:
        raise ValueError(f"{file}: file holds no ratings")
    if not (np.abs(rating) <= _RATING_LIMIT).all():       # also NaN and infinity
        _raise_for_bad_line(file, sep, has_header)
        raise ValueError(f"{file}: non-finite or out-of-range ratings in the file")

    user_ids, users = _index_ids(raw_users)
    item_ids, items = _index_ids(raw_items)
    return users, items, rating.astype(np.float32), user_ids, item_ids


def load_delimited(
    path: str | os.PathLike[str],
    *,
    sep: str = ",",
    columns: tuple[int, int, int] = (0, 1, 2),
    header: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read (user, item, rating) triples from any delimited text file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    sep : str, default=","
        Field separator (one or more characters).
    columns : tuple of three int, default=(0, 1, 2)
        Positions of the user id, the item id and the rating on each line.
    header : bool, default=False
        Skip the first line.

    Returns
    -------
    users, items, ratings, user_ids, item_ids
        As :func:`load_movielens`.  Ids may be any strings: ``user_ids`` holds them as
        int64 when every id is an integer within int64's range, as str otherwise.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        On a line with too few fields or a rating that is not a finite number or is
        beyond the float32 range; the message names the file and the line number.  A
        byte-order mark at the start of the file is skipped.
    """
    if len(columns) != 3 or any(not isinstance(c, int) or c < 0 for c in columns):
        raise ValueError(f"columns must be three non-negative ints, got {columns!r}")
    if not sep:
        raise ValueError("sep must be a non-empty string")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"ratings file not found: {file}")
    raw_users, raw_items, ratings = [], [], []
    width = max(columns) + 1
    with open(file, encoding=_ENCODING, errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if (header and number == 1) or not line.strip():
                continue
            fields = line.rstrip("\r\n").split(sep)
            if len(fields) < width:
                raise ValueError(f"{file}: line {number} has {len(fields)} fields, "
                                 f"needs at least {width}: {line.strip()!r}")
            try:
                value = float(fields[columns[2]])
            except ValueError:
                value = float("nan")
            problem = _rating_problem(value, fields[columns[2]].strip())
            if problem is not None:
                raise ValueError(f"{file}: line {number}: {problem}")
            raw_users.append(fields[columns[0]].strip())
            raw_items.append(fields[columns[1]].strip())
            ratings.append(value)
    if not ratings:
        raise ValueError(f"{file}: file holds no ratings")
    user_ids, users = np.unique(_as_ids(raw_users), return_inverse=True)
    item_ids, items = np.unique(_as_ids(raw_items), return_inverse=True)
    return (users.astype(np.int32), items.astype(np.int32),
            np.asarray(ratings, dtype=np.float32), user_ids, item_ids)


def _as_ids(raw: list[str]) -> np.ndarray:
    """int64 ids when every one is an integer that fits int64, else the strings."""
    try:
        return np.array([int(x) for x in raw], dtype=np.int64)
    except (ValueError, OverflowError):
        return np.array(raw, dtype=str)
