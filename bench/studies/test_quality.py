"""Checks of ``quality.py``'s data loaders and validation split on tiny made-up files (no
benchmark; collected by ``pytest bench`` like the ``bench_*`` files).  Its metrics are
``fastmf.metrics``', tested with the library."""

from __future__ import annotations

import json

import numpy as np
import pytest
import quality

import fastmf


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
    # one of user 0's two items (at least one each way) and round(0.2 * 5) = 1 of user 1's
    assert np.diff(val.indptr).tolist() == [1, 1]


def test_movielens_fold_loader(tmp_path):
    (tmp_path / "u1.base").write_text("1\t1\t5\t0\n943\t1682\t3\t0\n")
    (tmp_path / "u1.test").write_text("2\t3\t4\t0\n")
    train, (users, items, ratings) = quality.load_ml_fold(tmp_path, 1)
    assert train.shape == (943, 1682)
    assert train[0, 0] == 5 and train[942, 1681] == 3
    assert users.tolist() == [1] and items.tolist() == [2] and ratings.tolist() == [4.0]


def _tiny_gowalla(folder, seed=0):
    """A 150 x 90 made-up split with some structure, in the Gowalla files' format."""
    rng = np.random.default_rng(seed)
    affinity = rng.normal(size=(150, 4)) @ rng.normal(size=(4, 90))
    liked = affinity > np.quantile(affinity, 0.85, axis=1, keepdims=True)
    test = liked & (rng.random(liked.shape) < 0.2)
    train = liked & ~test
    users, items = np.nonzero(train)
    folder.joinpath("train.tsv").write_text(
        "".join(f"{u}\t{i}\n" for u, i in zip(users, items, strict=True)))
    folder.joinpath("test.txt").write_text("".join(
        " ".join(map(str, [u, *np.flatnonzero(row)])) + "\n"
        for u, row in enumerate(test) if row.any()))


def test_gowalla_rows_are_tuned_on_the_holdout_and_reproducible(tmp_path):
    _tiny_gowalla(tmp_path)
    row = quality.Row("tiny", dict(quality.IALS, factors=4, alpha=5.0, epochs=6),
                      grid={"l2": [0.1, 3.0]})
    out = quality.run_gowalla(tmp_path, 1, [row], validate=False, with_implicit=False)
    fastmf_rows = [r for r in out if r["library"] == "fastmf"]
    assert len(fastmf_rows) == 1
    result = fastmf_rows[0]
    runs, tried = result["runs"], result["tuning"]
    assert [r["seed"] for r in runs] == result["seeds"] == list(quality.SEEDS)
    assert result["recall_min"] <= result["recall_at_20"] <= result["recall_max"]
    assert result["recall_at_20"] == pytest.approx(np.mean([r["recall"] for r in runs]))
    # each grid point tried on the hold-out, the best hold-out ndcg chosen
    assert sorted(t["params"]["l2"] for t in tried) == [0.1, 3.0]
    best = max(tried, key=lambda t: t["ndcg"])
    assert result["val_ndcg_at_20"] == best["ndcg"]
    assert 1 <= result["tuned_epochs"] == best["params"]["epochs"] <= 6
    # the recorded config alone reproduces every seed's figures
    config = json.loads(result["config"])
    assert config["l2"] == best["params"]["l2"]
    assert config["epochs"] == result["tuned_epochs"]
    train, test = quality.load_gowalla(tmp_path)
    for run in runs:
        model = fastmf.MatrixFactorization(**config, num_threads=1,
                                           random_state=run["seed"]).fit(train)
        assert quality.ranking_metrics(model, train, test) == {
            "recall": run["recall"], "ndcg": run["ndcg"]}
