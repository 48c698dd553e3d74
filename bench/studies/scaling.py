"""Scaling study: time of one SGD epoch and one ALS sweep as nnz and threads grow.

Data: synthetic sets of the BENCHMARK-DATA.md recipe (``fastmf.datasets.make_ratings``)
with users and items scaled with nnz as in "synth 1M" (50 ratings per user, 200 per
item): nnz = 1e5 ... 1e7.  For each size, thread count (1 and all cores) and factor
count it times, best of ``--repeats``:

* one SGD epoch (squared loss, block layout prepared untimed), k = 32;
* one explicit ALS sweep (Cholesky, users then items), k = 16, 32 and 64.

It then fits, per solver and thread count, by least squares:

* SGD:  t = a nnz + c   (``a`` is the time per rating; log-log slope of t against nnz);
* ALS:  t = a nnz k + b nnz k^2 + c rows k^3   (rows = users + items; relative,
  non-negative least squares; see :func:`fit_als`), with R^2, the relative residual of
  every point and, for comparison, the two-term model a nnz k^2 + b rows k^3.

Linear cost shows as a log-log slope near 1 and small residuals.  Because users and
items grow with nnz, the factor matrices eventually outgrow the caches; a second series
keeps synth 1M's 20,000 x 5,000 shape and only adds ratings (nnz 3e5 ... 1e7, SGD k=32
and ALS k=32), which separates the cost of more ratings from that of a bigger model.  Writes
``bench/results/scaling.json`` (see ``_results.py``) and prints the tables::

    python bench/studies/scaling.py            # nnz 1e5 ... 1e7, 3 repeats (about 10 minutes)
    python bench/studies/scaling.py --quick    # nnz 1e5 ... 1e6, 1 repeat, fewer factors
    python bench/studies/scaling.py --refit    # recompute the fits of the saved results
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # bench/: _results

from _results import read_results, results_dir, write_results  # noqa: E402

from fastmf import MatrixFactorization, _als  # noqa: E402
from fastmf._params import check_params  # noqa: E402
from fastmf._sgd import SGDState, block_layout, choose_blocks, epoch  # noqa: E402
from fastmf._state import global_bias, initial_arrays  # noqa: E402
from fastmf._threads import single_threaded_blas  # noqa: E402
from fastmf._validation import check_ratings  # noqa: E402
from fastmf.datasets import make_ratings  # noqa: E402

FULL_NNZ = (100_000, 300_000, 1_000_000, 3_000_000, 10_000_000)
QUICK_NNZ = (100_000, 300_000, 1_000_000)
USERS_PER_RATING = 20_000 / 1_000_000     # synth 1M: 20,000 users, 5,000 items
ITEMS_PER_RATING = 5_000 / 1_000_000
SGD_FACTORS = 32
ALS_FACTORS = (16, 32, 64)
QUICK_ALS_FACTORS = (16, 32)
FIXED_SHAPE = (20_000, 5_000)     # synth 1M's users and items
FIXED_NNZ = (300_000, 1_000_000, 3_000_000, 10_000_000)
FIXED_NNZ_QUICK = (300_000, 1_000_000)
FIXED_ALS_FACTORS = 32


def thread_counts() -> list[int]:
    """1 and all cores."""
    return sorted({1, os.cpu_count() or 1})


def make_set(nnz: int, seed: int = 0, shape: tuple[int, int] | None = None):
    """Checked float32 ratings of a synthetic set with ``nnz`` ratings, over ``shape``
    (users, items) or, by default, users and items in proportion to ``nnz``."""
    if shape is None:
        shape = (max(1, round(nnz * USERS_PER_RATING)), max(1, round(nnz * ITEMS_PER_RATING)))
    n_users, n_items = shape
    users, items, values = make_ratings(n_users, n_items, nnz, seed=seed)
    matrix = sp.coo_matrix((values, (users, items)), shape=(n_users, n_items))
    return check_ratings(matrix, np.dtype(np.float32))


def best_time(fn, repeats: int) -> float:
    """Fastest of ``repeats`` calls of ``fn(i)`` (``i`` = repeat number), in seconds."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return min(times)


