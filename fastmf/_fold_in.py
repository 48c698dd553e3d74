"""Fold-in: factors and biases of new users from their ratings, the items held fixed
(``transform``, and ``recommend`` for users given by their ratings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from . import _als
from ._ids import IdMap
from ._inputs import lookup, raw_triples, uses_raw_ids
from ._params import check_params
from ._state import FittedState, snapshot
from ._threads import effective_n_threads, single_threaded_blas
from ._validation import check_ids, check_ratings

if TYPE_CHECKING:
    from ._typing import FloatArray, RatingsLike


class FoldInMixin:
    """:meth:`transform` of :class:`fastmf.MatrixFactorization`: one ALS user step per
    new user, against the published item factors."""

    num_threads: int | None

    def transform(self, X_new: RatingsLike, *,
                  raw_ids: bool | None = None) -> tuple[FloatArray, FloatArray]:
        """Factors and biases of new users from their ratings, the items held fixed.

        Each row is solved like one ALS user step of this model: the exact regularised
        least-squares solution (squared loss, explicit or implicit feedback) or Newton
        steps to convergence (logistic loss).  The penalty is the model's: ``l2`` and
        ``l2_bias`` as ALS uses them, and for an SGD model the per-rating penalty that
        SGD's weight decay minimises (``l2`` times the row's rating count).  Rows without
        ratings get zero factors and bias.

        Parameters
        ----------
        X_new : sparse matrix of shape (m, n_items), (users, items, values) or DataFrame
            The new users' ratings over the model's items: a matrix has one row per new
            user; triples and DataFrames name the new users by any labels (one row per
            distinct label, in sorted order).  Ratings of items the model does not know
            are left out (or raise, see ``unknown``).
        raw_ids : bool or None, default=None
            Whether the item ids of triples are raw ids (see the class notes).

        Returns
        -------
        user_factors : ndarray of shape (m, factors)
        user_bias : ndarray of shape (m,)

        Examples
        --------
        A new user who rated item 10 with 5 stars and item 30 with 1 star:

        >>> import numpy as np
        >>> import scipy.sparse as sp
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_ratings
        >>> users, items, ratings = make_ratings(300, 200, 6_000, seed=0)
        >>> model = MatrixFactorization(8, solver="als", epochs=5, l2=0.1,
        ...                             random_state=0).fit((users, items, ratings))
        >>> new = sp.csr_matrix(([5.0, 1.0], ([0, 0], [10, 30])), shape=(1, 200))
        >>> factors, bias = model.transform(new)
        >>> factors.shape, bias.shape
        ((1, 8), (1,))
        >>> scores = (model.global_bias_ + bias[0] + model.item_bias_[[10, 30]]
        ...           + model.item_factors_[[10, 30]] @ factors[0])
        >>> bool(scores[0] > scores[1])
        True
        """
        s = snapshot(self)
        rows = self._new_rows(s, X_new, uses_raw_ids(s, raw_ids), check_params(self).unknown)
        return self._fold_in(s, rows)

    def _fold_in(self, s: FittedState, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`transform` of checked rows against the state ``s``."""
        params = check_params(self)
        data = check_ratings(rows, s.dtype, loss=s.loss, allow_empty=True)
        factors = np.zeros((data.n_users, s.factors), dtype=s.dtype)
        bias = np.zeros(data.n_users, dtype=s.dtype)
        if data.nnz == 0:                  # rows without ratings: zero factors and bias
            return factors, bias
        cfg = params.fold_in_settings(s)
        csr = _als.prepare(data, cfg.model).by_user
        with single_threaded_blas():
            _als.half_sweep(csr, factors, bias, s.item_factors, s.item_bias, cfg,
                            global_bias=s.global_bias,
                            n_threads=effective_n_threads(self.num_threads), side="new user")
        return factors, bias

    def _new_rows(self, s: FittedState, X_new: Any, raw: bool, unknown: str) -> Any:
        """New users' ratings as a matrix over the model's items (one row per new user;
        a given matrix is kept as it is)."""
        n_items = s.item_factors.shape[0]
        if sp.issparse(X_new):
            if X_new.shape[1] != n_items:
                raise ValueError(
                    f"new users' ratings have {X_new.shape[1]} columns, the model has "
                    f"{n_items} items")
            return X_new
        by_id = raw_triples(X_new, check_params(self).columns)
        if by_id is None and isinstance(X_new, tuple) and len(X_new) == 3:
            by_id = X_new
            if not raw:            # users are row numbers of the result
                users = check_ids("users", X_new[0], np.iinfo(np.int32).max)
                m = int(users.max()) + 1 if users.size else 0
                i, known = lookup("items", X_new[1], None, n_items, raw=False,
                                  unknown=unknown)
                values = np.asarray(X_new[2])
                return sp.coo_matrix((values[known], (users[known], i[known])),
                                     shape=(m, n_items))
        if by_id is None:
            raise TypeError("new users' ratings must be a scipy.sparse matrix, (users, "
                            f"items, values) or a DataFrame, got {type(X_new).__name__}")
        if s.item_ids is None:
            raise ValueError("these ratings have raw ids, but the model was fitted on row "
                             "indices")
        labels, item_ids, values = by_id
        user_map = IdMap(labels)
        i, known = lookup("items", item_ids, s.item_ids, n_items, raw=True, unknown=unknown)
        u = user_map.to_index(labels)
        values = np.asarray(values)
        return sp.coo_matrix((values[known], (u[known], i[known])),
                             shape=(len(user_map), n_items))
