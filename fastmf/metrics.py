"""Evaluation metrics: pointwise errors, ROC AUC and top-k ranking quality.

The ranking metrics take any fitted factor model (an object with ``user_factors_``,
``item_factors_`` and, optionally, ``item_bias_``) and a held-out users x items sparse
matrix.  For each user with at least one relevant held-out item, items are ranked by
:math:`p_u \\cdot q_i + b_i` (the user's own bias and the global bias do not change a
ranking), the user's ``train`` items are left out, and the top ``k`` are compared with the
held-out ones.  Ranking runs in the top-n kernel, users a batch at a time, so no
users x items score matrix is built.

Conventions shared by the ranking metrics
-----------------------------------------
* Relevant items of user u: the stored entries of row u of ``test`` with a value > 0.
  (Explicit zeros and negative labels are not relevant.)
* Users with no relevant test item are skipped; the result is the mean over the others.
  A ``ValueError`` is raised if no user qualifies.
* Equal scores are ranked by lower item id (deterministic).
* A relevant item that is also in ``train`` is excluded from the ranking and so can never
  be a hit; splits from :mod:`fastmf.model_selection` never produce such overlaps.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from ._dispatch import kernel
from ._threads import effective_n_threads, single_threaded_blas
from ._validation import check_int
from .recommend import _check_matrix, _check_vector, _exclusion_csr, _run_topk

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


# ---------------------------------------------------------------------------
# pointwise metrics
# ---------------------------------------------------------------------------


def _pair(y_true, y_pred, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, a in zip(names, (y_true, y_pred), strict=True):
        arr = np.asarray(a)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(
            arr
        ):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
        arrays.append(arr)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got "
            f"{arrays[0].shape[0]} and {arrays[1].shape[0]}"
        )
    if arrays[0].size == 0:
        raise ValueError(f"{names[0]} is empty")
    return arrays[0], arrays[1]


def _binary(name: str, y: np.ndarray) -> np.ndarray:
    """Labels in {0, 1} or {-1, +1} as booleans (True = positive)."""
    labels = np.unique(y)
    if np.all(np.isin(labels, (0.0, 1.0))) or np.all(np.isin(labels, (-1.0, 1.0))):
        return y > 0
    raise ValueError(f"{name} must hold binary labels in {{0, 1}} or {{-1, +1}}, got "
                     f"{labels[:6].tolist()}")


def rmse(y_true, y_pred) -> float:
    r"""Root mean squared error :math:`\sqrt{\frac1n \sum (y - \hat y)^2}`."""
    y, p = _pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y_true, y_pred) -> float:
    r"""Mean absolute error :math:`\frac1n \sum |y - \hat y|`."""
    y, p = _pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.mean(np.abs(y - p)))


def log_loss(y_true, p, eps: float = 1e-15) -> float:
    r"""Mean negative log-likelihood of binary labels.

    :math:`-\frac1n \sum y \log p + (1 - y) \log(1 - p)`, with ``p`` clipped to
    ``[eps, 1 - eps]`` so that a confident mistake costs a large but finite amount.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels in {0, 1} or {-1, +1}.
    p : array_like of shape (n,)
        Predicted probabilities of the positive class, in [0, 1].
    eps : float, default=1e-15
        Clipping margin, in (0, 0.5).
    """
    y, prob = _pair(y_true, p, ("y_true", "p"))
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), got {eps!r}")
    if prob.min() < 0.0 or prob.max() > 1.0:
        raise ValueError("p must hold probabilities in [0, 1]")
    pos = _binary("y_true", y)
    prob = np.clip(prob, eps, 1.0 - eps)
    return float(-np.mean(np.where(pos, np.log(prob), np.log1p(-prob))))


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting one half (average ranks, Mann-Whitney U).

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels in {0, 1} or {-1, +1}; both classes must be present.
    scores : array_like of shape (n,)
        Any real scores, higher meaning more likely positive.
    """
    y, s = _pair(y_true, scores, ("y_true", "scores"))
    pos = _binary("y_true", y)
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both positive and negative labels in y_true")
    ranks = rankdata(s)                   # average ranks for ties
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ---------------------------------------------------------------------------
# ranking metrics
# ---------------------------------------------------------------------------


