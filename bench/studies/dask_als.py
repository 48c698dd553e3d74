"""Distributed ALS benchmark: ``fastmf.distributed`` on a local Dask cluster, beside
single-machine fastmf ALS and Spark MLlib ALS on the same data, cores, rank and sweeps.

Reported per run (JSON, see ``--output``):

* seconds per ALS iteration (median of the iterations after the first; the block build
  and the first iteration are reported apart as ``setup_s``/``first_iteration_s``);
* bytes sent between workers per iteration (mean over the iterations after the first),
  read from Dask's own accounting (the sum of every worker's
  ``transfer_outgoing_bytes_total``, read after each iteration), next to the bytes the
  layout predicts: for every pair of blocks on different workers (as placed during the
  fit), the factor rows the solving block rates times (k + 1) (factors and bias) times
  the item size, summed over both half-sweeps; next to the same sum over all pairs, and
  to what broadcasting the whole other side to every block would send;
* test RMSE on a seeded 80/20 split.

The model is the one Spark's ALS fits: no biases, the L2 penalty of each row scaled by
its number of ratings (``weighted_l2=True``, Spark's ``regParam``), explicit feedback.

Run from outside the source tree with an installed fastmf[dask]; time-sensitive runs
on a shared machine belong under a lock (``flock``)::

    cd "$(mktemp -d)"
    flock "$HOME/.bench.lock" python /path/to/fastmf/bench/studies/dask_als.py --data 1M
    python /path/to/fastmf/bench/studies/dask_als.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fastmf import MatrixFactorization, metrics
from fastmf.datasets import make_ratings

SETS = {   # name: (users, items, ratings, seed), as in shared/BENCHMARK-DATA.md
    "100k": (2_000, 500, 100_000, 0),
    "1M": (20_000, 5_000, 1_000_000, 1),
    "10M": (200_000, 50_000, 10_000_000, 2),
}


def load(name: str):
    n_users, n_items, n, seed = SETS[name]
    users, items, values = make_ratings(n_users, n_items, n, seed=seed)
    test = np.random.default_rng(0).random(values.size) < 0.2
    train = pd.DataFrame({"user": users[~test], "item": items[~test],
                          "value": values[~test]})
    return train, (users[test], items[test], values[test]), (n_users, n_items)


def model_of(args) -> MatrixFactorization:
    return MatrixFactorization(
        args.factors, solver="als", epochs=args.iterations, l2=args.l2, biases=False,
        weighted_l2=True, random_state=0, num_threads=args.task_threads,
        linear_solver=args.linear_solver, cg_steps=args.cg_steps)


def rmse(model: MatrixFactorization, test, user_index=None, item_index=None) -> float:
    users, items, values = test
    if user_index is not None:       # raw ids to the model's indices
        users, items = np.searchsorted(user_index, users), np.searchsorted(item_index, items)
    known = (users < model.user_factors_.shape[0]) & (items < model.item_factors_.shape[0])
    return metrics.rmse(values[known], model.predict(users[known], items[known]))


class Clock:
    """Callback recording when each iteration ends (and, optionally, worker bytes)."""

    def __init__(self, client=None) -> None:
        self.client, self.times, self.bytes, self.placement = client, [], [], {}

    def sent(self) -> int:
        totals = self.client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
        return int(sum(totals.values()))

    def __call__(self, epoch, *rest) -> None:
        self.times.append(time.perf_counter())
        if self.client is not None:
            self.bytes.append(self.sent())
            if epoch == 2:
                self.placement = self.homes()

    def homes(self) -> dict:
        """Worker of each rating block, by side: ``{"user": {b: worker}, ...}``, read
        from the keys in memory."""
        found = {"user": {}, "item": {}}
        for key, workers in self.client.who_has().items():
            parts = str(key).split("-")        # fastmf-als-block-<side>-<token>-<b>
            if len(parts) == 6 and parts[2] == "block" and workers:
                found[parts[3]][int(parts[5])] = sorted(workers)[0]
        return found

    def per_iteration(self) -> list[float]:
        return [b - a for a, b in zip(self.times[:-1], self.times[1:], strict=True)]


def single_machine(train, test, shape, args) -> dict:
    model = model_of(args)
    model.num_threads = args.workers * args.task_threads        # the same cores
    clock = Clock()
    X = (train.user.to_numpy(), train.item.to_numpy(), train.value.to_numpy())
    start = time.perf_counter()
    model.fit(X, callback=lambda e, m, metrics: clock(e))
    steps = clock.per_iteration()
    return {"threads": model.num_threads, "setup_s": clock.times[0] - start - steps[0],
            "per_iteration_s": statistics.median(steps), "iterations_s": steps,
            "rmse": rmse(model, test)}


def needed_rows(train, P: int, Q: int) -> tuple[np.ndarray, np.ndarray]:
    """``U[p, q]``: users of block p that rate items of block q; ``I[q, p]`` likewise,
    with the blocks of fastmf.distributed (row r in block r % B; the ids are 0..n-1 and
    all present, so they are the indices)."""
    u, i = train.user.to_numpy(np.int64), train.item.to_numpy(np.int64)
    users = np.unique(u * Q + i % Q)
    items = np.unique(i * P + u % P)
    U = np.zeros((P, Q), dtype=np.int64)
    np.add.at(U, ((users // Q) % P, users % Q), 1)
    I_ = np.zeros((Q, P), dtype=np.int64)
    np.add.at(I_, ((items // P) % Q, items % P), 1)
    return U, I_


def predicted_bytes(train, shape, P: int, Q: int, k: int, itemsize: int,
                    placement: dict) -> dict:
    """Bytes one iteration must send: ``cross_worker`` counts the pairs of blocks that
    sit on different workers in ``placement`` (read during the fit)."""
    U, I_ = needed_rows(train, P, Q)
    row = (k + 1) * itemsize
    home_u = np.array([placement["user"][p] for p in range(P)])
    home_i = np.array([placement["item"][q] for q in range(Q)])
    cross = home_u[:, None] != home_i[None, :]           # (P, Q): different workers
    return {
        "all_pairs": int((I_.T.sum() + U.sum()) * row),
        "cross_worker": int(((I_.T * cross).sum() + (U * cross).sum()) * row),
        "broadcast": int((P * shape[1] + Q * shape[0]) * row),
    }


def distributed(client, path, train, test, shape, P: int, Q: int, args) -> dict:
    from fastmf.distributed import fit

    model = model_of(args)
    clock = Clock(client)
    before = clock.sent()
    start = time.perf_counter()
    fit(client, path, model, n_user_blocks=P, n_item_blocks=Q, callback=clock)
    steps = clock.per_iteration()
    sent = np.diff(clock.bytes).tolist()
    predicted = predicted_bytes(train, shape, P, Q, args.factors, 4, clock.placement)
    measured = statistics.mean(sent)
    return {
        "layout": f"{P}x{Q}", "setup_s": clock.times[0] - start - steps[0],
        "first_iteration_s": steps[0], "per_iteration_s": statistics.median(steps[1:]),
        "iterations_s": steps, "setup_bytes": clock.bytes[0] - before,
        "bytes_per_iteration": measured, "bytes_iterations": sent,
        "predicted_bytes": predicted,
        "measured_over_predicted": measured / max(predicted["cross_worker"], 1),
        "rmse": rmse(model, test, model.user_ids_, model.item_ids_),
    }


def spark(train, test, args) -> dict:
    try:
        from pyspark.ml.recommendation import ALS
        from pyspark.sql import SparkSession
    except ImportError as exc:
        return {"skipped": f"pyspark is not installed ({exc})"}
    spark_session = (
        SparkSession.builder.master(f"local[{args.workers}]").appName("fastmf-bench")
        .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(2 * args.workers)).getOrCreate())
    spark_session.sparkContext.setLogLevel("ERROR")
    try:
        frame = spark_session.createDataFrame(train.astype(
            {"user": "int32", "item": "int32", "value": "float32"})).repartition(
            2 * args.workers).cache()
        frame.count()

        def run(iterations: int):
            als = ALS(rank=args.factors, maxIter=iterations, regParam=args.l2,
                      userCol="user", itemCol="item", ratingCol="value", seed=0,
                      numUserBlocks=2 * args.workers, numItemBlocks=2 * args.workers)
            start = time.perf_counter()
            fitted = als.fit(frame)
            fitted.userFactors.count()          # force the factors
            return fitted, time.perf_counter() - start

        run(1)                                   # warm the JVM up, not timed
        _, one = run(1)
        fitted, total = run(args.iterations)
        users, items, values = test
        pairs = spark_session.createDataFrame(pd.DataFrame(
            {"user": users.astype(np.int32), "item": items.astype(np.int32),
             "value": values.astype(np.float32)}))
        pred = fitted.transform(pairs).dropna().toPandas()
        return {
            "master": f"local[{args.workers}]", "version": spark_session.version,
            "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "fit_1_iteration_s": one, "fit_s": total,
            "per_iteration_s": (total - one) / max(args.iterations - 1, 1),
            "per_iteration_s_including_setup": total / args.iterations,
            "iterations": args.iterations,
            "rmse": float(np.sqrt(np.mean((pred.value - pred.prediction) ** 2))),
        }
    finally:
        spark_session.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=sorted(SETS), default="1M")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--l2", type=float, default=0.05)
    parser.add_argument("--linear-solver", choices=("cholesky", "cg"), default="cholesky",
                        help="fastmf's row solver (Spark always solves exactly)")
    parser.add_argument("--cg-steps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--task-threads", type=int, default=1,
                        help="OpenMP threads of each block solve (one Dask thread a worker)")
    parser.add_argument("--layouts", default="2x2,4x4,8x8")
    parser.add_argument("--skip", default="",
                        help="comma list of: single, distributed, spark")
    parser.add_argument("--no-stealing", action="store_true",
                        help="turn Dask's work stealing off (blocks then never move)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100k ratings, rank 16, 3 iterations, no Spark")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON file to add this run to (keyed by data set and solver)")
    args = parser.parse_args(argv)
    if args.quick:
        args.data, args.factors, args.iterations = "100k", 16, 3
        args.skip += ",spark"
    if args.iterations < 3:
        parser.error("--iterations must be at least 3 (the first one is reported apart)")
    skip = set(args.skip.split(","))
    layouts = [tuple(int(x) for x in s.split("x")) for s in args.layouts.split(",")]

    import dask
    from distributed import Client, LocalCluster

    train, test, shape = load(args.data)
    result = {"data": args.data, "ratings_train": len(train), "factors": args.factors,
              "linear_solver": args.linear_solver,
              "cg_steps": args.cg_steps if args.linear_solver == "cg" else None,
              "iterations": args.iterations, "l2": args.l2, "workers": args.workers,
              "task_threads": args.task_threads, "cpu_count": os.cpu_count(),
              "work_stealing": not args.no_stealing,
              "machine": platform.platform(), "python": sys.version.split()[0],
              "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"data {args.data}: {len(train):,} training ratings, rank {args.factors}, "
          f"{args.iterations} iterations, {args.linear_solver}", flush=True)
    if "single" not in skip:
        result["single_machine"] = single_machine(train, test, shape, args)
        print("single machine", json.dumps(result["single_machine"]), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        if "distributed" in skip:
            layouts = []
        path = Path(tmp) / "train.parquet"
        train.to_parquet(path, row_group_size=250_000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # "large graph" notes on start values
            with dask.config.set({"distributed.scheduler.work-stealing":
                                  not args.no_stealing}), \
                    LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                 processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                for P, Q in layouts:
                    run = distributed(client, path, train, test, shape, P, Q, args)
                    result.setdefault("distributed", []).append(run)
                    print("distributed", json.dumps(run), flush=True)
    if "spark" not in skip:
        result["spark"] = spark(train, test, args)
        print("spark", json.dumps(result["spark"]), flush=True)

    if args.output is not None:
        runs = json.loads(args.output.read_text()) if args.output.exists() else {}
        # a run that skips a part keeps that part of an earlier run of the same case
        case = f"{args.data} {args.linear_solver}" + (" no-stealing" if args.no_stealing
                                                      else "")
        runs.setdefault(case, {}).update(result)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
