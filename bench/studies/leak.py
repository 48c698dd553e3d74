"""Memory leaks: resident memory over many fit / predict / recommend / save / load cycles.

Each cycle fits a fresh model (SGD and ALS in turn, so both kernels and their per-thread
scratch run every cycle), predicts the test pairs, recommends for 200 users with their
training items excluded, folds in 100 new users, saves the model, loads it back and
predicts with the loaded copy.  Resident memory (``/proc/self/statm``, after
``gc.collect()``) is sampled after every cycle.  After a warm-up (allocator pools,
import-time caches, the first OpenMP team) a leak shows as steady growth; the growth per
cycle is the least-squares slope of RSS against the cycle number over the remaining
cycles, next to the difference between the last and first sample.

    python bench/studies/leak.py                 # 1,000 cycles, ~1 minute on 2 cores
    python bench/studies/leak.py --cycles 200    # quicker

Writes ``bench/results/leak.json``.  This is a measurement, not a timed test.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # bench/: _results

from _results import write_results  # noqa: E402

USERS, ITEMS, RATINGS = 3_000, 800, 40_000


def _rss_bytes() -> int:
    """Current resident set size (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def _data():
    from fastmf.datasets import make_ratings
    from fastmf.model_selection import train_test_split

    users, items, values = make_ratings(USERS, ITEMS, RATINGS, seed=0)
    train, test = train_test_split((users, items, values), test_size=0.2, random_state=0)
    X = sp.csr_matrix((train[2], (train[0], train[1])), shape=(USERS, ITEMS))
    new = sp.csr_matrix(X[:100])
    return X, test, new


def cycle(number: int, X, test, new, folder: Path) -> None:
    """One fit / predict / recommend / transform / save / load / predict round."""
    import fastmf

    solver = "sgd" if number % 2 == 0 else "als"
    params = {"learning_rate": 0.02} if solver == "sgd" else {"l2": 0.1}
    model = fastmf.MatrixFactorization(16, solver=solver, epochs=2, random_state=number,
                                       **params).fit(X)
    model.predict(test[0], test[1])
    users = np.arange(200)
    model.recommend(users, n=10, exclude=X)
    model.transform(new)
    path = folder / "model.npz"
    model.save(path)
    fastmf.load(path).predict(test[0], test[1])


def run(cycles: int, warmup: int) -> dict:
    X, test, new = _data()
    samples = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(cycles):
            cycle(number, X, test, new, Path(tmp))
            gc.collect()
            samples.append(_rss_bytes())
    seconds = time.perf_counter() - start
    rss = np.array(samples, dtype=np.float64)
    steady = np.arange(warmup, cycles)
    slope = float(np.polyfit(steady, rss[warmup:], 1)[0]) if steady.size > 1 else 0.0
    return {
        "cycles": cycles, "warmup_cycles": warmup, "seconds": round(seconds, 2),
        "rss_first_mib": round(rss[0] / 2**20, 2),
        "rss_after_warmup_mib": round(rss[warmup] / 2**20, 2),
        "rss_last_mib": round(rss[-1] / 2**20, 2),
        "rss_max_mib": round(rss.max() / 2**20, 2),
        "growth_after_warmup_kib": round((rss[-1] - rss[warmup]) / 1024, 1),
        "growth_per_cycle_bytes": round(slope, 1),
        "samples_mib": [round(v / 2**20, 3) for v in rss[:: max(1, cycles // 100)]],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not 1 < args.warmup + 1 < args.cycles:
        parser.error("need 0 <= warmup < cycles - 1")
    result = run(args.cycles, args.warmup)
    print(f"{result['cycles']} cycles in {result['seconds']} s: RSS "
          f"{result['rss_first_mib']} MiB after the first, {result['rss_after_warmup_mib']} "
          f"MiB after {result['warmup_cycles']}, {result['rss_last_mib']} MiB at the end; "
          f"growth after warm-up {result['growth_after_warmup_kib']} KiB, "
          f"{result['growth_per_cycle_bytes']} bytes per cycle (least-squares slope)")
    if not args.no_save:
        row = {k: v for k, v in result.items() if k != "samples_mib"}
        path = write_results("leak", [row], samples_mib=result["samples_mib"],
                             data={"users": USERS, "items": ITEMS, "ratings": RATINGS})
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
