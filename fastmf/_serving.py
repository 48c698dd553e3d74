"""Using a fitted model: top-n recommendation, similar items and users, fold-in."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _als
from . import recommend as _rec
from ._losses import sigmoid
from ._threads import effective_n_threads, single_threaded_blas
from ._validation import check_ids, check_ratings

# Newton steps of a logistic fold-in: from zero, IRLS on an L2-regularised logistic
# regression reaches machine precision in well under this many steps.
_FOLD_IN_NEWTON_STEPS = 25


class ServingMixin:
    """Methods of :class:`fastmf.MatrixFactorization` that use a fitted model."""

    def recommend(self, users=None, n: int = 10, *, exclude=None, items=None,
                  new_users=None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best-scored items of each user, best first.

        Parameters
        ----------
        users : int or array-like of int, optional
            Users seen in training.
        n : int, default=10
            Items per user.  Where fewer are available (after exclusions and ``items``),
            the rows are padded with id -1 and score -inf.
        exclude : scipy.sparse matrix of shape (n_users, n_items), optional
            Items not to recommend, as stored entries of each user's row (typically the
            training matrix, to skip what users have already rated).
        items : array-like of int, optional
            Candidate items; all items when omitted.
        new_users : scipy.sparse matrix of shape (m, n_items) or (users, items, values)
            Ratings of users not seen in training, instead of ``users``: they are folded
            in (see :meth:`transform`) and their rated items are excluded.

        Returns
        -------
        ids : ndarray of int64, shape (m, n)
        scores : ndarray, shape (m, n)
            The model's predictions for those items (probabilities for the logistic loss),
            in decreasing order; ties go to the lower item id.
        """
        self._check_fitted()
        if (users is None) == (new_users is None):
            raise ValueError("give exactly one of users and new_users")
        if new_users is not None:
            rows = self._new_rows(new_users)
            vectors, bias = self.transform(rows)
            exclude = rows if exclude is None else exclude
        else:
            users = check_ids("users", np.atleast_1d(users), self.user_factors_.shape[0])
            vectors, bias = self.user_factors_[users], self.user_bias_[users]
            if exclude is not None:
                exclude = self._exclusion_rows(exclude, users)
        ids, scores = _rec.recommend(
            vectors, self.item_factors_, self.item_bias_, n, exclude=exclude, items=items,
            num_threads=self.num_threads, user_bias=bias + self.global_bias_,
        )
        if self._fitted["loss"] == "logistic":
            scores = np.where(ids >= 0, sigmoid(scores), -np.inf).astype(scores.dtype)
        return ids, scores

    def recommend_all(self, n: int = 10, *, exclude=None, batch_size: int | None = None,
                      out: tuple[np.ndarray, np.ndarray] | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best-scored items of every user, best first, with bounded memory.

        Equal to ``recommend(np.arange(n_users), n, exclude=exclude)``, computed
        ``batch_size`` users at a time (default 16,384), so that besides the output only
        one batch's working memory is needed; nothing users x items is ever built.

        Parameters
        ----------
        n : int, default=10
        exclude : scipy.sparse matrix of shape (n_users, n_items), optional
            Items not to recommend, as stored entries of each user's row.
        batch_size : int, optional
            Users per batch.
        out : tuple (ids, scores), optional
            Preallocated output of shapes (n_users, n), dtypes int64 and the model's
            dtype, C-contiguous and writeable: for example two arrays from
            ``numpy.lib.format.open_memmap``, so that the result is written to disk.

        Returns
        -------
        ids, scores : as for :meth:`recommend` (the arrays of ``out`` when given).
        """
        self._check_fitted()
        link = sigmoid if self._fitted["loss"] == "logistic" else None
        return _rec.recommend_all(
            self.user_factors_, self.item_factors_, self.item_bias_, n, exclude=exclude,
            user_bias=self.user_bias_ + self.global_bias_, batch_size=batch_size, out=out,
            num_threads=self.num_threads, link=link)

    def similar_items(self, items, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items whose factors have the highest cosine similarity with each
        query item's, the query itself excluded.  Returns ``(ids, similarities)`` of
        shape (m, n), best first."""
        self._check_fitted()
        return _rec.similar(np.atleast_1d(items), self.item_factors_, n,
                            num_threads=self.num_threads)

    def similar_users(self, users, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`similar_items`, over the user factors."""
        self._check_fitted()
        return _rec.similar(np.atleast_1d(users), self.user_factors_, n,
                            num_threads=self.num_threads)

    def transform(self, X_new) -> tuple[np.ndarray, np.ndarray]:
        """Factors and biases of new users from their ratings, the items held fixed.

        Each row is solved like one ALS user step of this model: the exact regularised
        least-squares solution (squared loss, explicit or implicit feedback) or Newton
        steps to convergence (logistic loss).  The penalty is the model's: ``l2`` and
        ``l2_bias`` as ALS uses them, and for an SGD model the per-rating penalty that
        SGD's weight decay minimises (``l2`` times the row's rating count).  Rows without
        ratings get zero factors and bias.

        Parameters
        ----------
        X_new : scipy.sparse matrix of shape (m, n_items), or (users, items, values)
            One row per new user, over the model's items.

        Returns
        -------
        user_factors : ndarray of shape (m, factors)
        user_bias : ndarray of shape (m,)
        """
        self._check_fitted()
        p = self._check_params()
        fitted = self._fitted
        data = check_ratings(self._new_rows(X_new), self.user_factors_.dtype,
                             loss=fitted["loss"])
        model = _als.model_for(fitted["feedback"], fitted["loss"])
        cfg = _als.ALSConfig(
            model=model, linear_solver="cholesky", cg_steps=1,
            newton_steps=_FOLD_IN_NEWTON_STEPS, l2=p["l2"], l2_bias=p["l2_bias"],
            weighted_l2=p["weighted_l2"] or p["solver"] == "sgd", biases=fitted["biases"],
            alpha=p["alpha"])
        csr = _als.prepare(data, model).by_user
        factors = np.zeros((data.n_users, self.user_factors_.shape[1]),
                           dtype=self.user_factors_.dtype)
        bias = np.zeros(data.n_users, dtype=self.user_factors_.dtype)
        with single_threaded_blas():
            _als.half_sweep(csr, factors, bias, self.item_factors_, self.item_bias_, cfg,
                            global_bias=self.global_bias_,
                            n_threads=effective_n_threads(self.num_threads), side="new user")
        return factors, bias

    def _new_rows(self, X_new):
        """New users' ratings with the model's item count checked (rows kept as given)."""
        n_items = self.item_factors_.shape[0]
        if sp.issparse(X_new):
            if X_new.shape[1] != n_items:
                raise ValueError(
                    f"new users' ratings have {X_new.shape[1]} columns, the model has "
                    f"{n_items} items")
            return X_new
        if isinstance(X_new, tuple) and len(X_new) == 3:
            users, items, values = X_new
            items = check_ids("items", items, n_items)
            users = check_ids("users", users, np.iinfo(np.int32).max)
            m = int(users.max()) + 1 if users.size else 0
            return sp.coo_matrix((np.asarray(values), (users, items)), shape=(m, n_items))
        raise TypeError("new users' ratings must be a scipy.sparse matrix or a "
                        f"(users, items, values) tuple, got {type(X_new).__name__}")

    def _exclusion_rows(self, exclude, users: np.ndarray):
        if not sp.issparse(exclude):
            raise TypeError(f"exclude must be a scipy.sparse matrix, got "
                            f"{type(exclude).__name__}")
        shape = (self.user_factors_.shape[0], self.item_factors_.shape[0])
        if exclude.shape != shape:
            raise ValueError(f"exclude must have shape {shape} (users x items of the model),"
                             f" got {exclude.shape}")
        return sp.csr_matrix(exclude)[users]
