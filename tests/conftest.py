"""Shared fixtures: fresh random rating data for every test that asks for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def random_ratings(n_users: int = 60, n_items: int = 40, density: float = 0.3, *,
                   seed: int | None = None, binary: bool = False, rank: int = 3):
    """Low-rank ratings on a random sparsity pattern as a users x items CSR matrix."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[rng.integers(n_users), :] = True      # at least one well-filled row
    rows, cols = np.nonzero(mask)
    u = rng.normal(size=(n_users, rank))
    v = rng.normal(size=(n_items, rank))
    signal = (u[rows] * v[cols]).sum(axis=1) / np.sqrt(rank)
    if binary:
        values = (signal + 0.3 * rng.normal(size=signal.size) > 0).astype(np.float64)
    else:
        values = np.clip(3.5 + signal + 0.3 * rng.normal(size=signal.size), 1, 5)
    return sp.csr_matrix((values, (rows, cols)), shape=(n_users, n_items))


@pytest.fixture
def ratings():
    """Fresh explicit ratings (a new random seed each run)."""
    return random_ratings(seed=None)


@pytest.fixture
def labels():
    """Fresh binary labels in {0, 1}."""
    return random_ratings(seed=None, binary=True)


@pytest.fixture
def movielens_100k():
    path = SHARED_DATA / "movielens-100k" / "u.data"
    if not path.exists():
        pytest.skip("MovieLens 100K not present in ../shared/data")
    return path
