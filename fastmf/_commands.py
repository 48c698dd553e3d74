"""The commands of the command line (:mod:`fastmf.__main__` parses their arguments and
turns their errors into one line).

Files are read with :func:`fastmf.io.load_movielens`; a fitted model keeps the files'
raw ids, so ids on the command line and in files are raw ids (``--no-raw-ids`` reads
them as row indices, for a model fitted on row indices from Python).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

# The synthetic demo data has ratings/50 users and ratings/200 items: below this many
# ratings there are fewer (user, item) pairs than ratings.
DEMO_MIN_RATINGS = 10_000


class CLIError(Exception):
    """A user mistake reported as one line, without a traceback."""


def _model_kwargs(args: Any) -> dict[str, Any]:
    """The estimator's parameters given on the command line (None: its default)."""
    return dict(factors=args.factors, epochs=args.epochs, learning_rate=args.learning_rate,
                l2=args.l2, weighted_l2=args.weighted_l2, init_scale=args.init_scale,
                num_threads=args.threads, random_state=args.seed)


def _reference_rate(train: Any, model: Any, n_sample: int, seed: int) -> float:
    """Ratings per second of one NumPy-reference epoch on the first ``n_sample`` ratings,
    from the fitted model's parameters (copies)."""
    from . import reference
    from ._params import check_params

    p = check_params(model)
    users, items, values = (a[:n_sample] for a in train)
    factors_u, factors_i, bias_u, bias_i = (
        a.astype(np.float64) for a in (model.user_factors_, model.item_factors_,
                                       model.user_bias_, model.item_bias_))
    order = np.random.default_rng(seed).permutation(users.size)
    start = time.perf_counter()
    reference.sgd_epoch(users, items, values.astype(np.float64), order, factors_u,
                        factors_i, bias_u, bias_i, model.global_bias_,
                        learning_rate=p.learning_rate, l2=p.l2, l2_bias=p.l2_bias)
    return float(users.size / (time.perf_counter() - start))


def demo(args: Any) -> int:
    from . import MatrixFactorization, datasets, io, model_selection
    from .metrics import rmse

    if args.path is None and args.ratings < DEMO_MIN_RATINGS:
        raise CLIError(f"--ratings must be >= {DEMO_MIN_RATINGS:,} (the synthetic data "
                       f"has ratings/50 users and ratings/200 items), got {args.ratings}")
    if args.epochs < 1:
        raise CLIError(f"--epochs must be >= 1, got {args.epochs}")
    start = time.perf_counter()
    if args.path:
        data = io.load_movielens(args.path).triples
        source = args.path
    else:
        n = args.ratings
        n_users, n_items = -(-n // 50), -(-n // 200)   # rounded up: enough pairs
        data = datasets.make_ratings(n_users, n_items, n, seed=args.seed)
        source = f"synthetic: {n_users:,} users x {n_items:,} items"
    # the parts keep the shape of the whole data: every test user and item has a row
    train, test = model_selection.train_test_split(data, 0.2, random_state=args.seed)
    print(f"data    : {source}, {len(data[0]):,} ratings "
          f"({len(train[0]):,} train / {len(test[0]):,} test), "
          f"ready in {time.perf_counter() - start:.1f} s")

    model = MatrixFactorization(**_model_kwargs(args))
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    rate = len(train[0]) * args.epochs / seconds
    print(f"model   : {model!r}")
    print(f"fit     : {seconds:.2f} s on {model.n_threads_} thread(s), "
          f"{rate / 1e6:.1f}M rating updates/s (block layout included)")
    print(f"loss    : {model.training_loss_[0]:.4f} (epoch 1) -> "
          f"{model.training_loss_[-1]:.4f} (epoch {args.epochs})")
    train_rmse = rmse(train[2], model.predict(train[0], train[1]))
    test_rmse = rmse(test[2], model.predict(test[0], test[1]))
    print(f"RMSE    : train {train_rmse:.4f}, test {test_rmse:.4f} "
          f"(predicting the mean: {np.std(test[2]):.4f})")
    n_ref = min(20_000, len(train[0]))
    ref = _reference_rate(train, model, n_ref, args.seed)
    print(f"NumPy reference: {ref / 1e3:.0f}K rating updates/s on one epoch of "
          f"{n_ref:,} ratings; fastmf is {rate / ref:,.0f}x faster")
    return 0


def _load_ratings(path: str) -> Any:
    from .io import load_movielens

    try:
        return load_movielens(path)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read ratings from {path}: {exc}") from exc


def _load_model(path: str, raw_ids: bool) -> Any:
    """A saved model; with ``raw_ids`` it must hold the raw ids `fastmf fit` stores."""
    from . import load

    try:
        model = load(path)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read model {path}: {exc}") from exc
    if raw_ids and model.user_ids_ is None:
        raise CLIError(f"the model {path} has no mapping of raw ids (it was not fitted by "
                       "`fastmf fit` or on raw ids): pass --no-raw-ids to use row indices")
    return model


def _id(model: Any, text: str, raw_ids: bool, axis: str) -> Any:
    """An id given on the command line, as the model's ids are (int or str)."""
    ids = model.user_ids_ if axis == "user" else model.item_ids_
    if raw_ids and ids is not None and ids.dtype.kind in "US":
        return text
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"{axis} {text!r} is not an integer id") from None


