"""Model files are untrusted input: fastmf.load checks every entry and raises
fastmf.ModelFileError (a ValueError) for anything malformed; save is atomic."""

import json
import os
import zipfile

import numpy as np
import pytest
from conftest import random_ratings

import fastmf
from fastmf import MatrixFactorization, ModelFileError


@pytest.fixture
def saved(tmp_path):
    """A fitted model (k=8, 50 users, 40 items), its file and the file's entries."""
    X = random_ratings(50, 40, 0.3, seed=None)
    model = MatrixFactorization(8, epochs=2, random_state=0).fit(X)
    path = tmp_path / "good.npz"
    model.save(path)
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    return model, path, entries


def _rewrite(path, entries, **changes):
    """The file ``path`` written with ``entries`` changed (None drops an entry); ``meta``
    may be given as a dict of meta keys to change."""
    entries = dict(entries)
    meta = changes.pop("meta", None)
    if meta is not None:
        doc = json.loads(str(entries["meta"]))
        doc.update(meta)
        entries["meta"] = np.array(json.dumps(doc))
    for name, value in changes.items():
        if value is None:
            entries.pop(name, None)
        else:
            entries[name] = value
    np.savez(path, **entries)
    return path


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
    assert fastmf.ModelFileError is ModelFileError


# Crafted files that made predict read out of bounds (and partial_fit corrupt the heap)
# before load checked the arrays against each other.
@pytest.mark.parametrize("changes, match", [
    ({"item_factors": np.zeros((40, 2), np.float32)}, "item_factors"),     # k=2 beside k=8
    ({"user_bias": np.zeros(1, np.float32)}, "user_bias"),                  # one-row bias
    ({"user_factors": np.zeros((1, 8), np.float32),                         # one-row users
      "user_bias": np.zeros(1, np.float32), "item_bias": np.zeros(3, np.float32)},
     "item_bias"),
    ({"item_factors": np.zeros((40, 8, 1), np.float32)}, "dimensions"),
    ({"item_factors": np.zeros((40, 8), np.float64)}, "dtype"),
    ({"item_factors": np.zeros((40, 8), np.int32)}, "dtype"),
    ({"user_bias": np.array(["x"] * 50)}, "dtype"),
    ({"user_factors": np.full((50, 8), np.nan, np.float32)}, "NaN"),
    ({"item_bias": np.full(40, np.inf, np.float32)}, "NaN or infinite"),
    ({"user_factors": None}, "no 'user_factors'"),
    ({"user_ids": np.arange(49), "item_ids": np.arange(40)}, "user_ids"),  # too few ids
    ({"user_ids": np.arange(50), "item_ids": np.arange(40) % 39}, "more than once"),
    ({"item_ids": np.arange(40)}, "one axis only"),
    ({"meta": {"rating_range": [5.0, 1.0]}}, "not a range"),
    ({"meta": {"rating_range": [1.0, "5"]}}, "rating_range"),
    ({"meta": {"rating_range": 3}}, "rating_range"),
    ({"meta": {"params": {"factors": 8, "bogus": 1}}}, "unknown parameters"),
    ({"meta": {"params": {"factors": 4}}}, "factors=4"),
    ({"meta": {"params": {"factors": "8"}}}, "invalid parameters"),
    ({"meta": {"params": {"factors": 8, "dtype": "float64"}}}, "dtype"),
    ({"meta": {"params": {"factors": 8, "num_threads": 0}}}, "num_threads"),
    ({"meta": {"params": 5}}, "params"),
    ({"meta": {"history": 5}}, "history"),
    ({"meta": {"history": {"loss": ["a"]}}}, "history"),
    ({"meta": {"global_bias": "3"}}, "global_bias"),
    ({"meta": {"global_bias": float("nan")}}, "global_bias"),
    ({"meta": {"best_epoch": 7}}, "best_epoch"),
    ({"meta": {"n_threads": -1}}, "n_threads"),
    ({"meta": {"fitted": {"loss": "hinge", "biases": True, "feedback": "explicit"}}},
     "fitted"),
    ({"meta": {"fitted": [1]}}, "fitted"),
    ({"meta": {"n_users": 10**8}}, "n_users"),
    ({"meta": {"format_version": "1"}}, "format version"),
    ({"meta": {"format": "other"}}, "format"),
])
def test_inconsistent_or_malformed_entries_are_refused(saved, changes, match):
    _, path, entries = saved
    _rewrite(path, entries, **changes)
    with pytest.raises(ValueError, match=match) as info:
        fastmf.load(path)
    assert isinstance(info.value, ModelFileError)


