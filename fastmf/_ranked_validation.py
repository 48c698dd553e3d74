"""Validation of implicit-feedback fits by top-k ranking quality.

After each epoch every validation user's ranking of all items (the user's training
items left out, as ``score`` and :mod:`fastmf.metrics` leave them out) is compared with
the user's held-out interactions: recall@k and ndcg@k, from one pass of the top-n kernel
(``fastmf.metrics``), recorded as ``"val_recall@k"`` and ``"val_ndcg@k"``.  Early
stopping watches ndcg@k, higher being better: it counts where in the top k the hits
are, not only whether they are there, and it is what ``score`` reports for these
models.  Any implicit fit gets this, whatever its solver: the metrics read only the
parameters being trained and the training pairs the fit keeps.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ._state import snapshot
from ._training import Validation
from .metrics import _TOP_K, _top_k_metrics

if TYPE_CHECKING:
    from ._estimator import MatrixFactorization
    from ._params import Params


def ranking_validation(model: MatrixFactorization, params: Params, users: np.ndarray,
                       items: np.ndarray, values: np.ndarray, shape: tuple[int, int],
                       rng: np.random.Generator) -> Validation:
    """The ranking validation of held-out interactions ``(users, items, values)`` in the
    training rows (``shape`` = training users x items; an index beyond them is an id
    the training data lack, left out as ``score`` leaves it out).  Entries with a value
    > 0 are the relevant items.  With ``params.validation_users``, that many of the users
    are drawn once, from a generator seeded by a copy of the fit's stream ``rng`` (which
    so draws exactly what it would draw without validation)."""
    relevant = (users < shape[0]) & (items < shape[1]) & (values > 0)
    rows = np.unique(users[relevant])
    if rows.size == 0:
        raise ValueError("the validation data hold no interaction (a value > 0) of a user "
                         "and an item of the training data")
    sample = params.validation_users
    if sample is not None and sample < rows.size:
        sampler = np.random.default_rng(copy.deepcopy(rng).integers(2**63))
        chosen = np.zeros(shape[0], dtype=bool)
        chosen[sampler.choice(rows, size=sample, replace=False)] = True
        relevant &= chosen[np.minimum(users, shape[0] - 1)]
    held_out = sp.csr_matrix((np.ones(int(relevant.sum()), dtype=np.int8),
                              (users[relevant], items[relevant])), shape=shape)
    k = params.validation_k
    names = {f"val_recall@{k}": _TOP_K["recall"], f"val_ndcg@{k}": _TOP_K["ndcg"]}

    def evaluate() -> dict[str, float]:
        state = snapshot(model)           # the parameters being trained
        if state.seen is None:
            raise RuntimeError("this implicit fit keeps no training pairs, so validation "
                               "cannot leave them out of the rankings")
        return _top_k_metrics(model, held_out, k, state.seen.matrix(shape),
                              state.n_threads, names)

    return Validation(evaluate, f"val_ndcg@{k}", higher_is_better=True)
