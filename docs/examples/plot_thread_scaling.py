"""
Throughput against threads
==========================

Ratings processed per second by one SGD epoch and by one ALS sweep, and users served
per second by :meth:`~fastmf.MatrixFactorization.recommend`, for 1 thread up to the
cores of the machine that builds this page.  Each point is the best of three runs.

SGD gives the same model at every thread count (its blocks never conflict), so only
the speed changes.  Small machines show few points; ``bench/studies/scaling.py`` and the
:doc:`benchmark report </benchmarks>` have the measured scaling.
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np

import fastmf
from fastmf.datasets import make_ratings

users, items, ratings = make_ratings(20_000, 5_000, 500_000, seed=0)
cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
threads = sorted({t for t in (1, 2, 4, 8) if t <= (cores or 1)} | {min(cores or 1, 8)})


def best_of(runs, func):
    """The shortest of ``runs`` timings of ``func()``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


rates = {"SGD epoch": [], "ALS sweep": [], "recommend": []}
queries = np.arange(5_000)
data = (users, items, ratings)
for n in threads:
    sgd = fastmf.MatrixFactorization(32, epochs=1, num_threads=n, random_state=0)
    rates["SGD epoch"].append(ratings.size / best_of(3, lambda m=sgd: m.fit(data)))
    als = fastmf.MatrixFactorization(32, solver="als", epochs=1, l2=0.1, num_threads=n,
                                     random_state=0)
    rates["ALS sweep"].append(ratings.size / best_of(3, lambda m=als: m.fit(data)))
    rates["recommend"].append(queries.size / best_of(3, lambda m=sgd: m.recommend(queries, n=10)))
    print(f"{n} thread(s): " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()))

# %%
# A fit includes its set-up (validating and laying out the ratings), so these
# throughputs are lower than the kernels' own, which the benchmark suite measures.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for name in ("SGD epoch", "ALS sweep"):
    axes[0].plot(threads, rates[name], marker="o", label=name)
axes[0].set_ylabel("ratings per second (fit of one epoch)")
axes[1].plot(threads, rates["recommend"], marker="o", color="tab:green")
axes[1].set_ylabel("users per second (top 10 of 5,000 items)")
for ax in axes:
    ax.set_xlabel("threads")
    ax.set_xticks(threads)
    ax.set_ylim(bottom=0)
axes[0].legend()
fig.tight_layout()
plt.show()
