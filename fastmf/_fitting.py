"""How ``fit`` and ``partial_fit`` run, from the ratings to the published state.

The ratings are checked once and then only move forward::

    X ─ check_ratings ─> Ratings                          (_validation)
    starting arrays: initial_arrays / grown_arrays        (_state)
    Ratings ─> solver layout: SGD blocks or ALS CSR       (_sgd, _als); the triples go
    global bias over that layout                          (_state)
    epochs: one kernel call each, history, validation,    (_training)
            early stopping, callback, Ctrl-C
    the trained arrays ─> a new FittedState, published    (_state)

Training works on private arrays: the model keeps its previous state until the new one
is published whole, and a fit that fails publishes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from . import _als, _sgd, _training
from ._ids import IdMap
from ._inputs import raw_triples, read_ratings
from ._loss_table import LOSSES
from ._ranked_validation import ranking_validation
from ._state import (
    FittedState,
    SeenPairs,
    WorkingState,
    global_bias,
    grown_arrays,
    initial_arrays,
    publish,
    training_view,
)
from ._threads import effective_n_threads
from ._training import Validation
from ._validation import Ratings, check_int, check_random_state, check_ratings
from ._warnings import warn_about

if TYPE_CHECKING:
    from ._estimator import MatrixFactorization
    from ._params import Params
    from ._typing import EpochCallback, RatingsLike

Step = Callable[[int], float]


def fit(model: MatrixFactorization, params: Params, X: RatingsLike, *,
        validation: RatingsLike | None, callback: EpochCallback | None) -> None:
    """Fit ``model`` to ``X`` from fresh parameters and publish the result."""
    read = read_ratings(X, params.columns)
    data = check_ratings(read.X, params.dtype, loss=params.loss)
    warn_about(params, data)
    facts = _facts(params, data, read.user_ids, read.item_ids)
    rng = check_random_state(model.random_state)
    check = _validation_metric(model, params, validation, data, facts, rng)
    n_threads = effective_n_threads(model.num_threads)
    arrays = initial_arrays(params, data, rng)
    step, mu, pairs = solver_step(params, data, arrays, rng, n_threads)
    if params.feedback == "implicit":
        facts["seen"] = _seen(pairs)
    del data       # the solver holds its own layout: free the triples while training
    _train(model, params, step, params.epochs,
           WorkingState(arrays, mu, n_threads, {"loss": []}, rng, facts), check, callback)


def partial_fit(model: MatrixFactorization, params: Params, old: FittedState,
                X: RatingsLike, *, epochs: int | None, validation: RatingsLike | None,
                callback: EpochCallback | None) -> None:
    """Continue training the published state ``old`` on ``X`` (rows added for new users
    and items) and publish the result."""
    params.check_continues(old)
    n_epochs = params.epochs if epochs is None else check_int("epochs", epochs, low=0)
    maps = (None if old.user_ids is None or old.item_ids is None
            else (old.user_ids, old.item_ids))
    if maps is None and raw_triples(X, params.columns) is not None:
        raise ValueError("this model was fitted on row indices: continue it with row "
                         "indices (a sparse matrix or index triples), or fit it anew on "
                         "raw ids")
    read = read_ratings(X, params.columns, maps)
    data = check_ratings(read.X, params.dtype, loss=params.loss)
    data = dataclasses.replace(
        data, n_users=max(data.n_users, old.user_factors.shape[0]),
        n_items=max(data.n_items, old.item_factors.shape[0]))
    warn_about(params, data)
    facts = _facts(params, data, read.user_ids, read.item_ids, old)
    # private copies: the published state stays as it is until training succeeds
    arrays, history, rng = old.working_copy()
    if rng is None:
        rng = check_random_state(model.random_state)
    check = _validation_metric(model, params, validation, data, facts, rng)
    n_threads = effective_n_threads(model.num_threads)
    arrays = grown_arrays(params, arrays, data, rng)
    step, _, pairs = solver_step(params, data, arrays, rng, n_threads, mu=old.global_bias)
    if params.feedback == "implicit":
        facts["seen"] = _seen(pairs, old.seen)
    if params.solver == "als":
        step = _keep_unrated_rows(step, arrays, data)
    del data
    _train(model, params, step, n_epochs,
           WorkingState(arrays, old.global_bias, n_threads, history, rng, facts), check,
           callback)


def _facts(params: Params, data: Ratings, user_ids: IdMap | None, item_ids: IdMap | None,
           old: FittedState | None = None) -> dict[str, Any]:
    """What the fitted state keeps beside the parameters: the raw ids of the rows and
    the range of the training ratings (``clip=True``); a ``partial_fit`` widens the
    range of ``old``.  (Implicit fits also keep the pairs they trained on: :func:`_seen`,
    from the solver's layout.)"""
    facts: dict[str, Any] = {"user_ids": user_ids, "item_ids": item_ids}
    if params.feedback == "explicit" and params.loss == "squared" and data.nnz:
        low, high = float(data.values.min()), float(data.values.max())
        if old is not None and old.rating_range is not None:
            low, high = min(low, old.rating_range[0]), max(high, old.rating_range[1])
        facts["rating_range"] = (low, high)
    return facts


def _seen(pairs: sp.csr_matrix | None, old: SeenPairs | None = None) -> SeenPairs | None:
    """The pairs an implicit fit trained on (``score`` leaves them out of each user's
    ranking): the structure of the ALS layout ``pairs`` itself, shared rather than
    copied, joined with those of the state ``old`` a ``partial_fit`` continues."""
    if pairs is None:
        return old
    if old is None:
        return SeenPairs.of(pairs)
    joined = SeenPairs.of(pairs).matrix().maximum(old.matrix(pairs.shape)).tocsr()
    return SeenPairs.of(joined)


def solver_step(params: Params, data: Ratings, arrays: list[np.ndarray], rng: np.random.Generator,
                n_threads: int, mu: float | None = None,
                ) -> tuple[Step, float, sp.csr_matrix | None]:
    """``(step, mu, pairs)``: a function running one epoch of the chosen solver in place
    on ``arrays``, the global bias it uses (computed over the solver's layout unless
    given), and for ALS the users x items CSR matrix of its layout (for SGD, the pairs
    of an implicit fit, otherwise None).
    SGD trains a working copy in its layout's order (``_sgd.Training``), which ``_train``
    has written back to ``arrays`` whenever they are read."""
    if params.solver == "sgd":
        blocks = _sgd.choose_blocks(data.n_users, data.n_items, params.factors,
                                    params.dtype.itemsize, n_threads)
        blocked = _sgd.block_layout(data, blocks, rng, n_threads)
        if mu is None:
            mu = global_bias(params, blocked.values)
        training = _sgd.Training(blocked, arrays, mu,
                                 rng.integers(0, 2**64, size=1, dtype=np.uint64),
                                 params.sgd_settings(), n_threads=n_threads)
        pairs = None
        if params.feedback == "implicit":
            pairs = sp.csr_matrix((np.ones(data.nnz, dtype=np.int8), (data.users, data.items)),
                                  shape=(data.n_users, data.n_items))
            pairs.sort_indices()
        return training, mu, pairs
    cfg = params.als_settings()
    als_data = _als.prepare(data, cfg.model, n_threads)
    if mu is None:
        mu = global_bias(params, als_data.by_user.data)
    sweep_mu = mu
    factors_u, factors_i, bias_u, bias_i = arrays

    def als_sweep(number: int) -> float:
        return _als.sweep(als_data, factors_u, factors_i, bias_u, bias_i, cfg,
                          global_bias=sweep_mu, n_threads=n_threads, number=number)

    return als_sweep, mu, als_data.by_user


def _keep_unrated_rows(step: Step, arrays: list[np.ndarray], data: Ratings) -> Step:
    """Wrap an ALS sweep so rows without a rating in ``data`` keep their values (a sweep
    alone would reset them to zero)."""
    user_free = np.bincount(data.users, minlength=data.n_users) == 0
    item_free = np.bincount(data.items, minlength=data.n_items) == 0
    masks = (user_free, item_free, user_free, item_free)

    def sweep(number: int) -> float:
        kept = [a[m].copy() for a, m in zip(arrays, masks, strict=True)]
        loss = step(number)
        for a, m, rows in zip(arrays, masks, kept, strict=True):
            a[m] = rows
        return loss

    return sweep


def _validation_metric(model: MatrixFactorization, params: Params,
                       validation: RatingsLike | None, data: Ratings, facts: dict[str, Any],
                       rng: np.random.Generator) -> Validation:
    """How the validation data are scored after each epoch (a :class:`Validation`
    without ``evaluate`` when there are none).  Explicit ratings: the RMSE (squared loss)
    or log loss of the predictions; implicit feedback: top-k ranking quality
    (:func:`fastmf._ranked_validation.ranking_validation`).  Validation ratings of users
    or items the training data lack follow the ``unknown`` policy, so ``unknown="raise"``
    refuses them here at once."""
    if validation is None:
        if params.early_stopping is not None:
            raise ValueError(
                f"early_stopping={params.early_stopping} needs validation data: "
                "call fit(X, validation=X_val)")
        return Validation()
    users, items, values = _validation_pairs(params, validation, data, facts)
    if params.feedback == "implicit":
        return ranking_validation(model, params, users, items, values,
                                  (data.n_users, data.n_items), rng)
    logistic = params.loss == "logistic"
    name = "val_log_loss" if logistic else "val_rmse"
    metric = LOSSES[params.loss].value
    assert metric is not None       # explicit feedback: a pointwise loss

    def evaluate() -> dict[str, float]:
        if logistic:
            scores = model.decision_function(users, items, raw_ids=False)
            return {name: float(np.mean(metric(values, scores.astype(np.float64))))}
        # the predictions themselves (clipped), as predict and score give them
        predicted = model.predict(users, items, raw_ids=False).astype(np.float64)
        return {name: float(np.sqrt(np.mean((values - predicted) ** 2)))}

    return Validation(evaluate, name)


def _validation_pairs(params: Params, validation: RatingsLike, data: Ratings,
                      facts: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, items, values)`` of the validation ratings in the training rows; users
    and items the training data lack get the index one past the last row (as predictions
    treat unknown ids), or raise under ``unknown="raise"``."""
    maps = facts["user_ids"], facts["item_ids"]
    if maps[0] is None:
        val = check_ratings(validation, params.dtype, loss=params.loss, allow_empty=True,
                            name="validation")
        users, items = val.users.astype(np.int64), val.items.astype(np.int64)
    else:
        raw = raw_triples(validation, params.columns)
        if raw is None:
            raise ValueError("the model is fitted on raw ids: give validation ratings with "
                             "raw ids too")
        users, items = (m.to_index(ids, missing="ignore") for m, ids in zip(
            maps, raw[:2], strict=True))
        val = check_ratings((np.zeros(len(users), np.int64), np.zeros(len(users), np.int64),
                             raw[2]), params.dtype, loss=params.loss, allow_empty=True,
                             name="validation")
    if not val.nnz:
        raise ValueError("the validation data hold no ratings")
    # ids the training data lacks: beyond its rows, so that predictions treat them as
    # unknown ids
    users = np.where((users < 0) | (users >= data.n_users), data.n_users, users)
    items = np.where((items < 0) | (items >= data.n_items), data.n_items, items)
    if params.unknown == "raise" and ((users == data.n_users).any()
                                      or (items == data.n_items).any()):
        raise ValueError("the validation ratings hold users or items that the training "
                         "ratings lack (unknown='raise')")
    return users, items, val.values


def _train(model: MatrixFactorization, params: Params, step: Step, epochs: int,
           work: WorkingState, check: Validation, callback: Any) -> None:
    """Run the epochs on the private arrays of ``work`` and publish the result.  This
    thread sees the parameters as they train; other threads see the published state
    until the end.  A failure publishes nothing; a Ctrl-C publishes the whole epochs
    done so far (exactly those ``history_`` records) and raises KeyboardInterrupt."""
    with training_view(model, work.state(params)):
        try:
            best = _training.run_epochs(
                step, epochs, history=work.history, arrays=work.arrays,
                evaluate=check.evaluate, monitor=check.monitor,
                patience=params.early_stopping, higher_is_better=check.higher_is_better,
                callback=callback, model=model, progress=params.verbose,
                desc=f"fastmf {params.solver}",
                sync=step.sync if isinstance(step, _sgd.Training) else None)
        except _training.Interrupted:
            publish(model, work.state(params))
            raise KeyboardInterrupt from None
    state = work.state(params, best_epoch=best)
    if not state.scores_bounded():
        raise _sgd.DivergenceError(
            f"training left parameters so large that predictions would overflow "
            f"{state.dtype.name}: the ratings are on an extreme scale (or the learning "
            "rate is too high); rescale them, or use dtype=float64")
    publish(model, state)