def time_sgd_epoch(data, factors: int, threads: int, repeats: int) -> float:
    """Seconds of one SGD epoch (squared loss), the block layout built beforehand."""
    rng = np.random.default_rng(0)
    params = check_params(MatrixFactorization(factors, dtype=data.values.dtype,
                                              init_scale=0.1, biases=True,
                                              learning_rate=0.01, l2=0.02))
    pu, qi, bu, bi = initial_arrays(params, data, rng)
    n_blocks = choose_blocks(data.n_users, data.n_items, factors, 4, threads)
    blocked = block_layout(data, n_blocks, rng)
    mu = global_bias(params, blocked.values)
    seed = rng.integers(0, 2**64, size=1, dtype=np.uint64)

    def run(_):
        state = SGDState(pu.copy(), qi.copy(), bu.copy(), bi.copy(), mu, seed.copy())
        epoch(blocked, state, params.sgd_settings(), n_threads=threads)

    run(0)      # warm-up: first touch of the arrays and the thread pool
    return best_time(run, repeats)


def time_als_sweep(als_data, factors: int, threads: int, repeats: int, mu: float) -> float:
    """Seconds of one explicit ALS sweep (Cholesky), users then items."""
    rng = np.random.default_rng(0)
    n_users, n_items = als_data.by_user.shape
    P = (rng.standard_normal((n_users, factors)) * 0.1).astype(np.float32)
    Q = (rng.standard_normal((n_items, factors)) * 0.1).astype(np.float32)
    bu, bi = np.zeros(n_users, np.float32), np.zeros(n_items, np.float32)
    cfg = _als.ALSConfig(model="explicit", linear_solver="cholesky", cg_steps=3,
                         newton_steps=1, l2=0.1, l2_bias=0.1, weighted_l2=False,
                         biases=True, alpha=1.0)
    with single_threaded_blas():
        return best_time(lambda _: _als.sweep(als_data, P, Q, bu, bi, cfg, global_bias=mu,
                                              n_threads=threads), repeats)


# ------------------------------------------------------------------------------ fits
def fit_sgd(rows: list[dict]) -> dict:
    """Least-squares ``t = a nnz + c`` (relative), the log-log slope over all points and
    between neighbours, for one thread count.

    The users and items grow with nnz, so once the factor matrices outgrow the caches
    the time per rating rises: the neighbour slopes show where.
    """
    rows = sorted(rows, key=lambda r: r["nnz"])
    nnz = np.array([r["nnz"] for r in rows], dtype=float)
    t = np.array([r["seconds"] for r in rows])
    w = 1.0 / t
    A = np.column_stack([nnz, np.ones_like(nnz)])
    (a, c), *_ = np.linalg.lstsq(A * w[:, None], t * w, rcond=None)
    pred = A @ np.array([a, c])
    slope = float(np.polyfit(np.log(nnz), np.log(t), 1)[0])
    steps = np.diff(np.log(t)) / np.diff(np.log(nnz))
    return {"model": "t = a*nnz + c", "a_ns_per_rating": a * 1e9, "c_s": float(c),
            "loglog_slope": slope, "neighbour_slopes": [float(x) for x in steps],
            "ns_per_rating": [float(x) for x in t / nnz * 1e9], "r2": _r2(t, pred),
            "rel_residuals": [float(x) for x in (t - pred) / t]}