class _Ranking:
    """Validated model arrays and held-out data shared by the ranking metrics."""

    def __init__(self, model, test, train, num_threads) -> None:
        for attr in ("user_factors_", "item_factors_"):
            if not hasattr(model, attr):
                raise TypeError(
                    f"model must have user_factors_ and item_factors_ (a fitted factor "
                    f"model); {type(model).__name__} has no {attr}"
                )
        self.items = _check_matrix("model.item_factors_", model.item_factors_)
        dtype = self.items.dtype
        self.users = _check_matrix("model.user_factors_", model.user_factors_, dtype)
        n_users, n_items = self.users.shape[0], self.items.shape[0]
        if self.users.shape[1] != self.items.shape[1]:
            raise ValueError("model.user_factors_ and model.item_factors_ differ in factors")
        bias = getattr(model, "item_bias_", None)
        self.bias = (np.zeros(n_items, dtype=dtype) if bias is None
                     else _check_vector("model.item_bias_", bias, n_items, dtype))
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
    def _relevant(name, X, shape) -> sp.csr_matrix:
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
        indptr, indices = _exclusion_csr(excl, users.size, self.n_items)
        q = np.ascontiguousarray(self.users[users])
        return _run_topk(q, self.items, self.bias, np.zeros(users.size, dtype=q.dtype),
                         self.all_ids, indptr, indices, np.full(users.size, -1, np.int64),
                         n, self.n_threads)

    def hits(self, users: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """hits[r, j]: ids[r, j] is a relevant test item of users[r]."""
        rel = self.test[users]
        rows = np.repeat(np.arange(users.size, dtype=np.int64), np.diff(rel.indptr))
        keys = rows * self.n_items + rel.indices            # ascending (sorted rows/cols)
        query = np.arange(users.size, dtype=np.int64)[:, None] * self.n_items + ids
        pos = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
        return (ids >= 0) & (keys.size > 0) & (keys[pos] == query)


    def pair_counts(self, users: np.ndarray) -> np.ndarray:
        """(positives, negatives, wrongly ordered pairs, tied pairs) per user; see
        ``topk.pair_counts`` (BLAS must be single-threaded by the caller)."""
        excl = None if self.train is None else self.train[users]
        indptr, indices = _exclusion_csr(excl, users.size, self.n_items)
        rel = self.test[users]
        q = np.ascontiguousarray(self.users[users])
        out = np.empty((users.size, 4), dtype=np.int64)
        status = kernel("topk").pair_counts(
            q, self.items, self.bias, self.all_ids, indptr, indices,
            rel.indptr.astype(np.int64), rel.indices.astype(np.int64), out, self.n_threads)
        if status:
            raise MemoryError("pair_counts: could not allocate per-thread scratch buffers")
        return out


def _top_k_metric(model, test, k, train, num_threads, per_user) -> float:
    k = check_int("k", k, low=1)
    ranking = _Ranking(model, test, train, num_threads)
    n_rel = np.diff(ranking.test.indptr)
    total = 0.0
    with single_threaded_blas():
        for users in ranking.batches(_BATCH_USERS):
            ids, _ = ranking.top(users, k)
            total += float(per_user(ranking.hits(users, ids), n_rel[users], k).sum())
    return total / ranking.eval_users.size


def _precision(hits, n_rel, k):
    return hits.sum(axis=1) / k


def _recall(hits, n_rel, k):
    return hits.sum(axis=1) / n_rel


def _ndcg(hits, n_rel, k):
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(n_rel, k) - 1]
    return (hits * discount).sum(axis=1) / ideal


def _average_precision(hits, n_rel, k):
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return (precision_at * hits).sum(axis=1) / np.minimum(n_rel, k)


_RANKING_PARAMS = """
    Parameters
    ----------
    model : object
        Has ``user_factors_`` (n_users, f), ``item_factors_`` (n_items, f) and optionally
        ``item_bias_`` (n_items,).
    test : scipy.sparse matrix of shape (n_users, n_items)
        Held-out interactions; stored entries with a value > 0 are the relevant items.
    k : int, default=10
        Length of the recommended list (>= 1).
    train : scipy.sparse matrix of shape (n_users, n_items), optional
        Items never to recommend to a user (the stored entries of the user's row).
    num_threads : int or None, default=None
        OpenMP threads for the ranking kernel.

    Returns
    -------
    float
        Mean over users with at least one relevant test item (others are skipped).
"""


def precision_at_k(model, test, k: int = 10, train=None,
                   num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _precision)


def recall_at_k(model, test, k: int = 10, train=None,
                num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _recall)


def ndcg_at_k(model, test, k: int = 10, train=None,
              num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _ndcg)


def map_at_k(model, test, k: int = 10, train=None,
             num_threads: int | None = None) -> float:
    return _top_k_metric(model, test, k, train, num_threads, _average_precision)


precision_at_k.__doc__ = (
    "Precision at k: the fraction of the top ``k`` that are relevant test items,\n"
    "``hits / k`` (a user with fewer than k relevant items cannot reach 1).\n"
    + _RANKING_PARAMS
)
recall_at_k.__doc__ = (
    "Recall at k: the fraction of a user's relevant test items found in the top ``k``,\n"
    "``hits / n_relevant``.\n" + _RANKING_PARAMS
)
ndcg_at_k.__doc__ = (
    "Normalised discounted cumulative gain at k with binary relevance:\n"
    "``sum_{r < k} rel_r / log2(r + 2)`` divided by its best possible value,\n"
    "``sum_{r < min(n_relevant, k)} 1 / log2(r + 2)``.\n" + _RANKING_PARAMS
)
map_at_k.__doc__ = (
    "Mean average precision at k: per user\n"
    "``sum_{r < k} precision@(r + 1) * rel_r / min(n_relevant, k)``.\n" + _RANKING_PARAMS
)


def roc_auc_per_user(model, test, train=None, num_threads: int | None = None) -> float:
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

    Returns
    -------
    float
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
