"""save/load, pickle, deepcopy and clone keep a model exactly."""

import json

import numpy as np
import pytest
from conftest import random_ratings

import fastmf
from fastmf import MatrixFactorization


def _fitted(**params):
    X = random_ratings(seed=None, binary=params.get("loss") == "logistic")
    return MatrixFactorization(**{"factors": 5, "epochs": 3, "random_state": 4,
                                  **params}).fit(X), X


@pytest.mark.parametrize("params", [
    {},
    {"loss": "logistic", "dtype": np.float64},
    {"solver": "als", "feedback": "implicit", "alpha": 2.0},
    {"solver": "als", "biases": False, "l2_bias": 0.5},
])
def test_save_load_round_trip_is_exact(tmp_path, params):
    model, X = _fitted(**params)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastmf.load(path)
    assert loaded.get_params() == model.get_params()
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        got, want = getattr(loaded, name), getattr(model, name)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert loaded.global_bias_ == model.global_bias_
    assert loaded.history_ == model.history_
    u, i = X.nonzero()
    np.testing.assert_array_equal(loaded.predict(u, i), model.predict(u, i))


def test_save_adds_suffix_and_load_finds_it(tmp_path):
    model, _ = _fitted()
    model.save(tmp_path / "m")
    assert (tmp_path / "m.npz").exists()
    assert fastmf.load(tmp_path / "m").factors == 5


def test_file_from_another_format_version_is_refused(tmp_path):
    model, _ = _fitted()
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    meta = json.loads(str(entries["meta"]))
    meta["format_version"] = 99
    entries["meta"] = np.array(json.dumps(meta))
    np.savez(path, **entries)
    with pytest.raises(ValueError, match="format version 99"):
        fastmf.load(path)


def test_not_a_model_file(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="not a fastmf model"):
        fastmf.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a fastmf model"):
        fastmf.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        fastmf.load(tmp_path / "missing.npz")


def test_save_needs_a_fitted_model(tmp_path):
    with pytest.raises(AttributeError, match="not fitted"):
        MatrixFactorization().save(tmp_path / "m.npz")


def test_generator_random_state_is_not_stored(tmp_path):
    model, _ = _fitted(random_state=np.random.default_rng(0))
    model.save(tmp_path / "m.npz")
    assert fastmf.load(tmp_path / "m.npz").random_state is None