def fit_als(rows: list[dict]) -> dict:
    """Least-squares ``t = a nnz k + b nnz k^2 + c rows k^3``, for one thread count.

    ``nnz k`` is the traffic of reading the other side's factor row for every rating,
    ``nnz k^2`` the rank-one updates of the normal equations and ``rows k^3`` the
    factorisations.  Each point is weighted by ``1/t`` (relative least squares, so small
    sets count as much as large ones) and the coefficients are kept non-negative: a term
    lost in the noise comes out 0 rather than negative.  The two-term model of the issue
    (``a nnz k^2 + b rows k^3``) is fitted the same way for comparison.
    """
    nnz = np.array([r["nnz"] for r in rows], dtype=float)
    k = np.array([r["factors"] for r in rows], dtype=float)
    n_rows = np.array([r["users"] + r["items"] for r in rows], dtype=float)
    t = np.array([r["seconds"] for r in rows])
    w = 1.0 / t
    A = np.column_stack([nnz * k, nnz * k**2, n_rows * k**3])
    coef, _ = nnls(A * w[:, None], t * w)
    pred = A @ coef
    A2 = A[:, 1:]
    coef2, _ = nnls(A2 * w[:, None], t * w)
    pred2 = A2 @ coef2
    slopes = {}
    for kk in sorted(set(k.tolist())):
        sel = k == kk
        if sel.sum() >= 2:
            slopes[f"k{int(kk)}"] = float(np.polyfit(np.log(nnz[sel]), np.log(t[sel]), 1)[0])
    return {"model": "t = a*nnz*k + b*nnz*k^2 + c*rows*k^3",
            "a_ns": coef[0] * 1e9, "b_ns": coef[1] * 1e9, "c_ns": coef[2] * 1e9,
            "loglog_slope_by_k": slopes, "r2": _r2(t, pred),
            "rel_residuals": [float(x) for x in (t - pred) / t],
            "two_term": {"model": "t = a*nnz*k^2 + b*rows*k^3", "a_ns": coef2[0] * 1e9,
                         "b_ns": coef2[1] * 1e9, "r2": _r2(t, pred2),
                         "rel_residuals": [float(x) for x in (t - pred2) / t]}}


def _r2(t: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((t - t.mean()) ** 2).sum())
    return 1.0 - float(((t - pred) ** 2).sum()) / ss if ss > 0 else float("nan")


# ------------------------------------------------------------------------------ main
def run(nnz_list, als_factors, repeats: int, threads_list, *, series: str = "scaled",
        shape: tuple[int, int] | None = None) -> list[dict]:
    """Time every solver, factor count and thread count on each set; ``shape`` fixes
    the users and items (series ``fixed-shape``) instead of scaling them with nnz."""
    rows = []
    for nnz in nnz_list:
        start = time.perf_counter()
        data = make_set(nnz, shape=shape)
        build = time.perf_counter() - start
        base = {"series": series, "nnz": nnz, "users": data.n_users, "items": data.n_items,
                "dtype": "float32"}
        print(f"nnz={nnz:,} ({data.n_users:,} x {data.n_items:,}, built in {build:.1f} s)",
              flush=True)
        for threads in threads_list:
            t = time_sgd_epoch(data, SGD_FACTORS, threads, repeats)
            rows.append({**base, "solver": "sgd-epoch", "factors": SGD_FACTORS,
                         "threads": threads, "seconds": t, "ratings_per_s": nnz / t,
                         "ns_per_rating": t / nnz * 1e9})
            print(f"  sgd epoch      k={SGD_FACTORS:<3} t{threads}: {t:8.3f} s "
                  f"({nnz / t / 1e6:6.1f}M ratings/s)", flush=True)
        als_data = _als.prepare(data, "explicit")
        mu = float(data.values.mean())
        for k in als_factors:
            for threads in threads_list:
                t = time_als_sweep(als_data, k, threads, repeats, mu)
                rows.append({**base, "solver": "als-sweep-explicit", "factors": k,
                             "threads": threads, "seconds": t,
                             "ratings_per_s": 2 * nnz / t, "ns_per_rating": t / nnz * 1e9})
                print(f"  als sweep      k={k:<3} t{threads}: {t:8.3f} s "
                      f"({2 * nnz / t / 1e6:6.2f}M ratings/s)", flush=True)
        del data, als_data
        gc.collect()
    return rows


