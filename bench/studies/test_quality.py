"""Checks of ``quality.py``'s data loaders and validation split on tiny made-up files (no
benchmark; collected by ``pytest bench`` like the ``bench_*`` files).  Its metrics are
``fastmf.metrics``', tested with the library."""

from __future__ import annotations

import numpy as np
import quality


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
