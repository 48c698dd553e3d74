"""Command line: ``python -m fastmf demo`` and ``python -m fastmf config``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _rmse(model, users, items, values) -> float:
    return float(np.sqrt(np.mean((model.predict(users, items) - values) ** 2)))


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


def demo(argv: list[str]) -> int:
    from . import MatrixFactorization, datasets

    parser = argparse.ArgumentParser(
        prog="python -m fastmf demo",
        description="Fit biased matrix factorisation by SGD on synthetic ratings (or a "
                    "MovieLens file) and report accuracy and throughput.")
    parser.add_argument("path", nargs="?", help="MovieLens u.data / ratings.dat / "
                        "ratings.csv file (default: synthetic data)")
    parser.add_argument("--ratings", type=int, default=1_000_000,
                        help="number of synthetic ratings, over ratings/50 users and "
                             "ratings/200 items (default: 1,000,000)")
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--l2", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.path:
        users, items, values, _, _ = datasets.load_movielens(args.path)
        source = args.path
    else:
        n = args.ratings
        n_users, n_items = max(2, n // 50), max(2, n // 200)
        users, items, values = datasets.make_ratings(n_users, n_items, n, seed=args.seed)
        source = f"synthetic: {n_users:,} users x {n_items:,} items"
    train, test = datasets.train_test_split(users, items, values, test_size=0.2,
                                            seed=args.seed)
    print(f"data    : {source}, {values.size:,} ratings "
          f"({train[0].size:,} train / {test[0].size:,} test), "
          f"ready in {time.perf_counter() - start:.1f} s")

    model = MatrixFactorization(args.factors, epochs=args.epochs,
                                learning_rate=args.learning_rate, l2=args.l2,
                                num_threads=args.threads, random_state=args.seed)
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        return demo(argv[1:])
    if argv[:1] == ["config"]:
        from . import show_config

        show_config()
        return 0
    print("usage: python -m fastmf {demo [PATH] [options] | config}\n"
          "  demo    fit on synthetic ratings (or a MovieLens file) and report speed\n"
          "  config  show how fastmf was built (OpenMP, threads, BLAS)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
