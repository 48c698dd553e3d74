"""Using a fitted model: predictions, top-n recommendation, similar items and users,
fold-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from . import _als
from . import recommend as _rec
from ._kernels import predict as _predict_kernel
from ._loss_table import LOSSES, sigmoid
from ._params import check_params
from ._state import snapshot
from ._threads import effective_n_threads, single_threaded_blas, threads_for
from ._validation import check_ids, check_ratings

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._typing import FloatArray, RatingsLike, SparseMatrix


class ServingMixin:
    """Methods of :class:`fastmf.MatrixFactorization` that use a fitted model."""

    def predict(self, users: ArrayLike, items: ArrayLike) -> FloatArray:
        """Predicted rating (squared loss) or probability of a positive label (logistic
        loss) for each (user, item) pair.

        Parameters
        ----------
        users, items : array-like of int, same length
            Indices of users and items seen in training.

        Returns
        -------
        ndarray of the model dtype, same length as ``users``

        Examples
        --------
        >>> import numpy as np
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_binary_ratings
        >>> labels = make_binary_ratings(200, 100, 4_000, seed=0)
        >>> model = MatrixFactorization(8, loss="logistic", epochs=5, random_state=0)
        >>> p = model.fit(labels).predict([0, 1, 2], [5, 5, 5])
        >>> p.shape, bool(((p > 0) & (p < 1)).all())    # probabilities
        ((3,), True)
        """
        return self._predict(users, items, raw=False)

    def decision_function(self, users: ArrayLike, items: ArrayLike) -> FloatArray:
        """Raw scores :math:`\\mu + b_u + b_i + p_u \\cdot q_i` (no sigmoid).

        Parameters
        ----------
        users, items : array-like of int, same length
            Indices of users and items seen in training.

        Returns
        -------
        ndarray of the model dtype, same length as ``users``
            For the logistic loss, ``predict`` is the sigmoid of these scores.

        Examples
        --------
        >>> import numpy as np
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_binary_ratings
        >>> model = MatrixFactorization(8, loss="logistic", epochs=5, random_state=0)
        >>> model = model.fit(make_binary_ratings(200, 100, 4_000, seed=0))
        >>> s = model.decision_function([0, 1], [3, 4])
        >>> bool(np.allclose(model.predict([0, 1], [3, 4]), 1 / (1 + np.exp(-s))))
        True
        """
        return self._predict(users, items, raw=True)

    def _predict(self, users: ArrayLike, items: ArrayLike, *, raw: bool) -> FloatArray:
        s = snapshot(self)
        u = check_ids("users", users, s.user_factors.shape[0])
        i = check_ids("items", items, s.item_factors.shape[0])
        if u.shape != i.shape:
            raise ValueError(
                f"users and items must have the same length, got {u.size} and {i.size}"
            )
        out = np.empty(u.shape[0], dtype=s.dtype)
        _predict_kernel.predict_pairs(
            u, i, s.user_factors, s.item_factors, s.user_bias, s.item_bias, s.global_bias,
            LOSSES[s.loss].code, raw, out,
            threads_for(effective_n_threads(self.num_threads), u.shape[0] * (s.factors + 1)),
        )
        if not np.isfinite(out).all():
            raise FloatingPointError(
                f"predictions overflowed {s.dtype.name}: the model's parameters are too "
                "large for its dtype")
        return out

    def recommend(self, users: ArrayLike | None = None, n: int = 10, *,
                  exclude: SparseMatrix | None = None, items: ArrayLike | None = None,
                  new_users: RatingsLike | None = None,
                  ) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
        """The ``n`` best-scored items of each user, best first.

        Parameters
        ----------
        users : int or array-like of int, optional
            Users seen in training.
        n : int, default=10
            Items per user, at most the number of items of the model (a larger ``n``
            returns that many).  Where fewer are available (after exclusions and
            ``items``), the rows are padded with id -1 and score -inf.
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
        ids : ndarray of int64, shape (m, min(n, n_items))
        scores : ndarray, same shape
            The model's predictions for those items (probabilities for the logistic loss),
            in decreasing order; ties go to the lower item id.

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_ratings
        >>> users, items, ratings = make_ratings(300, 200, 6_000, seed=0)
        >>> train = sp.csr_matrix((ratings, (users, items)), shape=(300, 200))
        >>> model = MatrixFactorization(8, epochs=5, random_state=0).fit(train)
        >>> ids, scores = model.recommend([0, 1], n=5, exclude=train)
        >>> ids.shape, bool((scores[:, :-1] >= scores[:, 1:]).all())
        ((2, 5), True)
        >>> seen = set(train[0].indices)
        >>> any(int(i) in seen for i in ids[0])
        False

        Users unknown to the model are folded in from their ratings (no refit):

        >>> ids, scores = model.recommend(new_users=train[:3], n=5)
        >>> ids.shape
        (3, 5)
        """
        s = snapshot(self)          # one state throughout, whatever other threads do
        if (users is None) == (new_users is None):
            raise ValueError("give exactly one of users and new_users")
        if new_users is not None:
            rows = self._new_rows(s, new_users)
            vectors, bias = self._fold_in(s, rows)
            exclude = rows if exclude is None else exclude
        else:
            users = check_ids("users", np.atleast_1d(users), s.user_factors.shape[0])
            vectors, bias = s.user_factors[users], s.user_bias[users]
            if exclude is not None:
                exclude = self._exclusion_rows(s, exclude, users)
        ids, scores = _rec.recommend(
            vectors, s.item_factors, s.item_bias, n, exclude=exclude, items=items,
            num_threads=self.num_threads, user_bias=bias + s.global_bias,
        )
        if s.loss == "logistic":
            scores = np.where(ids >= 0, sigmoid(scores), -np.inf).astype(scores.dtype)
        return ids, scores

    def recommend_all(self, n: int = 10, *, exclude: SparseMatrix | None = None,
                      batch_size: int | None = None,
                      out: tuple[np.ndarray, np.ndarray] | None = None,
                      ) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
        """The ``n`` best-scored items of every user, best first, with bounded memory.

        Equal to ``recommend(np.arange(n_users), n, exclude=exclude)``, computed
        ``batch_size`` users at a time (default 16,384), so that besides the output only
        one batch's working memory is needed; nothing users x items is ever built.

        Parameters
        ----------
        n : int, default=10
            Items per user, at most the number of items of the model (a larger ``n``
            returns that many).
        exclude : scipy.sparse matrix of shape (n_users, n_items), optional
            Items not to recommend, as stored entries of each user's row.
        batch_size : int, optional
            Users per batch.
        out : tuple (ids, scores), optional
            Preallocated output of shapes (n_users, min(n, n_items)), dtypes int64 and
            the model's dtype, C-contiguous and writeable: for example two arrays from
            ``numpy.lib.format.open_memmap``, so that the result is written to disk.

        Returns
        -------
        ids : ndarray of int64, shape (n_users, min(n, n_items))
            As for :meth:`recommend` (the array of ``out`` when given).
        scores : ndarray, same shape
            Likewise.

        Examples
        --------
        >>> import numpy as np
        >>> import scipy.sparse as sp
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_ratings
        >>> users, items, ratings = make_ratings(300, 200, 6_000, seed=0)
        >>> train = sp.csr_matrix((ratings, (users, items)), shape=(300, 200))
        >>> model = MatrixFactorization(8, epochs=5, random_state=0).fit(train)
        >>> ids, scores = model.recommend_all(5, exclude=train, batch_size=128)
        >>> ids.shape
        (300, 5)
        >>> each = model.recommend(np.arange(300), n=5, exclude=train)
        >>> bool((ids == each[0]).all() and (scores == each[1]).all())
        True
        """
        s = snapshot(self)          # one state throughout, whatever other threads do
        link = sigmoid if s.loss == "logistic" else None
        return _rec.recommend_all(
            s.user_factors, s.item_factors, s.item_bias, n, exclude=exclude,
            user_bias=s.user_bias + s.global_bias, batch_size=batch_size, out=out,
            num_threads=self.num_threads, link=link)

    def similar_items(self, items: ArrayLike, n: int = 10,
                      ) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
        """The ``n`` items whose factors have the highest cosine similarity with each
        query item's, the query itself excluded.

        Parameters
        ----------
        items : int or array-like of int
            Query items (m of them).
        n : int, default=10
            Neighbours per query.

        Returns
        -------
        ids : ndarray of int64, shape (m, n)
        similarities : ndarray, shape (m, n)
            Cosine similarities, best first.

        Examples
        --------
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_ratings
        >>> model = MatrixFactorization(8, epochs=5, random_state=0)
        >>> model = model.fit(make_ratings(300, 200, 6_000, seed=0))
        >>> ids, sims = model.similar_items([7], n=3)
        >>> ids.shape, 7 in ids, bool((sims <= 1.0 + 1e-6).all())
        ((1, 3), False, True)
        """
        return _rec.similar(np.atleast_1d(items), snapshot(self).item_factors, n,
                            num_threads=self.num_threads)

    def similar_users(self, users: ArrayLike, n: int = 10,
                      ) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
        """Like :meth:`similar_items`, over the user factors.

        Examples
        --------
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_ratings
        >>> model = MatrixFactorization(8, epochs=5, random_state=0)
        >>> model = model.fit(make_ratings(300, 200, 6_000, seed=0))
        >>> ids, sims = model.similar_users([0, 1], n=4)
        >>> ids.shape
        (2, 4)
        """
        return _rec.similar(np.atleast_1d(users), snapshot(self).user_factors, n,
                            num_threads=self.num_threads)

    def transform(self, X_new: RatingsLike) -> tuple[FloatArray, FloatArray]:
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
        return self._fold_in(s, self._new_rows(s, X_new))

    def _fold_in(self, s, rows) -> tuple[np.ndarray, np.ndarray]:
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

    @staticmethod
    def _new_rows(s, X_new):
        """New users' ratings with the model's item count checked (rows kept as given)."""
        n_items = s.item_factors.shape[0]
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

    @staticmethod
    def _exclusion_rows(s, exclude, users: np.ndarray):
        if not sp.issparse(exclude):
            raise TypeError(f"exclude must be a scipy.sparse matrix, got "
                            f"{type(exclude).__name__}")
        shape = (s.user_factors.shape[0], s.item_factors.shape[0])
        if exclude.shape != shape:
            raise ValueError(f"exclude must have shape {shape} (users x items of the model),"
                             f" got {exclude.shape}")
        return sp.csr_matrix(exclude)[users]
