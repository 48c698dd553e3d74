"""Training feedback: history, validation, early stopping, callbacks, interrupts."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

from fastmf import MatrixFactorization
from fastmf._loss_table import logistic_value


def _split(X, seed=None):
    """Random 80/20 split of a sparse matrix's entries, both with X's shape."""
    coo = X.tocoo()
    test = np.random.default_rng(seed).random(coo.nnz) < 0.2
    parts = [sp.csr_matrix((coo.data[m], (coo.row[m], coo.col[m])), shape=X.shape)
             for m in (~test, test)]
    return parts[0], parts[1]


def _rmse(model, X):
    u, i = X.nonzero()
    return float(np.sqrt(np.mean((model.predict(u, i) - np.asarray(X[u, i]).ravel()) ** 2)))


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_validation_history_matches_final_model(solver):
    train, val = _split(random_ratings(200, 150, 0.2, seed=None))
    model = MatrixFactorization(6, solver=solver, epochs=6, l2=0.1, random_state=0,
                                dtype=np.float64).fit(train, validation=val)
    assert list(model.history_) == ["loss", "val_rmse"]
    assert len(model.history_["val_rmse"]) == 6
    assert model.history_["loss"] is model.training_loss_
    assert model.history_["val_rmse"][-1] == pytest.approx(_rmse(model, val), rel=1e-9)
    assert model.best_epoch_ is None


def test_validation_log_loss_for_logistic():
    train, val = _split(random_ratings(200, 150, 0.2, seed=None, binary=True))
    model = MatrixFactorization(4, loss="logistic", epochs=3, learning_rate=0.05,
                                random_state=0, dtype=np.float64).fit(train, validation=val)
    coo = val.tocoo()       # labels 0 are stored entries too (nonzero() would skip them)
    u, i, y = coo.row, coo.col, coo.data
    expected = np.mean(logistic_value(y, model.decision_function(u, i)))
    assert model.history_["val_log_loss"][-1] == pytest.approx(expected, rel=1e-9)


def test_early_stopping_restores_best_epoch():
    train, val = _split(random_ratings(150, 100, 0.15, seed=None))
    # no penalty and a large step: validation error turns up after a few epochs
    model = MatrixFactorization(20, epochs=60, learning_rate=0.05, l2=0.0, random_state=0,
                                early_stopping=3, dtype=np.float64)
    model.fit(train, validation=val)
    history = model.history_["val_rmse"]
    best = int(np.argmin(history)) + 1
    assert model.best_epoch_ == best
    assert len(history) == best + 3 < 60
    assert _rmse(model, val) == pytest.approx(min(history), rel=1e-9)


def test_early_stopping_needs_validation(ratings):
    with pytest.raises(ValueError, match="needs validation data"):
        MatrixFactorization(early_stopping=2).fit(ratings)
    with pytest.raises(ValueError, match="early_stopping must be >= 1"):
        MatrixFactorization(early_stopping=0).fit(ratings, validation=ratings)


def test_validation_checks(ratings):
    big = sp.random(ratings.shape[0] + 5, ratings.shape[1], density=0.1, format="csr",
                    random_state=0)
    with pytest.raises(ValueError, match="validation ratings hold users or items that the "
                                         "training ratings lack"):
        MatrixFactorization(epochs=1, unknown="raise").fit(ratings, validation=big)


def test_callback_sees_usable_model_and_can_stop(ratings):
    seen = []

    def callback(epoch, model, metrics):
        seen.append((epoch, metrics["loss"], model.predict([0], [0])[0]))
        return epoch < 3

    model = MatrixFactorization(4, epochs=10, random_state=0).fit(ratings, callback=callback)
    assert [e for e, _, _ in seen] == [1, 2, 3]
    assert len(model.training_loss_) == 3
    assert [loss for _, loss, _ in seen] == model.training_loss_
    assert len({p for _, _, p in seen}) == 3        # the model moved between epochs


def test_keyboard_interrupt_leaves_usable_model(ratings):
    def interrupt(epoch, model, metrics):
        if epoch == 2:
            raise KeyboardInterrupt

    model = MatrixFactorization(4, epochs=10, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(ratings, callback=interrupt)
    assert len(model.training_loss_) == 2
    assert np.isfinite(model.predict([0, 1], [2, 3])).all()


def test_divergence_leaves_model_unfitted():
    X = random_ratings(seed=None)
    X.data *= 1e4
    model = MatrixFactorization(4, epochs=50, learning_rate=5.0, random_state=0)
    with pytest.raises(FloatingPointError):
        model.fit(X)
    assert not hasattr(model, "user_factors_")
    with pytest.raises(AttributeError, match="not fitted"):
        model.predict([0], [0])


def test_verbose_progress_bar_optional(ratings, capsys):
    model = MatrixFactorization(3, epochs=2, verbose=True, random_state=0).fit(ratings)
    assert len(model.training_loss_) == 2
    with pytest.raises(TypeError, match="verbose must be a bool"):
        MatrixFactorization(verbose="yes").fit(ratings)


def test_partial_fit_continues_like_one_long_fit_for_als(ratings):
    """ALS has no per-epoch randomness: 3 + 2 sweeps equal 5 sweeps."""
    kw = dict(factors=4, solver="als", l2=0.5, random_state=0, dtype=np.float64)
    five = MatrixFactorization(epochs=5, **kw).fit(ratings)
    split = MatrixFactorization(epochs=3, **kw).fit(ratings).partial_fit(ratings, epochs=2)
    np.testing.assert_allclose(split.user_factors_, five.user_factors_, rtol=1e-12)
    assert split.training_loss_ == pytest.approx(five.training_loss_, rel=1e-12)


def test_partial_fit_sgd_improves_and_keeps_history(ratings):
    model = MatrixFactorization(4, epochs=2, learning_rate=0.02, random_state=0).fit(ratings)
    first = list(model.training_loss_)
    model.partial_fit(ratings, epochs=3)
    assert model.training_loss_[:2] == first and len(model.training_loss_) == 5
    assert model.training_loss_[-1] < first[-1]


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_partial_fit_grows_for_new_users_and_items(solver):
    X = random_ratings(40, 30, 0.3, seed=None)
    model = MatrixFactorization(3, solver=solver, epochs=2, random_state=0).fit(X)
    before_u = model.user_factors_.copy()
    # ratings of 5 new users on 4 new items (and on item 0)
    users = np.repeat(np.arange(40, 45), 3)
    items = np.tile([30, 33, 0], 5)
    values = np.full(users.size, 4.0)
    model.partial_fit((users, items, values), epochs=1)
    assert model.user_factors_.shape == (45, 3) and model.item_factors_.shape == (34, 3)
    assert model.user_bias_.shape == (45,) and model.item_bias_.shape == (34,)
    # users that were not in the new batch are untouched
    np.testing.assert_array_equal(model.user_factors_[:40], before_u)
    assert np.isfinite(model.predict([44, 44], [33, 0])).all()
    assert not model.item_factors_[31].any()     # item 31 still has no rating


def test_partial_fit_refuses_to_change_the_model(ratings):
    model = MatrixFactorization(4, epochs=1, random_state=0).fit(ratings)
    with pytest.raises(ValueError, match="cannot change factors"):
        model.set_params(factors=5).partial_fit(ratings)
    model.set_params(factors=4, dtype=np.float64)
    with pytest.raises(ValueError, match="cannot change dtype"):
        model.partial_fit(ratings)


def test_partial_fit_on_unfitted_model_is_fit(ratings):
    a = MatrixFactorization(4, random_state=1).partial_fit(ratings, epochs=2)
    b = MatrixFactorization(4, epochs=2, random_state=1).fit(ratings)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)


def test_plot_history_saves_png(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    train, val = _split(random_ratings(100, 80, 0.2, seed=None))
    model = MatrixFactorization(4, epochs=8, learning_rate=0.05, l2=0.0, early_stopping=2,
                                random_state=0).fit(train, validation=val)
    from fastmf import plot_history

    fig = plot_history(model)
    path = tmp_path / "history.png"
    fig.savefig(path)
    assert path.stat().st_size > 5000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert "training loss" in labels and "val_rmse" in labels


def test_diverging_partial_fit_leaves_the_model_as_it_was():
    """partial_fit used to train the published arrays in place: when it diverged they
    were already damaged (and the model was then unfitted)."""
    X = random_ratings(40, 30, 0.3, seed=None)
    model = MatrixFactorization(4, epochs=2, random_state=0).fit(X)
    arrays = [model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_]
    copies = [a.copy() for a in arrays]
    history = {k: list(v) for k, v in model.history_.items()}
    Y = X.copy()
    Y.data *= 1e6
    with pytest.raises(FloatingPointError, match="diverged"):
        model.partial_fit(Y, epochs=3)
    for a, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(a, c)
    for name, c in zip(("user_factors_", "item_factors_", "user_bias_", "item_bias_"),
                       copies, strict=True):
        np.testing.assert_array_equal(getattr(model, name), c)
    assert model.history_ == history
    # and training continues from there exactly as if the failed call never happened
    again = MatrixFactorization(4, epochs=2, random_state=0).fit(X).partial_fit(X, epochs=1)
    model.partial_fit(X, epochs=1)
    np.testing.assert_array_equal(model.user_factors_, again.user_factors_)


def test_failed_refit_keeps_the_previous_fit(ratings):
    model = MatrixFactorization(4, epochs=2, random_state=0).fit(ratings)
    before = model.predict([0, 1], [2, 3])
    bad = ratings.copy()
    bad.data *= 1e6
    with pytest.raises(FloatingPointError):
        model.set_params(learning_rate=1.0).fit(bad)
    np.testing.assert_array_equal(model.predict([0, 1], [2, 3]), before)


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_ctrl_c_during_an_epoch_publishes_exactly_the_recorded_epochs(solver, monkeypatch):
    """Ctrl-C landing while the kernel runs epoch 3 used to leave the parameters one epoch
    ahead of history_; now the epoch finishes, is recorded, and training stops."""
    import signal

    from fastmf import _als, _sgd

    module, name = (_sgd, "epoch") if solver == "sgd" else (_als, "sweep")
    original = getattr(module, name)

    def epoch_then_ctrl_c(*args, number=1, **kwargs):
        loss = original(*args, number=number, **kwargs)
        if number == 3:
            signal.raise_signal(signal.SIGINT)      # as if Ctrl-C came during the epoch
        return loss

    monkeypatch.setattr(module, name, epoch_then_ctrl_c)
    X = random_ratings(60, 40, 0.3, seed=None)
    params = {"factors": 4, "solver": solver, "epochs": 10, "random_state": 0, "l2": 0.1}
    model = MatrixFactorization(**params)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    monkeypatch.undo()
    assert len(model.history_["loss"]) == 3
    three = MatrixFactorization(**{**params, "epochs": 3}).fit(X)
    np.testing.assert_array_equal(model.user_factors_, three.user_factors_)
    np.testing.assert_array_equal(model.item_bias_, three.item_bias_)
    assert model.history_ == three.history_
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_ctrl_c_interrupts_at_once_and_keeps_the_old_state(monkeypatch):
    import signal

    from fastmf import _sgd

    original = _sgd.epoch

    def twice(*args, number=1, **kwargs):
        if number == 2:
            signal.raise_signal(signal.SIGINT)      # deferred to the end of the epoch
            signal.raise_signal(signal.SIGINT)      # a second one interrupts now
        return original(*args, number=number, **kwargs)

    X = random_ratings(40, 30, 0.3, seed=None)
    model = MatrixFactorization(4, epochs=5, random_state=0).fit(X)
    before = model.user_factors_.copy()
    monkeypatch.setattr(_sgd, "epoch", twice)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    np.testing.assert_array_equal(model.user_factors_, before)
    assert len(model.history_["loss"]) == 5