def test_a_large_array_beside_small_ones_is_refused_before_reading_it(saved):
    """A ~400 KB file whose compressed item_factors claim (10**8, 1) next to one-row
    arrays: the headers disagree, so nothing of that size is ever read."""
    _, path, entries = saved
    doc = json.loads(str(entries["meta"]))
    doc["params"]["factors"] = 1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, value in (("meta", np.array(json.dumps(doc))),
                            ("user_factors", np.ones((1, 1), np.float32)),
                            ("user_bias", np.zeros(1, np.float32)),
                            ("item_bias", np.zeros(1, np.float32)),
                            ("item_factors", np.zeros((10**8, 1), np.float32))):
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, value)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ModelFileError, match=r"item_bias.*\(100000000,\)"):
        fastmf.load(path)


def test_header_that_lies_about_the_data_size_is_refused(saved):
    _, path, entries = saved
    with zipfile.ZipFile(path, "w") as z:
        for name, value in entries.items():
            data = np.lib.format.header_data_from_array_1_0(value)
            with z.open(f"{name}.npy", "w") as f:
                if name == "item_factors":       # header says (400, 8), data is (40, 8)
                    data["shape"] = (400, 8)
                    np.lib.format.write_array_header_1_0(f, data)
                    f.write(value.tobytes())
                else:
                    np.lib.format.write_array(f, value)
    with pytest.raises(ModelFileError, match="item_factors"):
        fastmf.load(path)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "flipped"])
def test_damaged_files_raise_model_file_error(saved, damage):
    _, path, _ = saved
    data = path.read_bytes()
    if damage == "empty":
        data = b""
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = os.urandom(2000)
    else:                                   # one byte of the parameter data changed
        data = bytearray(data)
        at = data.index(b"user_factors.npy") + 400
        data[at] ^= 0xFF
        data = bytes(data)
    path.write_bytes(data)
    with pytest.raises(ModelFileError):
        fastmf.load(path)


def test_missing_file_and_directory_are_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmf.load(tmp_path / "missing.npz")
    with pytest.raises(OSError):
        fastmf.load(tmp_path)


def test_valid_file_still_loads_exactly(saved):
    model, path, entries = saved
    loaded = fastmf.load(path)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    # a file without the new count entries (older writer) loads as well
    doc = json.loads(str(entries["meta"]))
    del doc["n_users"], doc["n_items"]
    np.savez(path, **{**entries, "meta": np.array(json.dumps(doc))})
    np.testing.assert_array_equal(fastmf.load(path).item_bias_, model.item_bias_)


@pytest.mark.parametrize("params", [
    {"factors": np.int64(4)},
    {"learning_rate": np.float32(0.01)},
    {"biases": np.bool_(True)},
    {"num_threads": np.int32(2), "epochs": np.int16(2), "random_state": np.uint8(3),
     "l2": np.float16(0.02), "l2_bias": np.float64(0.01)},
])
def test_numpy_scalar_parameters_can_be_saved(tmp_path, params):
    X = random_ratings(30, 20, 0.3, seed=None)
    model = MatrixFactorization(**{"factors": 4, "epochs": 1, **params}).fit(X)
    model.save(tmp_path / "m.npz")
    loaded = fastmf.load(tmp_path / "m.npz")
    for name, value in params.items():
        assert getattr(loaded, name) == value
    u, i = X.nonzero()
    np.testing.assert_array_equal(loaded.predict(u, i), model.predict(u, i))


def test_save_is_atomic(tmp_path, monkeypatch):
    """A save that fails midway leaves the previous file intact and no temporary file."""
    X = random_ratings(30, 20, 0.3, seed=None)
    first = MatrixFactorization(4, epochs=1, random_state=0).fit(X)
    second = MatrixFactorization(4, epochs=3, random_state=1).fit(X)
    path = tmp_path / "m.npz"
    first.save(path)
    before = path.read_bytes()
    write_array = np.lib.format.write_array
    calls = []

    def failing_write(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:         # some entries are written already
            fp.write(b"\0" * 100)
            raise OSError("disk full")
        return write_array(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        second.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    np.testing.assert_array_equal(fastmf.load(path).user_factors_, first.user_factors_)
    second.save(path)
    np.testing.assert_array_equal(fastmf.load(path).user_factors_, second.user_factors_)


def test_save_into_a_missing_folder_is_a_clean_error(tmp_path):
    model = MatrixFactorization(4, epochs=1).fit(random_ratings(20, 10, 0.5))
    with pytest.raises(FileNotFoundError):
        model.save(tmp_path / "missing" / "m.npz")


def test_loaded_arrays_are_read_only(saved):
    _, path, _ = saved
    loaded = fastmf.load(path)
    with pytest.raises(ValueError, match="read-only"):
        loaded.user_factors_[0, 0] = 1.0
