"""
Accuracy against fit time
=========================

Test RMSE against the wall-clock time of the fit, for SGD and ALS over a range of
model sizes.  Points towards the lower left are better.  The times are measured on the
machine that builds this page, with all its cores, so compare the curves with each
other rather than with numbers from elsewhere.
"""

import time

import matplotlib.pyplot as plt

import fastmf
from fastmf.datasets import make_ratings
from fastmf.metrics import rmse
from fastmf.model_selection import train_test_split

users, items, ratings = make_ratings(10_000, 3_000, 300_000, seed=1)
train, test = train_test_split((users, items, ratings), test_size=0.2, random_state=0)

settings = {
    "SGD": dict(epochs=20, learning_rate=0.03, l2=0.03, init_scale=0.01),
    "ALS": dict(solver="als", epochs=6, l2=0.1, weighted_l2=True),
}
results = {name: [] for name in settings}
for name, params in settings.items():
    for factors in (4, 8, 16, 32, 64):
        model = fastmf.MatrixFactorization(factors, random_state=0, **params)
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        error = rmse(test[2], model.predict(test[0], test[1]))
        results[name].append((seconds, error, factors))
        print(f"{name} k={factors:3d}: {seconds:6.3f} s, test RMSE {error:.4f}")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for name, points in results.items():
    seconds, errors, factors = zip(*points, strict=True)
    ax.plot(seconds, errors, marker="o", label=name)
    for x, y, k in points:
        ax.annotate(f"k={k}", (x, y), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
ax.set_xscale("log")
ax.set_xlabel("fit time (s)")
ax.set_ylabel("test RMSE")
ax.set_title("300k synthetic ratings, 240k for training")
ax.legend()
fig.tight_layout()
plt.show()
