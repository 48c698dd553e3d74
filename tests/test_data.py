"""Raw-id records -> CSR matrix and id maps."""

from __future__ import annotations

import numpy as np
import pytest

from fastmf.data import IdMap, from_arrays, from_dataframe


def random_records(rng, n=300, n_users=40, n_items=25, strings=False):
    """Distinct (user, item) pairs with raw ids that are not 0..n-1."""
    flat = rng.choice(n_users * n_items, size=n, replace=False)
    u_raw = rng.choice(10**6, size=n_users, replace=False)
    i_raw = rng.choice(10**6, size=n_items, replace=False)
    users, items = u_raw[flat // n_items], i_raw[flat % n_items]
    if strings:
        users = np.array([f"user-{x}" for x in users])
        items = np.array([f"item-{x}" for x in items], dtype=object)
    return users, items, rng.normal(size=n)


@pytest.mark.parametrize("strings", [False, True])
def test_matrix_holds_every_record(strings):
    rng = np.random.default_rng()
    users, items, values = random_records(rng, strings=strings)
    before = values.copy()
    X, umap, imap = from_arrays(users, items, values)
    np.testing.assert_array_equal(values, before)
    assert X.format == "csr" and X.shape == (len(umap), len(imap)) and X.nnz == len(values)
    assert X.has_sorted_indices
    assert list(umap.ids) == sorted(set(users.tolist()))
    dense = X.toarray()
    for u, i, v in zip(users, items, values, strict=True):
        assert dense[umap[u], imap[i]] == v
    np.testing.assert_array_equal(umap.to_raw(umap.to_index(users)), users)
    np.testing.assert_array_equal(imap.to_raw(imap.to_index(items)), items.astype(str)
                                  if strings else items)


def test_idmap_lookups():
    rng = np.random.default_rng()
    raw = rng.choice(1000, size=50, replace=False)
    m = IdMap(np.concatenate([raw, raw[:10]]))
    assert len(m) == 50
    np.testing.assert_array_equal(m.ids, np.sort(raw))
    np.testing.assert_array_equal(m.to_index(m.ids), np.arange(50))
    missing = 1000 + int(rng.integers(100))
    assert missing not in m and raw[3] in m
    assert m.get(missing) is None and m.get(raw[3]) == int(np.searchsorted(m.ids, raw[3]))
    with pytest.raises(KeyError):
        m[missing]
    with pytest.raises(KeyError, match="unknown id"):
        m.to_index([raw[0], missing])
    np.testing.assert_array_equal(m.to_index([missing, raw[0]], missing="ignore"),
                                  [-1, m[raw[0]]])
    with pytest.raises(ValueError, match=r"index must lie in \[0, 50\)"):
        m.to_raw([50])
    with pytest.raises(TypeError, match="this map holds integer ids"):
        m.to_index(["a"])
    assert "a" not in m
    assert not m.ids.flags.writeable


@pytest.mark.parametrize("aggregate", ["sum", "mean", "last"])
def test_duplicates_aggregated(aggregate):
    rng = np.random.default_rng()
    users = np.array(["a", "b", "a", "a", "c", "b"])
    items = np.array([1, 2, 1, 3, 1, 2])
    values = rng.normal(size=6)
    X, umap, imap = from_arrays(users, items, values, aggregate=aggregate)
    combine = {"sum": np.sum, "mean": np.mean, "last": lambda v: v[-1]}[aggregate]
    assert X.nnz == 4
    assert X[umap["a"], imap[1]] == pytest.approx(combine(values[[0, 2]]))
    assert X[umap["b"], imap[2]] == pytest.approx(combine(values[[1, 5]]))
    assert X[umap["a"], imap[3]] == values[3]


def test_duplicates_raise_by_default():
    with pytest.raises(ValueError, match=r"\('u', 7\) occurs more than once"):
        from_arrays(["u", "v", "u"], [7, 7, 7], [1.0, 2.0, 3.0])


def test_implicit_values_and_dtype():
    X, _, _ = from_arrays([3, 1, 3], [5, 5, 6], dtype=np.float32)
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X.toarray(), [[1, 0], [1, 1]])


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        (([1, 2], [1]), {}, ValueError, "same length"),
        (([1, 2], [1, 2], [1.0]), {}, ValueError, r"values must have shape \(2,\)"),
        (([1, 2], [1, 2], [1.0, np.nan]), {}, ValueError, "values contains NaN"),
        (([1.5, 2], [1, 2]), {}, TypeError, "user_ids must hold integer or string ids"),
        ((np.array([1, "a"], dtype=object), [1, 2]), {}, TypeError, "only integers or only"),
        (([1, 2], [1, 2]), {"aggregate": "max"}, ValueError, "aggregate must be one of"),
        (([[1, 2]], [1, 2]), {}, ValueError, "user_ids must be one-dimensional"),
    ],
)
def test_validation(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        from_arrays(*args, **kwargs)


def test_from_dataframe():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng()
    users, items, values = random_records(rng, strings=True)
    df = pd.DataFrame({"u": users, "i": items, "r": values})
    X, umap, imap = from_dataframe(df, "u", "i", "r")
    ref, ref_u, ref_i = from_arrays(users, items, values)
    np.testing.assert_array_equal(X.toarray(), ref.toarray())
    np.testing.assert_array_equal(umap.ids, ref_u.ids)
    np.testing.assert_array_equal(imap.ids, ref_i.ids)
    implicit = from_dataframe(df, "u", "i").matrix
    np.testing.assert_array_equal(implicit.toarray(), (ref.toarray() != 0).astype(float))
    with pytest.raises(ValueError, match="value_col='rating' is not a column"):
        from_dataframe(df, "u", "i", "rating")
    df.loc[0, "u"] = None
    with pytest.raises(ValueError, match="column 'u' .user_col. has missing values"):
        from_dataframe(df, "u", "i", "r")
    with pytest.raises(TypeError, match="df must be a pandas DataFrame"):
        from_dataframe({"u": [1]}, "u", "i")


@pytest.mark.parametrize("span", [50, 10**12])          # table lookup, and a sort
def test_one_pass_encoding_matches_the_map(span):
    from fastmf._ids import encode

    rng = np.random.default_rng()
    raw = rng.integers(-span, span, size=500)
    id_map, index = encode(raw)
    ids, inverse = np.unique(raw, return_inverse=True)
    np.testing.assert_array_equal(id_map.ids, ids)
    np.testing.assert_array_equal(index, inverse)
    np.testing.assert_array_equal(id_map.to_index(raw), index)
    assert index.dtype == np.int64 and not id_map.ids.flags.writeable


def test_maps_of_parts_merge_into_the_map_of_the_whole():
    from fastmf._ids import union

    parts = [IdMap([5, 3]), IdMap(np.array([], dtype=np.int64)), IdMap([9, 3, 1])]
    assert union(parts).ids.tolist() == [1, 3, 5, 9]
    with pytest.raises(ValueError, match="mix integers and strings"):
        union([IdMap([1, 2]), IdMap(["a"])])