def _file_ids(model: Any, data: Any, raw_ids: bool) -> tuple[np.ndarray, np.ndarray]:
    """The users and items of a ratings file as the model reads them."""
    users, items = data.user_ids[data.users], data.item_ids[data.items]
    if raw_ids and (model.user_ids_.dtype.kind in "US") != (users.dtype.kind in "US"):
        raise CLIError("the model's ids and the file's ids are not of one kind "
                       "(integers or strings)")
    return users, items


def fit(args: Any) -> int:
    from . import MatrixFactorization
    from .data import IdMap, Interactions

    output = Path(args.output)
    if not output.parent.is_dir():           # before spending the time on a fit
        raise CLIError(f"cannot write {output}: no folder {output.parent}")
    data = _load_ratings(args.data)
    values = data.ratings
    if args.loss == "logistic":
        values = (values >= args.threshold).astype(np.float32)
    ratings = Interactions(sp.csr_matrix((values, (data.users, data.items)),
                                         shape=data.shape),
                           IdMap.from_ids(data.user_ids), IdMap.from_ids(data.item_ids))
    if ratings.matrix.nnz != values.size:
        from ._validation import find_duplicate

        order = np.lexsort((data.items, data.users))
        u, i = find_duplicate(data.users[order], data.items[order]) or (0, 0)
        raise CLIError(f"{args.data} holds more than one rating for (user "
                       f"{data.user_ids[u]}, item {data.item_ids[i]})")
    model = MatrixFactorization(solver=args.solver, loss=args.loss, feedback=args.feedback,
                                alpha=args.alpha, linear_solver=args.linear_solver,
                                block_size=args.block_size, l2_exponent=args.l2_exponent,
                                negatives=args.negatives, temperature=args.temperature,
                                **_model_kwargs(args))

    def report(epoch: int, _model: Any, metrics: dict[str, float]) -> None:
        print(f"epoch {epoch:3d}/{args.epochs}: training loss {metrics['loss']:.5f}",
              flush=True)

    start = time.perf_counter()
    model.fit(ratings, callback=report)
    seconds = time.perf_counter() - start
    print(f"fitted {values.size:,} ratings of {data.shape[0]:,} users x {data.shape[1]:,} "
          f"items in {seconds:.2f} s on {model.n_threads_} thread(s)")
    model.save(args.output)
    print(f"saved {args.output}")
    return 0