def fits(rows: list[dict]) -> dict:
    """Fits per series, solver and thread count, keyed ``"<solver> t<n>"`` (series
    ``scaled``) or ``"<solver> t<n> <series>"``."""
    out = {}
    for series in sorted({r.get("series", "scaled") for r in rows}, reverse=True):
        for solver, fit in (("sgd-epoch", fit_sgd), ("als-sweep-explicit", fit_als)):
            for threads in sorted({r["threads"] for r in rows}):
                sel = [r for r in rows if r["solver"] == solver and r["threads"] == threads
                       and r.get("series", "scaled") == series]
                if len({r["nnz"] for r in sel}) >= 2:
                    suffix = "" if series == "scaled" else f" {series}"
                    out[f"{solver} t{threads}{suffix}"] = fit(sel)
    return out


def print_fits(result: dict) -> None:
    for name, fit in result.items():
        resid = ", ".join(f"{x:+.0%}" for x in fit["rel_residuals"])
        if "a_ns_per_rating" in fit:
            per = ", ".join(f"{x:.1f}" for x in fit["ns_per_rating"])
            steps = ", ".join(f"{x:.2f}" for x in fit["neighbour_slopes"])
            print(f"{name}: ns/rating by size {per}; log-log slope {fit['loglog_slope']:.3f} "
                  f"(between neighbours {steps}); linear fit {fit['a_ns_per_rating']:.1f} "
                  f"ns/rating {fit['c_s'] * 1e3:+.1f} ms, R^2 {fit['r2']:.4f}, "
                  f"residuals {resid}")
        else:
            slopes = ", ".join(f"{k}: {v:.3f}" for k, v in fit["loglog_slope_by_k"].items())
            two = fit["two_term"]
            print(f"{name}: {fit['a_ns']:.4g} ns nnz k + {fit['b_ns']:.4g} ns nnz k^2 + "
                  f"{fit['c_ns']:.4g} ns rows k^3, R^2 {fit['r2']:.4f}, residuals {resid}; "
                  f"two-term R^2 {two['r2']:.4f}; log-log slopes {slopes}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="nnz up to 1e6, factors 16 and 32 for ALS, 1 repeat")
    parser.add_argument("--repeats", type=int, help="timed repeats per point (best kept)")
    parser.add_argument("--max-nnz", type=float, help="leave out larger sets")
    parser.add_argument("--output", default="scaling", help="results file stem")
    parser.add_argument("--no-fixed-shape", action="store_true",
                        help="skip the series at a fixed 20,000 x 5,000 shape")
    parser.add_argument("--refit", action="store_true",
                        help="recompute the fits of the saved results without timing")
    args = parser.parse_args(argv)
    if args.refit:
        saved = read_results(args.output)
        saved["fits"] = fits(saved["rows"])
        print_fits(saved["fits"])
        path = results_dir() / f"{args.output}.json"
        path.write_text(json.dumps(saved, indent=1) + "\n")
        print(f"refitted {path}")
        return 0
    nnz_list = QUICK_NNZ if args.quick else FULL_NNZ
    if args.max_nnz:
        nnz_list = tuple(n for n in nnz_list if n <= args.max_nnz)
    repeats = args.repeats or (1 if args.quick else 3)
    als_factors = QUICK_ALS_FACTORS if args.quick else ALS_FACTORS
    rows = run(nnz_list, als_factors, repeats, thread_counts())
    if not args.no_fixed_shape:
        fixed = tuple(n for n in (FIXED_NNZ_QUICK if args.quick else FIXED_NNZ)
                      if not args.max_nnz or n <= args.max_nnz)
        print(f"fixed shape {FIXED_SHAPE[0]:,} x {FIXED_SHAPE[1]:,}:")
        rows += run(fixed, (FIXED_ALS_FACTORS,), repeats, thread_counts(),
                    series="fixed-shape", shape=FIXED_SHAPE)
    result = fits(rows)
    print_fits(result)
    path = write_results(args.output, rows, fits=result, quick=args.quick, repeats=repeats,
                         settings={"sgd_factors": SGD_FACTORS, "als_factors": als_factors,
                                   "users_per_rating": USERS_PER_RATING,
                                   "items_per_rating": ITEMS_PER_RATING})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
