"""Checks of ``quality.py``'s Gowalla evaluator and loaders against brute force on tiny
made-up data (no benchmark; collected by ``pytest bench`` like the ``bench_*`` files)."""

from __future__ import annotations

import numpy as np
import pytest
import quality
import scipy.sparse as sp


def _brute_force(user_factors, item_factors, train, test, k):
    """recall@k and ndcg@k from the dense score matrix, one user at a time."""
    scores = user_factors @ item_factors.T
    train, test = train.toarray() > 0, test.toarray() > 0
    recalls, ndcgs = [], []
    for u in range(scores.shape[0]):
        relevant = set(np.flatnonzero(test[u]))
        if not relevant:
            continue
        candidates = [i for i in range(scores.shape[1]) if not train[u, i]]
        # best score first, equal scores by lower item id
        ranked = sorted(candidates, key=lambda i: (-scores[u, i], i))[:k]
        hits = [i in relevant for i in ranked]
        recalls.append(sum(hits) / len(relevant))
        dcg = sum(1.0 / np.log2(r + 2) for r, h in enumerate(hits) if h)
        idcg = sum(1.0 / np.log2(r + 2) for r in range(min(len(relevant), k)))
        ndcgs.append(dcg / idcg)
    return np.mean(recalls), np.mean(ndcgs)


@pytest.mark.parametrize("k", [1, 3, 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_ranking_metrics_match_brute_force(k, seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, f = 40, 30, 4
    # halves: scores are exact in float32 whatever the summation order, and ties are
    # frequent, which exercises the tie rule
    uf = (np.round(2 * rng.standard_normal((n_users, f))) / 2).astype(np.float32)
    itf = (np.round(2 * rng.standard_normal((n_items, f))) / 2).astype(np.float32)
    cells = rng.random((n_users, n_items))
    train = sp.csr_matrix((cells < 0.3).astype(np.float32))
    held_out = (cells >= 0.3) & (cells < 0.45)
    held_out[3] = False                     # a user without test items is skipped
    test = sp.csr_matrix(held_out.astype(np.float32))
    got = quality.ranking_metrics(uf, itf, train, test, k=k, threads=1, batch=7)
    recall, ndcg = _brute_force(uf.astype(np.float64), itf.astype(np.float64), train, test, k)
    assert got["users"] == int((np.diff(test.indptr) > 0).sum())
    assert got["recall"] == pytest.approx(recall, abs=1e-12)
    assert got["ndcg"] == pytest.approx(ndcg, abs=1e-12)


def test_ranking_metrics_perfect_model():
    # scores rank each user's single test item first among the untrained items
    item_factors = np.eye(5, dtype=np.float32)
    user_factors = np.eye(5, dtype=np.float32)[[1, 2, 3]]
    train = sp.csr_matrix(np.zeros((3, 5), dtype=np.float32))
    test = sp.csr_matrix(np.eye(5, dtype=np.float32)[[1, 2, 3]])
    got = quality.ranking_metrics(user_factors, item_factors, train, test, k=2)
    assert got == {"recall": 1.0, "ndcg": 1.0, "users": 3}


def test_load_gowalla_and_holdout(tmp_path):
    (tmp_path / "train.tsv").write_text("0\t1\n0\t2\n1\t0\n1\t3\n1\t4\n1\t5\n1\t6\n")
    (tmp_path / "test.txt").write_text("0 3 4\n1 2\n")
    train, test = quality.load_gowalla(tmp_path)
    assert train.shape == test.shape == (2, 7)
    assert sorted(zip(*train.nonzero(), strict=True)) == [
        (0, 1), (0, 2), (1, 0), (1, 3), (1, 4), (1, 5), (1, 6)]
    assert sorted(zip(*test.nonzero(), strict=True)) == [(0, 3), (0, 4), (1, 2)]
    fit, val = quality.holdout_split(train, 0.2, seed=0)
    assert fit.nnz + val.nnz == train.nnz
    assert fit.multiply(val).nnz == 0
    assert np.diff(val.indptr).tolist() == [0, 1]     # floor(0.2 * 2) = 0, floor(0.2 * 5) = 1


def test_movielens_fold_loader(tmp_path):
    (tmp_path / "u1.base").write_text("1\t1\t5\t0\n943\t1682\t3\t0\n")
    (tmp_path / "u1.test").write_text("2\t3\t4\t0\n")
    train, (users, items, ratings) = quality.load_ml_fold(tmp_path, 1)
    assert train.shape == (943, 1682)
    assert train[0, 0] == 5 and train[942, 1681] == 3
    assert users.tolist() == [1] and items.tolist() == [2] and ratings.tolist() == [4.0]


def test_ranking_metrics_agree_with_fastmf_metrics():
    from types import SimpleNamespace

    from fastmf.metrics import ndcg_at_k, recall_at_k

    rng = np.random.default_rng(5)
    uf = rng.standard_normal((60, 6)).astype(np.float32)
    itf = rng.standard_normal((80, 6)).astype(np.float32)
    cells = rng.random((60, 80))
    train = sp.csr_matrix((cells < 0.2).astype(np.float32))
    test = sp.csr_matrix(((cells >= 0.2) & (cells < 0.3)).astype(np.float32))
    model = SimpleNamespace(user_factors_=uf, item_factors_=itf)
    got = quality.ranking_metrics(uf, itf, train, test, k=10, threads=2)
    want = {"recall": recall_at_k(model, test=test, train=train, k=10),
            "ndcg": ndcg_at_k(model, test=test, train=train, k=10)}
    assert got["recall"] == pytest.approx(want["recall"], abs=1e-12)
    assert got["ndcg"] == pytest.approx(want["ndcg"], abs=1e-12)
