"""Evaluation metrics: pointwise errors, ROC AUC and top-k ranking quality.

The ranking metrics take any fitted factor model (an object with ``user_factors_``,
``item_factors_`` and, optionally, ``item_bias_``) and a held-out users x items sparse
matrix.  For each user with at least one relevant held-out item, items are ranked by
:math:`p_u \\cdot q_i + b_i` (the user's own bias and the global bias do not change a
ranking), the user's ``train`` items are left out, and the top ``k`` are compared with the
held-out ones.  Ranking runs in the top-n kernel, users a batch at a time, so no
users x items score matrix is built.

.. rubric:: Conventions shared by the ranking metrics

* Relevant items of user u: the stored entries of row u of ``test`` with a value > 0.
  (Explicit zeros and negative labels are not relevant.)
* Users with no relevant test item are skipped; the result is the mean over the others.
  A ``ValueError`` is raised if no user qualifies.
* Equal scores are ranked by lower item id (deterministic).
* A relevant item that is also in ``train`` is excluded from the ranking and so can never
  be a hit; splits from :mod:`fastmf.model_selection` never produce such overlaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._attributes import FittedModelMixin
from ._pointwise import log_loss, mae, rmse, roc_auc
from ._state import snapshot
from ._threads import effective_n_threads, single_threaded_blas
from ._topk import pair_counts, top_n
from ._validation import check_exclusion, check_int, check_matrix, check_vector

if TYPE_CHECKING:
    from ._typing import FactorModel, SparseMatrix

__all__ = [
    "log_loss",
    "mae",
    "map_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "rmse",
    "roc_auc",
    "roc_auc_per_user",
]

# Users per kernel call for the top-k metrics.
_BATCH_USERS = 2048


class _Ranking:
    """Validated model arrays and held-out data shared by the ranking metrics."""

    def __init__(self, model: Any, test: Any, train: Any, num_threads: int | None) -> None:
        users, items, bias = _factor_arrays(model)
        self.items = check_matrix("model.item_factors_", items)
        dtype = self.items.dtype
        self.users = check_matrix("model.user_factors_", users, dtype)
        n_users, n_items = self.users.shape[0], self.items.shape[0]
        if self.users.shape[1] != self.items.shape[1]:
            raise ValueError("model.user_factors_ and model.item_factors_ differ in factors")
        self.bias = (np.zeros(n_items, dtype=dtype) if bias is None
                     else check_vector("model.item_bias_", bias, n_items, dtype))
        self.test = self._relevant("test", test, (n_users, n_items))
        self.train = None
        if train is not None:
            if not sp.issparse(train):
                raise TypeError(f"train must be a scipy.sparse matrix, got {type(train).__name__}")
            if train.shape != (n_users, n_items):
                raise ValueError(
                    f"train must have shape {(n_users, n_items)} (the model's users x "
                    f"items), got {train.shape}"
                )
            self.train = train.tocsr()
        self.n_items = n_items
        self.n_threads = effective_n_threads(num_threads)
        counts = np.diff(self.test.indptr)
        self.eval_users = np.flatnonzero(counts)
        if self.eval_users.size == 0:
            raise ValueError("test holds no relevant entries (stored values > 0)")
        self.all_ids = np.arange(n_items, dtype=np.int64)

    @staticmethod
    def _relevant(name: str, X: Any, shape: tuple[int, int]) -> sp.csr_matrix:
        if not sp.issparse(X):
            raise TypeError(f"{name} must be a scipy.sparse matrix, got {type(X).__name__}")
        if X.shape != shape:
            raise ValueError(
                f"{name} must have shape {shape} (the model's users x items), got {X.shape}"
            )
        coo = X.tocoo()
        keep = coo.data > 0
        rel = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.int8), (coo.row[keep], coo.col[keep])),
            shape=shape,
        )
        rel.sum_duplicates()
        return rel

    def batches(self, batch: int) -> Iterator[np.ndarray]:
        for lo in range(0, self.eval_users.size, batch):
            yield self.eval_users[lo:lo + batch]

    def top(self, users: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n ids and scores of ``users`` (BLAS must be single-threaded by the caller)."""
        excl = None if self.train is None else self.train[users]
        indptr, indices = check_exclusion(excl, users.size, self.n_items)
        q = np.ascontiguousarray(self.users[users])
        return top_n(q, self.items, self.bias, np.zeros(users.size, dtype=q.dtype),
                     self.all_ids, indptr, indices, np.full(users.size, -1, np.int64),
                     n, self.n_threads)

    def hits(self, users: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """hits[r, j]: ids[r, j] is a relevant test item of users[r]."""
        rel = self.test[users]
        rows = np.repeat(np.arange(users.size, dtype=np.int64), np.diff(rel.indptr))
        keys = rows * self.n_items + rel.indices            # ascending (sorted rows/cols)
        query = np.arange(users.size, dtype=np.int64)[:, None] * self.n_items + ids
        pos = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
        return np.asarray((ids >= 0) & (keys.size > 0) & (keys[pos] == query))


    def pair_counts(self, users: np.ndarray) -> np.ndarray:
        """(positives, negatives, wrongly ordered pairs, tied pairs) per user; see
        ``fastmf._topk.pair_counts`` (BLAS must be single-threaded by the caller)."""
        excl = None if self.train is None else self.train[users]
        indptr, indices = check_exclusion(excl, users.size, self.n_items)
        rel = self.test[users]
        q = np.ascontiguousarray(self.users[users])
        return pair_counts(q, self.items, self.bias, self.all_ids, indptr, indices,
                           rel.indptr.astype(np.int64), rel.indices.astype(np.int64),
                           self.n_threads)


def _factor_arrays(model: Any) -> tuple[Any, Any, Any]:
    """``(user_factors_, item_factors_, item_bias_ or None)`` of ``model``, all from one
    state: a fastmf model that another thread refits meanwhile gives the old arrays or
    the new ones, never a mix."""
    if isinstance(model, FittedModelMixin):
        s = snapshot(model)
        return s.user_factors, s.item_factors, s.item_bias
    for attr in ("user_factors_", "item_factors_"):
        if not hasattr(model, attr):
            raise TypeError(
                f"model must have user_factors_ and item_factors_ (a fitted factor "
                f"model); {type(model).__name__} has no {attr}"
            )
    return model.user_factors_, model.item_factors_, getattr(model, "item_bias_", None)


_PerUser = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _top_k_metric(model: Any, test: Any, k: Any, train: Any, num_threads: int | None,
                  per_user: _PerUser) -> float:
    return _top_k_metrics(model, test, k, train, num_threads, {"": per_user})[""]


def _top_k_metrics(model: Any, test: Any, k: Any, train: Any, num_threads: int | None,
                   per_user: dict[str, _PerUser]) -> dict[str, float]:
    """Several top-k metrics (``{name: per-user function}``, e.g. :data:`_TOP_K`) from one
    ranking pass: their means over the users of ``test`` with a relevant item."""
    k = check_int("k", k, low=1)
    ranking = _Ranking(model, test, train, num_threads)
    n_rel = np.diff(ranking.test.indptr)
    totals = dict.fromkeys(per_user, 0.0)
    width = min(k, ranking.n_items)     # ranks past the last item hold no hit
    with single_threaded_blas():
        for users in ranking.batches(_BATCH_USERS):
            ids, _ = ranking.top(users, width)
            hits = ranking.hits(users, ids)
            for name, metric in per_user.items():
                totals[name] += float(metric(hits, n_rel[users], k).sum())
    return {name: total / ranking.eval_users.size for name, total in totals.items()}


def _precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(hits.sum(axis=1) / k)


def _recall(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(hits.sum(axis=1) / n_rel)


# ``hits`` has min(k, n_items) columns: ranks beyond the number of items hold no hit (and
# n_rel <= n_items), so they add nothing to any of these sums.


def _ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    width = hits.shape[1]                   # min(k, n_items), and n_rel <= n_items
    discount = 1.0 / np.log2(np.arange(2, width + 2))
    ideal = np.cumsum(discount)[np.minimum(n_rel, width) - 1]
    return np.asarray((hits * discount).sum(axis=1) / ideal)


def _average_precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    width = hits.shape[1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, width + 1)
    return np.asarray((precision_at * hits).sum(axis=1) / np.minimum(n_rel, width))


#: The per-user functions of the top-k metrics, by the short name ``_top_k_metrics``
#: reports them under.
_TOP_K: dict[str, _PerUser] = {"precision": _precision, "recall": _recall, "ndcg": _ndcg,
                               "map": _average_precision}


_RANKING_PARAMS = """
    The matrices are keyword-only (``test=``, ``train=``): other libraries take them in
    other orders (``implicit``: ``precision_at_k(model, train, test, K)``), so a call
    ported from one names what it passes.

    Parameters
    ----------
    model : object
        Has ``user_factors_`` (n_users, f), ``item_factors_`` (n_items, f) and optionally
        ``item_bias_`` (n_items,).
    test : scipy.sparse matrix of shape (n_users, n_items)
        Held-out interactions; stored entries with a value > 0 are the relevant items.
    train : scipy.sparse matrix of shape (n_users, n_items), optional
        Items never to recommend to a user (the stored entries of the user's row).
    k : int, default=10
        Length of the recommended list (>= 1).
    num_threads : int or None, default=None
        OpenMP threads for the ranking kernel.

    Returns
    -------
    float
        Mean over users with at least one relevant test item (others are skipped).
"""


_RANKING_EXAMPLE = """
    Examples
    --------
    >>> from fastmf import MatrixFactorization
    >>> from fastmf.datasets import make_binary_ratings
    >>> from fastmf.data import from_arrays
    >>> from fastmf.metrics import {name}
    >>> from fastmf.model_selection import per_user_split
    >>> users, items, labels = make_binary_ratings(400, 300, 20_000, seed=0)
    >>> liked = labels > 0
    >>> X = from_arrays(users[liked], items[liked]).matrix    # one entry per interaction
    >>> train, test = per_user_split(X, test_size=0.2, random_state=0)
    >>> model = MatrixFactorization(16, solver="als", feedback="implicit", alpha=5.0,
    ...                             epochs=5, random_state=0).fit(train)
    >>> score = {name}(model, test=test, train=train, k=10)
    >>> 0.0 <= score <= 1.0
    True
"""


def _ranking_doc(summary: str, name: str) -> str:
    """Docstring of a top-k metric: its own summary, the shared parameters, an example."""
    return summary + _RANKING_PARAMS + _RANKING_EXAMPLE.format(name=name)


def precision_at_k(model: FactorModel, *, test: SparseMatrix,
                   train: SparseMatrix | None = None, k: int = 10,
                   num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _precision)


def recall_at_k(model: FactorModel, *, test: SparseMatrix,
                train: SparseMatrix | None = None, k: int = 10,
                num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _recall)


def ndcg_at_k(model: FactorModel, *, test: SparseMatrix,
              train: SparseMatrix | None = None, k: int = 10,
              num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _ndcg)


def map_at_k(model: FactorModel, *, test: SparseMatrix,
             train: SparseMatrix | None = None, k: int = 10,
             num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _average_precision)


# The summaries keep the indentation of the shared sections, so that the whole text
# dedents as one docstring.
precision_at_k.__doc__ = _ranking_doc(
    """Precision at k: the fraction of the top ``k`` that are relevant test items,
    ``hits / k`` (a user with fewer than k relevant items cannot reach 1).
""", "precision_at_k")
recall_at_k.__doc__ = _ranking_doc(
    """Recall at k: the fraction of a user's relevant test items found in the top ``k``,
    ``hits / n_relevant``.
""", "recall_at_k")
ndcg_at_k.__doc__ = _ranking_doc(
    """Normalised discounted cumulative gain at k with binary relevance:
    ``sum_{r < k} rel_r / log2(r + 2)`` divided by its best possible value,
    ``sum_{r < min(n_relevant, k)} 1 / log2(r + 2)``.
""", "ndcg_at_k")
map_at_k.__doc__ = _ranking_doc(
    """Mean average precision at k: per user
    ``sum_{r < k} precision@(r + 1) * rel_r / min(n_relevant, k)``.
""", "map_at_k")


def roc_auc_per_user(model: FactorModel, *, test: SparseMatrix,
                     train: SparseMatrix | None = None,
                     num_threads: int | None = None) -> float:
    """Mean over users of the ROC AUC of the user's full item ranking.

    For user u the positives are the relevant test items that are not in ``train``, and
    the negatives are all other items not in ``train``; the AUC is the probability that a
    positive outscores a negative, ties counting one half.  Users with no positive or no
    negative are skipped (a ``ValueError`` is raised if none remains).

    Parameters
    ----------
    model : object
        Has ``user_factors_``, ``item_factors_`` and optionally ``item_bias_``.
    test : scipy.sparse matrix of shape (n_users, n_items)
        Held-out interactions; stored entries with a value > 0 are positives.
    train : scipy.sparse matrix of shape (n_users, n_items), optional
        Items left out of each user's ranking.
    num_threads : int or None, default=None
        OpenMP threads for the ranking kernel.

    Returns
    -------
    float

    Examples
    --------
    >>> from fastmf import MatrixFactorization
    >>> from fastmf.datasets import make_binary_ratings
    >>> from fastmf.data import from_arrays
    >>> from fastmf.metrics import roc_auc_per_user
    >>> from fastmf.model_selection import per_user_split
    >>> users, items, labels = make_binary_ratings(400, 300, 20_000, seed=0)
    >>> X = from_arrays(users[labels > 0], items[labels > 0]).matrix
    >>> train, test = per_user_split(X, test_size=0.2, random_state=0)
    >>> model = MatrixFactorization(16, solver="als", feedback="implicit", alpha=5.0,
    ...                             epochs=5, random_state=0).fit(train)
    >>> roc_auc_per_user(model, test=test, train=train) > 0.5     # better than chance
    True
    """
    ranking = _Ranking(model, test, train, num_threads)
    total, counted = 0.0, 0
    with single_threaded_blas():
        for users in ranking.batches(_BATCH_USERS):
            counts = ranking.pair_counts(users)
            n_pos, n_neg, wrong, ties = counts.T
            ok = (n_pos > 0) & (n_neg > 0)
            pairs = (n_pos[ok] * n_neg[ok]).astype(np.float64)
            total += float((1.0 - (wrong[ok] + 0.5 * ties[ok]) / pairs).sum())
            counted += int(ok.sum())
    if counted == 0:
        raise ValueError("no user has both a positive test item and a negative item")
    return total / counted
