"""Validation of implicit-feedback fits: recall and ndcg at k per epoch, early stopping
on ndcg, sampling of validation users, and the errors."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastmf
from fastmf import MatrixFactorization
from fastmf.metrics import ndcg_at_k, recall_at_k
from fastmf.model_selection import per_user_split


def _interactions(n_users=120, n_items=80, density=0.12, seed=None):
    """Counts 1..4 on a random pattern with some low-rank structure, every user with at
    least two interactions, as a CSR matrix."""
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    affinity = u @ v.T + rng.normal(scale=0.5, size=(n_users, n_items))
    cut = np.quantile(affinity, 1.0 - density)
    mask = affinity > cut
    mask[np.arange(n_users), rng.integers(n_items, size=n_users)] = True
    mask[np.arange(n_users), rng.integers(n_items, size=n_users)] = True
    rows, cols = np.nonzero(mask)
    return sp.csr_matrix((rng.integers(1, 5, size=rows.size).astype(np.float64),
                          (rows, cols)), shape=(n_users, n_items))


def _split(seed=None):
    X = _interactions(seed=seed)
    return per_user_split(X, test_size=0.25, random_state=np.random.default_rng(seed))


def _implicit(**params):
    return MatrixFactorization(**{"factors": 6, "solver": "als", "feedback": "implicit",
                                  "alpha": 3.0, "epochs": 5, "random_state": 0,
                                  "dtype": np.float64, **params})


def _metrics_callback(val, train, k, record):
    """A callback recording fastmf.metrics of the model as each epoch left it."""
    def callback(epoch, model, metrics):
        record.append((recall_at_k(model, test=val, train=train, k=k),
                       ndcg_at_k(model, test=val, train=train, k=k)))
    return callback


@pytest.mark.parametrize("k", [20, 5])
def test_history_is_the_metrics_of_each_epoch(k):
    train, val = _split()
    record = []
    model = _implicit(validation_k=k).fit(
        train, validation=val, callback=_metrics_callback(val, train, k, record))
    assert list(model.history_) == ["loss", f"val_recall@{k}", f"val_ndcg@{k}"]
    assert len(record) == len(model.history_[f"val_ndcg@{k}"]) == 5
    recall, ndcg = (np.array(column) for column in zip(*record, strict=True))
    np.testing.assert_allclose(model.history_[f"val_recall@{k}"], recall, rtol=1e-12)
    np.testing.assert_allclose(model.history_[f"val_ndcg@{k}"], ndcg, rtol=1e-12)
    assert len(set(recall.tolist())) > 1          # the model moved between epochs
    # the last epoch is the fitted model's, the training pairs left out of the ranking
    assert model.history_[f"val_ndcg@{k}"][-1] == pytest.approx(
        ndcg_at_k(model, test=val, train=train, k=k), rel=1e-12)
    assert model.best_epoch_ is None


def test_validation_does_not_change_training():
    train, val = _split()
    plain = _implicit().fit(train)
    for params in ({}, {"validation_users": 10}):
        watched = _implicit(**params).fit(train, validation=val)
        for name in ("user_factors_", "item_factors_"):
            np.testing.assert_array_equal(getattr(plain, name), getattr(watched, name))
        assert watched.history_["loss"] == plain.history_["loss"]


def test_early_stopping_keeps_the_best_ndcg_epoch():
    train, val = _split()
    # no penalty and many factors on a small set: validation quality peaks, then falls
    model = _implicit(factors=40, l2=0.0, weighted_l2=False, alpha=40.0, epochs=40,
                      linear_solver="cholesky", early_stopping=2,
                      init_scale=0.3).fit(train, validation=val)
    history = model.history_["val_ndcg@20"]
    best = int(np.argmax(history)) + 1
    assert model.best_epoch_ == best
    assert len(history) == best + 2 < 40
    assert ndcg_at_k(model, test=val, train=train, k=20) == pytest.approx(
        history[best - 1], rel=1e-12)
    assert recall_at_k(model, test=val, train=train, k=20) == pytest.approx(
        model.history_["val_recall@20"][best - 1], rel=1e-12)
    # the parameters are those of the best epoch: a fit of that many epochs has them
    settings = model.get_params()
    settings.update(early_stopping=None, epochs=best)
    short = MatrixFactorization(**settings).fit(train)
    np.testing.assert_array_equal(model.user_factors_, short.user_factors_)
    np.testing.assert_array_equal(model.item_factors_, short.item_factors_)


def test_validation_users_samples_that_many_users():
    train, val = _split()
    k = 10
    model = _implicit(epochs=2, validation_k=k, validation_users=1).fit(train,
                                                                       validation=val)
    # the value is the recall of one of the validation users, ranked by this model
    per_user = []
    for user in np.flatnonzero(np.diff(val.indptr)):
        one = sp.csr_matrix(val.multiply(
            sp.csr_matrix(([1.0], ([user], [0])), shape=(val.shape[0], 1))))
        per_user.append(recall_at_k(model, test=one, train=train, k=k))
    assert model.history_[f"val_recall@{k}"][-1] in per_user
    # the same users again with the same random_state; all users when asked for more
    again = _implicit(epochs=2, validation_k=k, validation_users=1).fit(train,
                                                                       validation=val)
    assert again.history_ == model.history_
    everyone = _implicit(epochs=2, validation_k=k, validation_users=10**6).fit(
        train, validation=val)
    assert everyone.history_[f"val_recall@{k}"][-1] == pytest.approx(
        recall_at_k(everyone, test=val, train=train, k=k), rel=1e-12)


def test_partial_fit_continues_the_history():
    train, val = _split()
    model = _implicit(epochs=2).fit(train, validation=val)
    model.partial_fit(train, epochs=3, validation=val)
    assert len(model.history_["val_ndcg@20"]) == len(model.history_["loss"]) == 5
    assert model.history_["val_ndcg@20"][-1] == pytest.approx(
        ndcg_at_k(model, test=val, train=train, k=20), rel=1e-12)


def test_raw_ids_and_unknown_ids():
    train, val = _split()
    frame = {}
    for name, m in (("train", train), ("val", val)):
        coo = m.tocoo()
        frame[name] = pd.DataFrame({"user": [f"u{x}" for x in coo.row],
                                    "item": [f"i{x}" for x in coo.col],
                                    "count": coo.data})
    stranger = pd.DataFrame({"user": ["nobody", "u0"], "item": ["i0", "nothing"],
                             "count": [1.0, 1.0]})
    with_strangers = pd.concat([frame["val"], stranger], ignore_index=True)
    by_id = _implicit(epochs=2).fit(frame["train"], validation=with_strangers)
    # unknown users and items are left out, as score leaves them out
    known = _implicit(epochs=2).fit(frame["train"], validation=frame["val"])
    assert by_id.history_ == known.history_
    with pytest.raises(ValueError, match="lack"):
        _implicit(epochs=1, unknown="raise").fit(frame["train"], validation=with_strangers)
    with pytest.raises(ValueError, match="raw ids too"):
        _implicit(epochs=1).fit(frame["train"], validation=val)


def test_bad_validation_settings_and_data():
    train, val = _split()
    for params, exc, match in (
            ({"validation_k": 0}, ValueError, "validation_k must be >= 1"),
            ({"validation_k": 2.5}, TypeError, "validation_k must be an integer"),
            ({"validation_users": 0}, ValueError, "validation_users must be >= 1"),
            ({"validation_users": "all"}, TypeError, "validation_users must be an integer"),
    ):
        with pytest.raises(exc, match=match):
            _implicit(**params).fit(train, validation=val)
    for model in (_implicit(), MatrixFactorization(epochs=1)):
        with pytest.raises(ValueError, match="validation data hold no ratings"):
            model.fit(train, validation=sp.csr_matrix(val.shape))
    not_a_number = val.copy()
    not_a_number.data[0] = np.nan
    with pytest.raises(ValueError, match="validation contains a non-finite rating"):
        _implicit().fit(train, validation=not_a_number)
    with pytest.raises(TypeError, match="validation must be a scipy.sparse matrix"):
        _implicit().fit(train, validation=val.toarray())
    negative = val.copy()
    negative.data[:] = -1.0
    with pytest.raises(ValueError, match="no interaction"):
        _implicit().fit(train, validation=negative)
    bigger = sp.csr_matrix((np.ones(1), ([train.shape[0] + 3], [0])),
                           shape=(train.shape[0] + 4, train.shape[1]))
    with pytest.raises(ValueError, match="lack"):
        _implicit(unknown="raise").fit(train, validation=bigger)
    with pytest.raises(ValueError, match="needs validation data"):
        _implicit(early_stopping=2).fit(train)


def test_parameters_are_kept_and_saved(tmp_path):
    train, val = _split()
    model = _implicit(epochs=2, validation_k=7, validation_users=30)
    assert model.get_params()["validation_k"] == 7
    assert model.set_params(validation_k=8).validation_k == 8
    model.fit(train, validation=val)
    model.save(tmp_path / "m.npz")
    loaded = fastmf.load(tmp_path / "m.npz")
    assert loaded.get_params() == model.get_params()
    assert loaded.history_ == model.history_
    assert MatrixFactorization().get_params()["validation_k"] == 20
    assert MatrixFactorization().get_params()["validation_users"] is None


def test_model_file_without_the_parameters_loads_the_defaults(tmp_path):
    train, _ = _split()
    path = tmp_path / "m.npz"
    _implicit(epochs=1, validation_k=7, validation_users=30).fit(train).save(path)
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    meta = json.loads(str(entries["meta"]))
    for name in ("validation_k", "validation_users"):
        del meta["params"][name]          # a file written before these parameters
    entries["meta"] = np.array(json.dumps(meta))
    np.savez(path, **entries)
    loaded = fastmf.load(path)
    assert (loaded.validation_k, loaded.validation_users) == (20, None)


def test_a_fit_without_its_training_pairs_refuses_to_validate(monkeypatch):
    """Ranking without leaving the training pairs out would score a different metric:
    a solver whose fit keeps no pairs gets an error, not silently other figures."""
    from fastmf import _fitting

    train, val = _split()
    monkeypatch.setattr(_fitting, "_seen", lambda pairs, old=None: None)
    with pytest.raises(RuntimeError, match="keeps no training pairs"):
        _implicit(epochs=1).fit(train, validation=val)
