"""What ``recommend(exclude=...)`` accepts, turned into one sparse row of items to skip
per requested user.

``exclude`` may be

* the full users x items matrix (typically the training matrix): row ``u`` holds the
  items of user ``u``.  A matrix from before ``partial_fit`` grew the model (fewer
  users or items than it has now) is read the same way: users and items it lacks have
  nothing excluded;
* the requested users' own rows, a matrix of ``len(users)`` rows aligned with
  ``users`` (what the ``implicit`` library takes).  A matrix with as many rows as the
  model has users is always read as the full matrix;
* ratings in the forms ``fit`` accepts, by id: ``(users, items[, values])`` triples,
  a DataFrame, :class:`fastmf.data.Interactions`.  Raw ids follow ``raw_ids``, as the
  requested users do.  Pairs of users or items the model does not know are ignored
  (nothing to exclude).

Only where entries are stored counts, not their values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._inputs import pairs_of

if TYPE_CHECKING:
    from ._state import FittedState


def exclusion_rows(exclude: Any, s: FittedState, users: np.ndarray, known: np.ndarray, *,
                   raw_ids: bool, columns: Any) -> sp.csr_matrix:
    """One CSR row per requested user (``users``: model rows, ``known`` False for users
    the model does not know, who get an empty row), over the model's items."""
    n_users, n_items = s.user_factors.shape[0], s.item_factors.shape[0]
    m = users.shape[0]
    if sp.issparse(exclude):
        if exclude.ndim != 2 or exclude.shape[1] > n_items:
            raise ValueError(
                f"exclude has shape {exclude.shape}: it must have at most {n_items} "
                "columns (the model's items)")
        rows = exclude.shape[0]
        if rows != n_users and rows == m:                   # the requested users' rows
            return _without_rows(_pattern(exclude, n_items), ~known)
        if rows > n_users:
            raise ValueError(
                f"exclude has {rows} rows: give the full users x items matrix (at most "
                f"{n_users} rows, the model's users) or one row per requested user ({m})")
        # the full matrix: only the requested users' rows are read (users it lacks, from
        # before partial_fit grew the model, have nothing excluded)
        have = users < rows
        if not have.any():
            return sp.csr_matrix((m, n_items), dtype=np.int8)
        picked = sp.csr_matrix(exclude)[np.where(have, users, 0)]
        return _without_rows(_pattern(picked, n_items), ~(known & have))
    else:
        u, i, _, ok = pairs_of(exclude, s, columns, "bias", raw_ids=raw_ids)
        full = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.int8), (u[ok], i[ok])),
                             shape=(n_users, n_items))
    return _without_rows(full[users], ~known)


def _pattern(matrix: Any, n_items: int) -> sp.csr_matrix:
    """Where ``matrix`` stores entries (explicit zeros included), as a CSR of ones with
    ``n_items`` columns (a matrix from before the model grew has fewer)."""
    coo = sp.coo_matrix(matrix)
    return sp.csr_matrix((np.ones(coo.nnz, dtype=np.int8), (coo.row, coo.col)),
                         shape=(coo.shape[0], n_items))


def _without_rows(matrix: sp.csr_matrix, drop: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with the entries of the rows where ``drop`` is True removed."""
    if not drop.any():
        return matrix
    out = sp.csr_matrix(sp.diags((~drop).astype(np.int8)) @ matrix)
    out.eliminate_zeros()
    return out
