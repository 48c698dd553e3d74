"""Command line: ``fastmf demo|fit|evaluate|recommend|config`` (or ``python -m fastmf``).

Mistakes (a missing or damaged file, a bad value, a fit that diverges) are reported as
one line on stderr with exit status 1 (argparse's usage errors: status 2; Ctrl-C: 130),
never as a traceback.  Warnings are one line too."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

# What a user's mistake can raise: bad values and files (ValueError, including
# fastmf.ModelFileError; TypeError), the file system (OSError), a fit that diverges or a
# singular ALS system (FloatingPointError), a request too large for memory.
_USER_ERRORS = (ValueError, TypeError, OSError, FloatingPointError, MemoryError)

# The synthetic demo data has ratings/50 users and ratings/200 items: below this many
# ratings there are fewer (user, item) pairs than ratings.
_DEMO_MIN_RATINGS = 10_000


def _rmse(model, users, items, values) -> float:
    from .metrics import rmse

    return rmse(values, model.predict(users, items))


def _reference_rate(train, model, n_sample: int, seed: int) -> float:
    """Ratings per second of one NumPy-reference epoch on the first ``n_sample`` ratings,
    from the fitted model's parameters (copies)."""
    from . import reference

    users, items, values = (a[:n_sample] for a in train)
    args = [a.astype(np.float64) for a in (model.user_factors_, model.item_factors_,
                                           model.user_bias_, model.item_bias_)]
    order = np.random.default_rng(seed).permutation(users.size)
    start = time.perf_counter()
    reference.sgd_epoch(users, items, values.astype(np.float64), order, *args,
                        model.global_bias_, learning_rate=model.learning_rate, l2=model.l2,
                        l2_bias=model.l2 if model.l2_bias is None else model.l2_bias)
    return users.size / (time.perf_counter() - start)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (status 2) like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} "
                     f"(see {self.prog} --help)\n")


