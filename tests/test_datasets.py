"""Tests for ``fastmf.datasets``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastmf.datasets import (
    load_movielens,
    make_binary_ratings,
    make_ratings,
    train_test_split,
)

MOVIELENS_100K = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k" / "u.data"
)

N_USERS = 20_000
N_ITEMS = 5_000
N_RATINGS = 200_000


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return make_ratings(N_USERS, N_ITEMS, N_RATINGS, seed=0)


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    return users.astype(np.int64) * n_items + items.astype(np.int64)


# ---------------------------------------------------------------------------
# make_ratings
# ---------------------------------------------------------------------------


def test_make_ratings_shapes_and_dtypes(sample):
    users, items, ratings = sample
    for arr, dtype in ((users, np.int32), (items, np.int32), (ratings, np.float32)):
        assert arr.dtype == dtype
        assert arr.shape == (N_RATINGS,)
        assert arr.flags.c_contiguous
    assert users.min() >= 0
    assert users.max() < N_USERS
    assert items.min() >= 0
    assert items.max() < N_ITEMS


def test_make_ratings_pairs_are_unique_and_count_is_exact(sample):
    users, items, _ = sample
    assert np.unique(pair_keys(users, items, N_ITEMS)).size == N_RATINGS


def test_make_ratings_values_in_range(sample):
    _, _, ratings = sample
    assert np.all(np.isfinite(ratings))
    assert ratings.min() >= 1.0
    assert ratings.max() <= 5.0
    # clipping puts mass on both ends
    assert np.any(ratings == 1.0)
    assert np.any(ratings == 5.0)


def test_make_ratings_moments(sample):
    _, _, ratings = sample
    assert abs(float(ratings.mean()) - 3.6) < 0.2
    # total std before clipping is sqrt(0.3**2 + 0.5**2 + 0.7**2 + 0.5**2) ~ 1.04
    assert 0.8 < float(ratings.std()) < 1.15


def test_make_ratings_item_effects_are_visible(sample):
    _, items, ratings = sample
    counts = np.bincount(items, minlength=N_ITEMS)
    sums = np.bincount(items, weights=ratings, minlength=N_ITEMS)
    frequent = counts >= 100
    assert frequent.sum() > 50
    item_means = sums[frequent] / counts[frequent]
    # item biases have std 0.5; averaging over >= 100 ratings keeps most of it
    assert 0.35 < float(item_means.std()) < 0.8


def test_make_ratings_popularity_is_skewed(sample):
    users, items, _ = sample
    item_counts = np.bincount(items, minlength=N_ITEMS)
    user_counts = np.bincount(users, minlength=N_USERS)
    assert item_counts.max() >= 100 * max(np.median(item_counts), 1)
    assert user_counts.max() >= 40 * max(np.median(user_counts), 1)
    # the heaviest tenth of the items takes a large share of the ratings
    top = np.sort(item_counts)[::-1][: N_ITEMS // 10]
    assert top.sum() > 0.4 * N_RATINGS


def test_make_ratings_popularity_not_tied_to_id(sample):
    users, items, _ = sample
    item_counts = np.bincount(items, minlength=N_ITEMS).astype(float)
    user_counts = np.bincount(users, minlength=N_USERS).astype(float)
    assert abs(np.corrcoef(np.arange(N_ITEMS), item_counts)[0, 1]) < 0.1
    assert abs(np.corrcoef(np.arange(N_USERS), user_counts)[0, 1]) < 0.1
    # the most popular item is not simply id 0 and the order is shuffled
    assert np.argmax(item_counts) != 0
    assert not np.all(np.diff(users) >= 0)


def test_make_ratings_is_deterministic_for_a_seed():
    first = make_ratings(2_000, 500, 20_000, seed=123)
    second = make_ratings(2_000, 500, 20_000, seed=123)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_make_ratings_differs_between_seeds():
    users_a, items_a, ratings_a = make_ratings(2_000, 500, 20_000, seed=1)
    users_b, items_b, ratings_b = make_ratings(2_000, 500, 20_000, seed=2)
    assert not np.array_equal(users_a, users_b)
    assert not np.array_equal(items_a, items_b)
    assert not np.array_equal(ratings_a, ratings_b)


def test_make_ratings_accepts_generator_seed():
    a = make_ratings(300, 200, 1_000, seed=np.random.default_rng(7))
    b = make_ratings(300, 200, 1_000, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a[2], b[2])


def test_make_ratings_without_noise_and_other_rank():
    users, items, ratings = make_ratings(1_000, 300, 10_000, rank=3, noise=0.0, seed=5)
    assert users.size == items.size == ratings.size == 10_000
    assert np.unique(pair_keys(users, items, 300)).size == 10_000
    assert 0.7 < float(ratings.std()) < 1.15


@pytest.mark.parametrize(
    ("n_users", "n_items", "n_ratings"),
    [(1, 1, 1), (4, 3, 12), (40, 30, 1_000), (200, 100, 4_000), (7, 1, 3)],
)
def test_make_ratings_small_and_dense(n_users, n_items, n_ratings):
    users, items, ratings = make_ratings(n_users, n_items, n_ratings, seed=11)
    keys = pair_keys(users, items, n_items)
    assert keys.size == n_ratings
    assert np.unique(keys).size == n_ratings
    assert keys.min() >= 0
    assert keys.max() < n_users * n_items
    assert ratings.dtype == np.float32


def test_make_ratings_full_matrix_contains_every_pair():
    users, items, _ = make_ratings(30, 20, 600, seed=3)
    np.testing.assert_array_equal(np.sort(pair_keys(users, items, 20)), np.arange(600))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_users": 0}, "n_users"),
        ({"n_items": 0}, "n_items"),
        ({"n_ratings": 0}, "n_ratings"),
        ({"n_users": -5}, "n_users"),
        ({"rank": 0}, "rank"),
        ({"noise": -0.1}, "noise"),
        ({"n_users": 10, "n_items": 10, "n_ratings": 101}, "n_ratings"),
    ],
)
def test_make_ratings_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_ratings(**kwargs)
    with pytest.raises(ValueError, match=name):
        make_binary_ratings(**kwargs)


# ---------------------------------------------------------------------------
# make_binary_ratings
# ---------------------------------------------------------------------------


def test_make_binary_ratings_thresholds_the_explicit_ratings():
    users, items, ratings = make_ratings(5_000, 2_000, 50_000, seed=9)
    b_users, b_items, labels = make_binary_ratings(5_000, 2_000, 50_000, seed=9)
    np.testing.assert_array_equal(users, b_users)
    np.testing.assert_array_equal(items, b_items)
    assert labels.dtype == np.float32
    assert set(np.unique(labels).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(labels, (ratings >= 4.0).astype(np.float32))


def test_make_binary_ratings_positive_rate():
    _, _, labels = make_binary_ratings(N_USERS, N_ITEMS, N_RATINGS, seed=4)
    assert 0.25 < float(labels.mean()) < 0.5


# ---------------------------------------------------------------------------
# train_test_split
# ---------------------------------------------------------------------------


def test_train_test_split_partitions_the_rows():
    users, items, ratings = make_ratings(2_000, 1_000, 10_000, seed=0)
    originals = (users.copy(), items.copy(), ratings.copy())
    train, test = train_test_split(users, items, ratings, test_size=0.25, seed=1)

    assert all(arr.size == 7_500 for arr in train)
    assert all(arr.size == 2_500 for arr in test)
    for part in (train, test):
        assert part[0].dtype == np.int32
        assert part[1].dtype == np.int32
        assert part[2].dtype == np.float32

    train_keys = pair_keys(train[0], train[1], 1_000)
    test_keys = pair_keys(test[0], test[1], 1_000)
    assert np.intersect1d(train_keys, test_keys).size == 0

    # the union of the parts is the input, row for row
    all_keys = np.concatenate((train_keys, test_keys))
    all_values = np.concatenate((train[2], test[2]))
    order = np.argsort(all_keys)
    input_keys = pair_keys(users, items, 1_000)
    input_order = np.argsort(input_keys)
    np.testing.assert_array_equal(all_keys[order], input_keys[input_order])
    np.testing.assert_array_equal(all_values[order], ratings[input_order])

    # inputs untouched, outputs are copies
    for before, after in zip(originals, (users, items, ratings), strict=True):
        np.testing.assert_array_equal(before, after)
    for out in (*train, *test):
        for arr in (users, items, ratings):
            assert not np.shares_memory(out, arr)


def test_train_test_split_is_seeded():
    x = np.arange(1_000, dtype=np.int32)
    y = np.arange(1_000, dtype=np.float32)
    a = train_test_split(x, x, y, seed=3)
    b = train_test_split(x, x, y, seed=3)
    c = train_test_split(x, x, y, seed=4)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[1][0], c[1][0])
    assert a[1][0].size == 200


def test_train_test_split_keeps_tiny_splits_non_empty():
    x = np.arange(3)
    train, test = train_test_split(x, x, x, test_size=0.01, seed=0)
    assert train[0].size == 2
    assert test[0].size == 1


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.2, 1.5])
def test_train_test_split_rejects_bad_test_size(test_size):
    x = np.arange(10)
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(x, x, x, test_size=test_size)


def test_train_test_split_rejects_unequal_lengths():
    x = np.arange(10)
    with pytest.raises(ValueError, match="items"):
        train_test_split(x, x[:9], x)
    with pytest.raises(ValueError, match="values"):
        train_test_split(x, x, x[:3])


def test_train_test_split_rejects_2d_input():
    x = np.arange(10)
    with pytest.raises(ValueError, match="users"):
        train_test_split(x.reshape(2, 5), x, x)


# ---------------------------------------------------------------------------
# load_movielens
# ---------------------------------------------------------------------------

RAW_USERS = np.array([196, 186, 22, 196, 7, 186], dtype=np.int64)
RAW_ITEMS = np.array([242, 302, 377, 51, 242, 1], dtype=np.int64)
RAW_RATINGS = np.array([3.0, 3.0, 1.0, 4.5, 5.0, 0.5], dtype=np.float32)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _lines(sep: str) -> list[str]:
    return [
        sep.join((str(u), str(i), f"{r:g}", str(881250949 + k)))
        for k, (u, i, r) in enumerate(zip(RAW_USERS, RAW_ITEMS, RAW_RATINGS, strict=True))
    ]


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("u.data", _lines("\t")),
        ("u1.base", _lines("\t")),
        ("ratings.dat", _lines("::")),
        ("ratings.csv", ["userId,movieId,rating,timestamp", *_lines(",")]),
        ("headerless.csv", _lines(",")),
    ],
)
def test_load_movielens_formats(tmp_path, name, lines):
    users, items, ratings, user_ids, item_ids = load_movielens(_write(tmp_path / name, lines))
    assert users.dtype == np.int32
    assert items.dtype == np.int32
    assert ratings.dtype == np.float32
    assert user_ids.dtype == np.int64
    assert item_ids.dtype == np.int64
    np.testing.assert_array_equal(user_ids, [7, 22, 186, 196])
    np.testing.assert_array_equal(item_ids, [1, 51, 242, 302, 377])
    np.testing.assert_array_equal(user_ids[users], RAW_USERS)
    np.testing.assert_array_equal(item_ids[items], RAW_ITEMS)
    np.testing.assert_array_equal(ratings, RAW_RATINGS)
    assert users.max() + 1 == user_ids.size
    assert items.max() + 1 == item_ids.size


def test_load_movielens_accepts_str_path_and_directory(tmp_path):
    _write(tmp_path / "ratings.dat", _lines("::"))
    from_str = load_movielens(str(tmp_path / "ratings.dat"))
    from_dir = load_movielens(tmp_path)
    for a, b in zip(from_str, from_dir, strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_movielens_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path / "does-not-exist" / "u.data")


@pytest.mark.parametrize(
    ("name", "lines", "line_no"),
    [
        ("u.data", ["1\t2\t3\t4", "1\t2\t3\t4", "1\tabc\t3\t4"], 3),
        ("ratings.dat", ["1::2::3::4", "5::6"], 2),
        ("ratings.csv", ["userId,movieId,rating,timestamp", "1,2,3.5,4", "1,2,high,4"], 3),
        ("ratings.csv", ["userId,movieId,rating,timestamp", "1,2,nan,4"], 2),
    ],
)
def test_load_movielens_malformed_line(tmp_path, name, lines, line_no):
    path = _write(tmp_path / name, lines)
    with pytest.raises(ValueError, match=rf"{name}.*line {line_no}\b"):
        load_movielens(path)


def test_load_movielens_empty_file(tmp_path):
    path = _write(tmp_path / "ratings.csv", ["userId,movieId,rating,timestamp"])
    with pytest.raises(ValueError, match="no ratings"):
        load_movielens(path)


def test_load_movielens_100k():
    if not MOVIELENS_100K.is_file():
        pytest.skip(f"MovieLens 100K not available at {MOVIELENS_100K}")
    users, items, ratings, user_ids, item_ids = load_movielens(MOVIELENS_100K)
    assert ratings.size == 100_000
    assert user_ids.size == 943
    assert item_ids.size == 1682
    np.testing.assert_array_equal(user_ids, np.arange(1, 944))
    np.testing.assert_array_equal(item_ids, np.arange(1, 1683))
    np.testing.assert_array_equal(np.unique(ratings), [1.0, 2.0, 3.0, 4.0, 5.0])
    # first line of u.data is "196  242  3  881250949"
    assert (user_ids[users[0]], item_ids[items[0]], ratings[0]) == (196, 242, 3.0)


def test_load_delimited_string_ids_and_columns(tmp_path):
    from fastmf.datasets import load_delimited

    path = tmp_path / "plays.tsv"
    path.write_text("ts|item|user|score\n9|song-b|alice|2.5\n9|song-a|bob|4\n"
                    "9|song-b|bob|1\n\n")
    users, items, ratings, user_ids, item_ids = load_delimited(
        path, sep="|", columns=(2, 1, 3), header=True)
    assert user_ids.tolist() == ["alice", "bob"] and item_ids.tolist() == ["song-a", "song-b"]
    assert list(zip(user_ids[users], item_ids[items], ratings, strict=True)) == [
        ("alice", "song-b", 2.5), ("bob", "song-a", 4.0), ("bob", "song-b", 1.0)]
    assert users.dtype == np.int32 and ratings.dtype == np.float32


def test_load_delimited_integer_ids_and_errors(tmp_path):
    from fastmf.datasets import load_delimited

    path = tmp_path / "r.csv"
    path.write_text("10,7,3\n2,7,5\n")
    users, items, ratings, user_ids, item_ids = load_delimited(path)
    assert user_ids.dtype == np.int64 and user_ids[users].tolist() == [10, 2]
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n1,2\n")
    with pytest.raises(ValueError, match="line 2 has 2 fields"):
        load_delimited(bad)
    bad.write_text("1,2,x\n")
    with pytest.raises(ValueError, match="line 1: rating 'x'"):
        load_delimited(bad)
    with pytest.raises(FileNotFoundError):
        load_delimited(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="columns"):
        load_delimited(path, columns=(0, 1))


@pytest.mark.parametrize("reader", ["load_movielens", "load_delimited"])
def test_byte_order_mark_without_header_keeps_the_first_rating(tmp_path, reader):
    """A CSV saved with a UTF-8 byte-order mark and no header lost its first rating: the
    mark made the first user id look like a header."""
    from fastmf import datasets

    path = tmp_path / "ratings.csv"
    path.write_bytes("1,10,4.0,0\n2,10,3.0,0\n2,11,5.0,0\n".encode("utf-8-sig"))
    users, items, ratings, user_ids, item_ids = getattr(datasets, reader)(path)
    assert ratings.tolist() == [4.0, 3.0, 5.0]
    assert [int(x) for x in user_ids[users]] == [1, 2, 2]
    assert [int(x) for x in item_ids[items]] == [10, 10, 11]


def test_byte_order_mark_before_a_header_is_skipped(tmp_path):
    from fastmf.datasets import load_movielens

    path = tmp_path / "ratings.csv"
    path.write_bytes("userId,movieId,rating,timestamp\n1,10,4.0,0\n".encode("utf-8-sig"))
    assert load_movielens(path)[2].tolist() == [4.0]


@pytest.mark.parametrize("reader, text", [
    ("load_movielens", "1\t2\t3\t0\n1\t3\t1e300\t0\n"),
    ("load_movielens", "1::2::-4e38::0\n"),
    ("load_delimited", "1,2,3\n1,3,1e300\n"),
])
def test_ratings_beyond_float32_are_refused_with_their_line(tmp_path, reader, text):
    """1e300 used to become float32 inf with only a RuntimeWarning."""
    import warnings

    from fastmf import datasets

    path = tmp_path / "r.data"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"line \d.*beyond the float32 range"):
            getattr(datasets, reader)(path)
