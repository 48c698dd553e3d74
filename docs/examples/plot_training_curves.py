"""
Training curves
===============

How SGD and ALS approach the same model, epoch by epoch.  Each fit gets validation
data, so ``history_`` records the validation RMSE after every epoch (every sweep for
ALS) next to the training loss, and :func:`fastmf.plot_history` draws both.
"""

# %%
# Synthetic explicit ratings with a known rank-10 structure and noise of standard
# deviation 0.5, so no model can reach a test RMSE below 0.5.
import matplotlib.pyplot as plt

import fastmf
from fastmf.datasets import make_ratings
from fastmf.model_selection import train_test_split

users, items, ratings = make_ratings(5_000, 2_000, 200_000, seed=0)
train, valid = train_test_split((users, items, ratings), test_size=0.2, random_state=0)

# %%
# SGD with the settings of ``fastmf demo``, and explicit ALS with frequency-weighted
# L2 (ALS-WR).  ALS needs far fewer passes, each of them dearer.
sgd = fastmf.MatrixFactorization(32, epochs=25, learning_rate=0.03, l2=0.03,
                                 init_scale=0.01, random_state=0)
sgd.fit(train, validation=valid)
als = fastmf.MatrixFactorization(32, solver="als", epochs=8, l2=0.1, weighted_l2=True,
                                 random_state=0)
als.fit(train, validation=valid)
for name, model in (("SGD", sgd), ("ALS", als)):
    history = model.history_["val_rmse"]
    print(f"{name}: validation RMSE {history[-1]:.4f} after {len(history)} passes")

# %%
# The built-in plot: training loss on the left axis, validation metric on the right.
fig = fastmf.plot_history(sgd)

# %%
# Both solvers on one axis.
fig, ax = plt.subplots(figsize=(6, 4))
for name, model in (("SGD", sgd), ("ALS", als)):
    history = model.history_["val_rmse"]
    ax.plot(range(1, len(history) + 1), history, marker="o", ms=3, label=name)
ax.axhline(0.5, color="grey", ls=":", label="noise level")
ax.set_xlabel("epoch (SGD) / sweep (ALS)")
ax.set_ylabel("validation RMSE")
ax.legend()
fig.tight_layout()

# %%
# Early stopping
# --------------
# With ``early_stopping=k`` training stops once the validation metric has not improved
# for ``k`` epochs, and the model keeps the parameters of its best epoch, which
# :func:`~fastmf.plot_history` marks.
stopped = fastmf.MatrixFactorization(64, epochs=200, learning_rate=0.03, l2=0.01,
                                     init_scale=0.01, early_stopping=3, random_state=0)
stopped.fit(train, validation=valid)
print(f"stopped after {len(stopped.history_['loss'])} epochs, best epoch {stopped.best_epoch_}")
fig = fastmf.plot_history(stopped)
plt.show()
