"""Training feedback: history, validation, early stopping, callbacks, interrupts."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

from fastmf import MatrixFactorization
from fastmf._losses import logistic_value


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
    with pytest.raises(ValueError, match="validation users contains index"):
        MatrixFactorization(epochs=1).fit(ratings, validation=big)
    with pytest.raises(ValueError, match="not available for feedback='implicit'"):
        MatrixFactorization(solver="als", feedback="implicit", epochs=1).fit(
            ratings, validation=ratings)


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