def demo(argv: list[str]) -> int:
    from . import MatrixFactorization, datasets, io, model_selection

    parser = _Parser(
        prog="fastmf demo",
        description="Fit biased matrix factorisation by SGD on synthetic ratings (or a "
                    "MovieLens file) and report accuracy and throughput.")
    parser.add_argument("path", nargs="?", help="MovieLens u.data / ratings.dat / "
                        "ratings.csv file (default: synthetic data)")
    parser.add_argument("--ratings", type=int, default=1_000_000,
                        help="number of synthetic ratings, over ratings/50 users and "
                             "ratings/200 items (default: 1,000,000)")
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    # Tuned on the synthetic set (test RMSE 0.588 at 20 epochs; noise floor 0.5).
    parser.add_argument("--learning-rate", type=float, default=0.03)
    parser.add_argument("--l2", type=float, default=0.03)
    parser.add_argument("--init-scale", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.path is None and args.ratings < _DEMO_MIN_RATINGS:
        raise _CLIError(f"--ratings must be >= {_DEMO_MIN_RATINGS:,} (the synthetic data "
                        f"has ratings/50 users and ratings/200 items), got {args.ratings}")
    if args.epochs < 1:
        raise _CLIError(f"--epochs must be >= 1, got {args.epochs}")

    start = time.perf_counter()
    if args.path:
        users, items, values, _, _ = io.load_movielens(args.path)
        source = args.path
    else:
        n = args.ratings
        n_users, n_items = max(2, n // 50), max(2, n // 200)
        users, items, values = datasets.make_ratings(n_users, n_items, n, seed=args.seed)
        source = f"synthetic: {n_users:,} users x {n_items:,} items"
    train, test = model_selection.train_test_split((users, items, values), 0.2,
                                                   random_state=args.seed)
    print(f"data    : {source}, {values.size:,} ratings "
          f"({train[0].size:,} train / {test[0].size:,} test), "
          f"ready in {time.perf_counter() - start:.1f} s")

    model = MatrixFactorization(args.factors, epochs=args.epochs,
                                learning_rate=args.learning_rate, l2=args.l2,
                                init_scale=args.init_scale, num_threads=args.threads,
                                random_state=args.seed)
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    rate = train[0].size * args.epochs / seconds
    print(f"model   : {model!r}")
    print(f"fit     : {seconds:.2f} s on {model.n_threads_} thread(s), "
          f"{rate / 1e6:.1f}M rating updates/s (block layout included)")
    print(f"loss    : {model.training_loss_[0]:.4f} (epoch 1) -> "
          f"{model.training_loss_[-1]:.4f} (epoch {args.epochs})")
    print(f"RMSE    : train {_rmse(model, *train):.4f}, test {_rmse(model, *test):.4f} "
          f"(predicting the mean: {np.std(test[2]):.4f})")
    ref = _reference_rate(train, model, min(20_000, train[0].size), args.seed)
    print(f"NumPy reference: {ref / 1e3:.0f}K rating updates/s on one epoch of "
          f"{min(20_000, train[0].size):,} ratings; fastmf is {rate / ref:,.0f}x faster")
    return 0


class _CLIError(Exception):
    """A user mistake reported as one line, without a traceback."""


def _load_ratings(path: str):
    from .io import load_movielens

    try:
        return load_movielens(path)
    except (OSError, ValueError) as exc:
        raise _CLIError(f"cannot read ratings from {path}: {exc}") from exc


def _load_model(path: str):
    """A saved model that has the raw-id mapping `fastmf fit` stores."""
    from . import load

    try:
        model = load(path)
    except (OSError, ValueError) as exc:
        raise _CLIError(f"cannot read model {path}: {exc}") from exc
    if getattr(model, "user_ids_", None) is None or getattr(model, "item_ids_", None) is None:
        raise _CLIError(f"the model {path} has no mapping of raw ids (it was not fitted by "
                        "`fastmf fit`)")
    return model


def _to_indices(model, raw_users, raw_items):
    """The model's indices of raw ids of a ratings file (-1 for an unknown id), and
    which pairs the model knows."""
    from ._ids import IdMap

    if model.user_ids_.dtype.kind != "i" or model.item_ids_.dtype.kind != "i":
        raise _CLIError("the model's ids are not integers, the ratings file's are")
    u = IdMap(model.user_ids_).to_index(raw_users, missing="ignore")
    i = IdMap(model.item_ids_).to_index(raw_items, missing="ignore")
    return u, i, (u >= 0) & (i >= 0)


def fit_command(args) -> int:
    from . import MatrixFactorization

    output = Path(args.output)
    if not output.parent.is_dir():           # before spending the time on a fit
        raise _CLIError(f"cannot write {output}: no folder {output.parent}")
    users, items, values, user_ids, item_ids = _load_ratings(args.data)
    model = MatrixFactorization(
        args.factors, solver=args.solver, loss=args.loss, epochs=args.epochs,
        learning_rate=args.learning_rate, l2=args.l2, feedback=args.feedback,
        alpha=args.alpha, num_threads=args.threads, random_state=args.seed)
    if args.loss == "logistic":
        values = (values >= args.threshold).astype(np.float32)

    def report(epoch, _model, metrics):
        print(f"epoch {epoch:3d}/{args.epochs}: training loss {metrics['loss']:.5f}",
              flush=True)

    start = time.perf_counter()
    model.fit((users, items, values), callback=report)
    seconds = time.perf_counter() - start
    model.user_ids_, model.item_ids_ = user_ids, item_ids
    print(f"fitted {values.size:,} ratings of {user_ids.size:,} users x {item_ids.size:,} "
          f"items in {seconds:.2f} s on {model.n_threads_} thread(s)")
    model.save(args.output)
    print(f"saved {args.output}")
    return 0


def evaluate_command(args) -> int:
    from . import metrics

    model = _load_model(args.model)
    users, items, values, user_ids, item_ids = _load_ratings(args.test)
    u, i, known = _to_indices(model, user_ids[users], item_ids[items])
    if not known.any():
        raise _CLIError(f"no rating in {args.test} is of a user and item the model knows")
    pred = model.predict(u[known], i[known]).astype(np.float64)
    y = values[known].astype(np.float64)
    print(f"ratings : {known.sum():,} scored, {(~known).sum():,} skipped (unknown ids)")
    if model.loss == "logistic":
        print(f"log loss: {metrics.log_loss((y >= args.threshold).astype(float), pred):.5f}")
    else:
        print(f"RMSE    : {metrics.rmse(y, pred):.5f}")
        print(f"MAE     : {metrics.mae(y, pred):.5f}")
    return 0


def recommend_command(args) -> int:
    import scipy.sparse as sp

    model = _load_model(args.model)
    u, _, known = _to_indices(model, np.array([args.user]), model.item_ids_[:1])
    if not known[0]:
        raise _CLIError(f"user {args.user} is not in the model")
    if args.n < 1:
        raise _CLIError(f"-n must be >= 1, got {args.n}")
    exclude = None
    if args.exclude is not None:
        users, items, _, user_ids, item_ids = _load_ratings(args.exclude)
        eu, ei, ok = _to_indices(model, user_ids[users], item_ids[items])
        ok &= eu == u[0]
        shape = (model.user_ids_.size, model.item_ids_.size)
        exclude = sp.csr_matrix((np.ones(int(ok.sum())), (eu[ok], ei[ok])), shape=shape)
    ids, scores = model.recommend(u[0], args.n, exclude=exclude)
    for rank, (j, score) in enumerate(zip(ids[0], scores[0], strict=True), 1):
        if j < 0:          # fewer items than asked for are left after exclusions
            break
        print(f"{rank:3d}. item {model.item_ids_[j]}  score {score:.4f}")
    return 0


def config_command(args) -> int:
    from . import show_config

    show_config()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fastmf", description="Fast matrix factorisation (also: python -m fastmf).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    sub.add_parser("demo", add_help=False,
                   help="fit on synthetic ratings (or a MovieLens file), report speed")
    p = sub.add_parser("fit", help="fit a model to a ratings file and save it")
    p.add_argument("data", help="MovieLens-style ratings file (u.data, ratings.dat, "
                   "ratings.csv)")
    p.add_argument("-o", "--output", default="model.npz", help="model file to write")
    p.add_argument("--solver", choices=["sgd", "als"], default="sgd")
    p.add_argument("--loss", choices=["squared", "logistic"], default="squared")
    p.add_argument("--feedback", choices=["explicit", "implicit"], default="explicit")
    p.add_argument("--factors", type=int, default=32)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--l2", type=float, default=0.02)
    p.add_argument("--alpha", type=float, default=1.0, help="implicit confidence scale")
    p.add_argument("--threshold", type=float, default=4.0,
                   help="logistic loss: ratings >= threshold are positives")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=fit_command)
    p = sub.add_parser("evaluate", help="score a saved model on a held-out ratings file")
    p.add_argument("model", help="model file written by `fastmf fit`")
    p.add_argument("test", help="ratings file in the same format as the training data")
    p.add_argument("--threshold", type=float, default=4.0,
                   help="logistic models: ratings >= threshold are positives")
    p.set_defaults(run=evaluate_command)
    p = sub.add_parser("recommend", help="top items for one user of a saved model")
    p.add_argument("model", help="model file written by `fastmf fit`")
    p.add_argument("--user", type=int, required=True, help="user id as in the ratings file")
    p.add_argument("-n", type=int, default=10, help="number of items")
    p.add_argument("--exclude", metavar="RATINGS", default=None,
                   help="ratings file (typically the training data) whose items this "
                        "user rated are not recommended")
    p.set_defaults(run=recommend_command)
    p = sub.add_parser("config", help="how fastmf was built (OpenMP, SIMD, BLAS)")
    p.set_defaults(run=config_command)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:
        command, run = "demo", lambda: demo(argv[1:])
    else:
        args = _parser().parse_args(argv)
        command, run = args.command, lambda: args.run(args)

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"fastmf {command}: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            return run()
        except (_CLIError, *_USER_ERRORS) as exc:
            print(f"fastmf {command}: error: {_one_line(exc)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"fastmf {command}: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