def evaluate(args: Any) -> int:
    from . import metrics

    model = _load_model(args.model, args.raw_ids)
    data = _load_ratings(args.test)
    users, items = _file_ids(model, data, args.raw_ids)
    if model.feedback == "explicit" and model.loss == "squared":
        pred = model.predict(users, items, raw_ids=args.raw_ids).astype(np.float64)
        unknown = _unknown_pairs(model, users, items, args.raw_ids)
        y = data.ratings.astype(np.float64)
        print(f"ratings : {y.size:,} scored, {unknown:,} of users or items the model "
              "does not know (scored from the biases)")
        print(f"RMSE    : {metrics.rmse(y, pred):.5f}")
        print(f"MAE     : {metrics.mae(y, pred):.5f}")
        return 0
    relevant = (data.ratings >= args.threshold if model.loss == "logistic"
                else data.ratings > 0)
    if model.loss == "logistic":
        labels = relevant.astype(np.float64)
        pred = model.predict(users, items, raw_ids=args.raw_ids).astype(np.float64)
        print(f"log loss: {metrics.log_loss(labels, pred):.5f}")
        if 0 < labels.sum() < labels.size:
            print(f"AUC     : {metrics.roc_auc(labels, pred):.5f} (of the labels)")
    test = _matrix(model, users[relevant], items[relevant], args.raw_ids)
    train = None
    if args.train is not None:
        train_data = _load_ratings(args.train)
        train = _matrix(model, *_file_ids(model, train_data, args.raw_ids), args.raw_ids)
    if test.nnz == 0:
        raise CLIError(f"no relevant rating in {args.test} is of a user and item the "
                       "model knows")
    k = args.k
    n_users = int(np.count_nonzero(np.diff(test.indptr)))
    left_out = ("training items left out" if train is not None
                else "nothing left out (see --train)")
    print(f"ranking : {test.nnz:,} relevant test items of {n_users:,} users, {left_out}")
    for name, metric in (("precision", metrics.precision_at_k),
                         ("recall", metrics.recall_at_k), ("ndcg", metrics.ndcg_at_k)):
        print(f"{name}@{k}: {metric(model, test=test, train=train, k=k):.5f}")
    print(f"AUC     : {metrics.roc_auc_per_user(model, test=test, train=train):.5f} "
          "(per user, over all items)")
    return 0


def _rows_of(model: Any, axis: str, ids: Any, raw_ids: bool) -> np.ndarray:
    """Row indices of user or item ids in the model, -1 for ids it does not know."""
    from .data import IdMap

    ids = np.asarray(ids)
    if raw_ids:
        known = model.user_ids_ if axis == "user" else model.item_ids_
        return IdMap.from_ids(known).to_index(ids, missing="ignore")
    n = (model.user_factors_ if axis == "user" else model.item_factors_).shape[0]
    return np.where((ids >= 0) & (ids < n), ids, -1)


def _unknown_pairs(model: Any, users: Any, items: Any, raw_ids: bool) -> int:
    known = ((_rows_of(model, "user", users, raw_ids) >= 0)
             & (_rows_of(model, "item", items, raw_ids) >= 0))
    return int((~known).sum())


def _matrix(model: Any, users: Any, items: Any, raw_ids: bool) -> sp.csr_matrix:
    """The model's users x items matrix of the pairs it knows."""
    u = _rows_of(model, "user", users, raw_ids)
    i = _rows_of(model, "item", items, raw_ids)
    known = (u >= 0) & (i >= 0)
    shape = (model.user_factors_.shape[0], model.item_factors_.shape[0])
    out = sp.csr_matrix((np.ones(int(known.sum())), (u[known], i[known])), shape=shape)
    out.data[:] = 1.0
    return out


def _query(model: Any, args: Any, axis: str, given: str) -> Any:
    """The one user or item a command asks about, checked to be in the model."""
    if args.n < 1:
        raise CLIError(f"-n must be >= 1, got {args.n}")
    query = _id(model, given, args.raw_ids, axis)
    if _rows_of(model, axis, [query], args.raw_ids)[0] < 0:
        raise CLIError(f"{axis} {given} is not in the model")
    return query


def recommend(args: Any) -> int:
    model = _load_model(args.model, args.raw_ids)
    user = _query(model, args, "user", args.user)
    exclude = None
    if args.exclude is not None:
        users, items = _file_ids(model, _load_ratings(args.exclude), args.raw_ids)
        mine = users == user
        exclude = (users[mine], items[mine])
    ids, scores = model.recommend([user], args.n, exclude=exclude, raw_ids=args.raw_ids)
    _print_ranked(ids[0], scores[0], "score")
    return 0


def similar(args: Any) -> int:
    model = _load_model(args.model, args.raw_ids)
    item = _query(model, args, "item", args.item)
    ids, sims = model.similar_items([item], args.n, raw_ids=args.raw_ids)
    _print_ranked(ids[0], sims[0], "similarity")
    return 0


def _print_ranked(ids: np.ndarray, scores: np.ndarray, what: str) -> None:
    for rank, (j, score) in enumerate(zip(ids, scores, strict=True), 1):
        if not np.isfinite(score):       # fewer items than asked for are left
            break
        print(f"{rank:3d}. item {j}  {what} {score:.4f}")


def config(args: Any) -> int:
    from . import show_config

    show_config()
    return 0
