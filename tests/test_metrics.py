"""Metrics against slow, obviously-correct loops on fresh random data."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

import fastmf.metrics as metrics
from fastmf.metrics import (
    log_loss,
    mae,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rmse,
    roc_auc,
    roc_auc_per_user,
)

# ---------------------------------------------------------------------------
# pointwise
# ---------------------------------------------------------------------------


def test_rmse_mae():
    rng = np.random.default_rng()
    y = rng.normal(size=200)
    p = rng.normal(size=200)
    assert rmse(y, p) == pytest.approx(math.sqrt(sum((a - b) ** 2 for a, b in zip(y, p,
                                                                                 strict=True))
                                                 / 200))
    assert mae(y, p) == pytest.approx(sum(abs(a - b) for a, b in zip(y, p, strict=True)) / 200)
    assert rmse(y, y) == 0.0


def test_log_loss_and_clipping():
    rng = np.random.default_rng()
    y = rng.integers(0, 2, size=300)
    p = rng.random(300)
    expected = -sum(math.log(q) if t else math.log(1 - q) for t, q in zip(y, p, strict=True))
    assert log_loss(y, p) == pytest.approx(expected / 300)
    assert log_loss(2 * y - 1, p) == pytest.approx(expected / 300)     # {-1, +1} labels
    # a certain mistake is finite thanks to clipping
    assert log_loss([1, 0], [0.0, 1.0], eps=1e-7) == pytest.approx(-math.log(1e-7))


def slow_auc(y, s):
    pos = [v for t, v in zip(y, s, strict=True) if t > 0]
    neg = [v for t, v in zip(y, s, strict=True) if t <= 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def test_roc_auc_with_ties():
    rng = np.random.default_rng()
    y = rng.integers(0, 2, size=250)
    y[:2] = [0, 1]
    s = rng.integers(0, 6, size=250).astype(float)          # many ties
    assert roc_auc(y, s) == pytest.approx(slow_auc(y, s))
    s = rng.normal(size=250)
    assert roc_auc(y, s) == pytest.approx(slow_auc(y, s))


@pytest.mark.parametrize(
    ("func", "args", "exc", "match"),
    [
        (rmse, ([1.0, 2.0], [1.0]), ValueError, "same length"),
        (mae, ([[1.0]], [1.0]), ValueError, "y_true must be one-dimensional"),
        (rmse, ([], []), ValueError, "y_true is empty"),
        (rmse, ([1.0], [np.nan]), ValueError, "y_pred contains NaN"),
        (mae, (["a"], [1.0]), TypeError, "y_true must hold real numbers"),
        (log_loss, ([0, 2], [0.5, 0.5]), ValueError, "binary labels"),
        (log_loss, ([0, 1], [0.5, 1.5]), ValueError, "p must hold probabilities"),
        (roc_auc, ([1, 1], [0.1, 0.2]), ValueError, "both positive and negative"),
    ],
)
def test_pointwise_validation(func, args, exc, match):
    with pytest.raises(exc, match=match):
        func(*args)


# ---------------------------------------------------------------------------
# ranking
# ---------------------------------------------------------------------------


def stand_in_model(rng, n_users, n_items, k=3, dtype=np.float64, integer=True):
    """Any object with the three fitted arrays is a model."""
    if integer:        # exact scores, many ties: ties must be broken by lower id
        draw = lambda *shape: rng.integers(-2, 3, size=shape).astype(dtype)  # noqa: E731
    else:
        draw = lambda *shape: rng.normal(size=shape).astype(dtype)           # noqa: E731
    return SimpleNamespace(user_factors_=draw(n_users, k), item_factors_=draw(n_items, k),
                           item_bias_=draw(n_items))


def split_matrices(rng, n_users, n_items):
    """Disjoint random train and test; some users get no test item, test holds zeros."""
    cell = rng.random((n_users, n_items))
    train = sp.csr_matrix((cell < 0.15).astype(np.float64))
    test_mask = (cell > 0.9)
    test_mask[rng.random(n_users) < 0.2] = False
    values = np.where(rng.random((n_users, n_items)) < 0.1, 0.0, 4.0) * test_mask
    coo_r, coo_c = np.nonzero(test_mask)
    test = sp.csr_matrix((values[coo_r, coo_c], (coo_r, coo_c)), shape=(n_users, n_items))
    return train, test


def slow_rankings(model, train):
    scores = model.user_factors_.astype(np.float64) @ model.item_factors_.T.astype(
        np.float64) + model.item_bias_
    seen = train.toarray() != 0 if train is not None else np.zeros(scores.shape, bool)
    out = []
    for u in range(scores.shape[0]):
        order = [int(i) for i in np.argsort(-scores[u], kind="stable") if not seen[u, i]]
        out.append((order, scores[u]))
    return out


def slow_metric(name, model, test, k, train):
    rankings = slow_rankings(model, train)
    dense = test.toarray()
    values = []
    for u, (order, _) in enumerate(rankings):
        relevant = {i for i in range(dense.shape[1]) if dense[u, i] > 0}
        if not relevant:
            continue
        top = order[:k]
        rel = [1 if i in relevant else 0 for i in top] + [0] * (k - len(top))
        if name == "precision":
            values.append(sum(rel) / k)
        elif name == "recall":
            values.append(sum(rel) / len(relevant))
        elif name == "ndcg":
            dcg = sum(r / math.log2(j + 2) for j, r in enumerate(rel))
            idcg = sum(1 / math.log2(j + 2) for j in range(min(len(relevant), k)))
            values.append(dcg / idcg)
        elif name == "map":
            hits, ap = 0, 0.0
            for j, r in enumerate(rel):
                if r:
                    hits += 1
                    ap += hits / (j + 1)
            values.append(ap / min(len(relevant), k))
    return sum(values) / len(values)


def slow_auc_per_user(model, test, train):
    dense = test.toarray()
    values = []
    for u, (order, scores) in enumerate(slow_rankings(model, train)):
        y = [1 if dense[u, i] > 0 else 0 for i in order]
        if 0 < sum(y) < len(y):
            values.append(slow_auc(y, [scores[i] for i in order]))
    return sum(values) / len(values)


METRICS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
}


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ranking_metric_matches_slow(name, num_threads, dtype, monkeypatch):
    monkeypatch.setattr(metrics, "_BATCH_USERS", 7)          # several batches
    rng = np.random.default_rng()
    model = stand_in_model(rng, 40, 70, dtype=dtype)
    train, test = split_matrices(rng, 40, 70)
    for k in (1, 5, 80):                                      # 80 > items available
        got = METRICS[name](model, test=test, k=k, train=train, num_threads=num_threads)
        assert got == pytest.approx(slow_metric(name, model, test, k, train), rel=1e-12)
    got = METRICS[name](model, test=test, k=5, num_threads=num_threads)
    assert got == pytest.approx(slow_metric(name, model, test, 5, None), rel=1e-12)
    test = add_overlap(rng, train, test)
    got = METRICS[name](model, test=test, k=5, train=train, num_threads=num_threads)
    assert got == pytest.approx(slow_metric(name, model, test, 5, train), rel=1e-12)


def add_overlap(rng, train, test):
    """Test entries that are also training entries: excluded, so never ranked."""
    coo = train.tocoo()
    pick = rng.random(coo.nnz) < 0.3
    extra = sp.csr_matrix((np.full(int(pick.sum()), 5.0), (coo.row[pick], coo.col[pick])),
                          shape=test.shape)
    return (test + extra).tocsr()


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roc_auc_per_user_matches_slow(num_threads, integer, dtype, monkeypatch):
    monkeypatch.setattr(metrics, "_BATCH_USERS", 6)           # several batches
    rng = np.random.default_rng()
    model = stand_in_model(rng, 35, 60, integer=integer, dtype=dtype)
    train, test = split_matrices(rng, 35, 60)
    test = add_overlap(rng, train, test)
    got = roc_auc_per_user(model, test=test, train=train, num_threads=num_threads)
    assert got == pytest.approx(slow_auc_per_user(model, test, train), rel=1e-12)
    got = roc_auc_per_user(model, test=test, num_threads=num_threads)
    assert got == pytest.approx(slow_auc_per_user(model, test, None), rel=1e-12)


def test_model_without_item_bias_and_perfect_model():
    """A model whose scores put the test items first gets precision 1 and AUC 1."""
    n_users, n_items = 12, 30
    test = sp.csr_matrix((np.ones(n_users), (np.arange(n_users), np.arange(n_users))),
                         shape=(n_users, n_items))
    model = SimpleNamespace(user_factors_=np.eye(n_users, 12),
                            item_factors_=np.eye(n_items, 12))
    assert precision_at_k(model, test=test, k=1) == 1.0
    assert ndcg_at_k(model, test=test, k=3) == 1.0
    assert roc_auc_per_user(model, test=test) == 1.0


def test_ranking_metric_validation():
    rng = np.random.default_rng()
    model = stand_in_model(rng, 5, 8)
    test = sp.csr_matrix(np.eye(5, 8))
    with pytest.raises(ValueError, match="k must be >= 1"):
        precision_at_k(model, test=test, k=0)
    with pytest.raises(ValueError, match=r"test must have shape \(5, 8\)"):
        recall_at_k(model, test=sp.csr_matrix((5, 9)))
    with pytest.raises(ValueError, match=r"train must have shape \(5, 8\)"):
        ndcg_at_k(model, test=test, train=sp.csr_matrix((4, 8)))
    with pytest.raises(TypeError, match="test must be a scipy.sparse"):
        map_at_k(model, test=np.eye(5, 8))
    with pytest.raises(TypeError, match="has no item_factors_"):
        precision_at_k(SimpleNamespace(user_factors_=np.ones((5, 3))), test=test)
    with pytest.raises(ValueError, match="no relevant entries"):
        precision_at_k(model, test=sp.csr_matrix((5, 8)))
