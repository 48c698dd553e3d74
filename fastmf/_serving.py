"""Using a fitted model: predictions, top-n recommendation, similar items and users,
fold-in.

Every method reads the ids it is given as raw ids or as row indices (``raw_ids``; by
default raw ids exactly when the model was fitted on raw ids), and treats ids the model
does not know by its ``unknown`` policy (:mod:`._scores`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from . import recommend as _rec
from ._exclusion import exclusion_rows
from ._fold_in import FoldInMixin
from ._ids import IdMap
from ._inputs import lookup, to_raw, uses_raw_ids
from ._loss_table import sigmoid
from ._params import check_params
from ._scores import scores_of
from ._state import FittedState, snapshot

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._typing import FloatArray, RatingsLike

Ranked = tuple[np.ndarray, "FloatArray"]


class ServingMixin(FoldInMixin):
    """Methods of :class:`fastmf.MatrixFactorization` that use a fitted model.

    ``raw_ids`` (every method): whether the ids given, and returned, are raw ids, as in
    the data the model was fitted on, or row indices.  ``None`` (the default): raw ids
    when the model was fitted on raw ids (a DataFrame, :class:`fastmf.data.Interactions`,
    string ids, the command line, or ``fastmf.distributed`` on a DataFrame), row
    indices otherwise.
    """

    def predict(self, users: ArrayLike, items: ArrayLike, *,
                raw_ids: bool | None = None) -> FloatArray:
        """Predicted rating (squared loss) or probability of a positive label (logistic
        loss) for each (user, item) pair.

        Explicit ratings are clipped to the range of the training ratings (``clip``).
        Users and items the model does not know get the bias-only prediction, or raise
        ``ValueError`` (``unknown``).

        Parameters
        ----------
        users, items : array-like, same length
            Users and items: raw ids or row indices.
        raw_ids : bool or None, default=None
            Whether ``users`` and ``items`` are raw ids (see the class notes); ``None``:
            raw ids for a model fitted on raw ids.

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

        A model fitted on raw ids takes them:

        >>> import pandas as pd
        >>> df = pd.DataFrame({"user": ["ann", "bob", "ann"], "item": ["x", "x", "y"],
        ...                    "rating": [5.0, 3.0, 4.0]})
        >>> model = MatrixFactorization(1, epochs=5, random_state=0).fit(df)
        >>> model.predict(["ann", "zoe"], ["x", "x"]).shape   # zoe: bias-only prediction
        (2,)
        """
        p = check_params(self)
        return scores_of(self, snapshot(self), users, items, raw_ids=raw_ids,
                         unknown=p.unknown, clip=p.clip, probabilities=True)

    def decision_function(self, users: ArrayLike, items: ArrayLike, *,
                          raw_ids: bool | None = None) -> FloatArray:
        """Raw scores :math:`\\mu + b_u + b_i + p_u \\cdot q_i` (no sigmoid, no clipping).

        Parameters
        ----------
        users, items : array-like, same length
            Users and items: raw ids or row indices.  Unknown ones follow ``unknown``,
            as in :meth:`predict`.
        raw_ids : bool or None, default=None
            As in :meth:`predict`.

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
        p = check_params(self)
        return scores_of(self, snapshot(self), users, items, raw_ids=raw_ids,
                         unknown=p.unknown, clip=False, probabilities=False)

    def recommend(self, users: ArrayLike | None = None, n: int = 10, *,
                  exclude: Any = None, items: ArrayLike | None = None,
                  new_users: RatingsLike | None = None, raw_ids: bool | None = None,
                  ) -> Ranked:
        """The ``n`` best-scored items of each user, best first.

        Parameters
        ----------
        users : int, str or array-like, optional
            Users: raw ids or row indices.  A user the model does not know is ranked by
            the bias-only score (or raises, see ``unknown``).
        n : int, default=10
            Items per user, at most the number of items of the model (a larger ``n``
            returns that many).  Where fewer are available (after exclusions and
            ``items``), the rows are padded with score -inf and id -1 (raw string ids:
            ``""``).
        exclude : sparse matrix, triples or DataFrame, optional
            Items not to recommend (typically the training data, to skip what users
            have already rated): the full users x items matrix, even one from before
            ``partial_fit`` grew the model; or the requested users' own rows, one per
            entry of ``users``; or ratings by id, in any form ``fit`` accepts
            (``(users, items[, values])``, a DataFrame...).  A matrix with as many rows
            as the model has users is read as the full matrix.
        items : array-like, optional
            Candidate items (raw ids or row indices); all items when omitted.
        new_users : sparse matrix of shape (m, n_items), triples or DataFrame, optional
            Ratings of users not seen in training, instead of ``users``: they are folded
            in (see :meth:`transform`) and their rated items are excluded.
        raw_ids : bool or None, default=None
            Whether the ids given and returned are raw ids (see the class notes).

        Returns
        -------
        ids : ndarray of shape (m, min(n, n_items))
            Item row indices (int64), or raw item ids.
        scores : ndarray, same shape
            The model's predictions for those items (probabilities for the logistic
            loss; explicit ratings unclipped), in decreasing order; ties go to the
            lower item row.

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

        The requested users' own rows exclude the same items:

        >>> bool((model.recommend([0, 1], n=5, exclude=train[[0, 1]])[0] == ids).all())
        True

        Users unknown to the model are folded in from their ratings (no refit):

        >>> ids, scores = model.recommend(new_users=train[:3], n=5)
        >>> ids.shape
        (3, 5)
        """
        s = snapshot(self)          # one state throughout, whatever other threads do
        p = check_params(self)
        use_raw = uses_raw_ids(s, raw_ids)
        if (users is None) == (new_users is None):
            raise ValueError("give exactly one of users and new_users")
        if new_users is not None:
            rows = self._new_rows(s, new_users, use_raw, p.unknown)
            vectors, bias = self._fold_in(s, rows)
            exclude = rows if exclude is None else exclude
        else:
            u, known = lookup("users", users, s.user_ids, s.user_factors.shape[0],
                              raw=use_raw, unknown=p.unknown)
            vectors = np.where(known[:, None], s.user_factors[u], 0).astype(s.dtype)
            bias = np.where(known, s.user_bias[u], 0).astype(s.dtype)
            if exclude is not None:
                exclude = exclusion_rows(exclude, s, u, known, raw_ids=use_raw,
                                         columns=p.columns)
        candidates = None
        if items is not None:
            candidates, known_items = lookup("items", items, s.item_ids,
                                             s.item_factors.shape[0], raw=use_raw,
                                             unknown=p.unknown)
            candidates = candidates[known_items]
        ids, scores = _rec.recommend(
            vectors, s.item_factors, s.item_bias, n, exclude=exclude, items=candidates,
            num_threads=self.num_threads, user_bias=bias + s.global_bias,
        )
        if s.loss == "logistic":
            scores = np.where(ids >= 0, sigmoid(scores), -np.inf).astype(scores.dtype)
        return (to_raw(ids, s.item_ids) if use_raw and s.item_ids is not None
                else ids), scores

    def recommend_all(self, n: int = 10, *, exclude: Any = None,
                      batch_size: int | None = None,
                      out: tuple[np.ndarray, np.ndarray] | None = None,
                      ) -> tuple[np.ndarray[tuple[int, int], np.dtype[np.int64]], FloatArray]:
        """The ``n`` best-scored items of every user, best first, with bounded memory.

        Equal to ``recommend(np.arange(n_users), n, exclude=exclude, raw_ids=False)``,
        computed ``batch_size`` users at a time (default 16,384), so that besides the
        output only one batch's working memory is needed; nothing users x items is ever
        built.  Row ``u`` is the model's user ``u`` and the ids are item rows, also for
        a model fitted on raw ids (``item_ids_[ids]`` gives those), so that ``out`` can
        be two plain int64 and float arrays.

        Parameters
        ----------
        n : int, default=10
            Items per user, at most the number of items of the model (a larger ``n``
            returns that many).
        exclude : sparse matrix, triples or DataFrame, optional
            Items not to recommend, in any form :meth:`recommend` takes for all users:
            the users x items matrix (even one from before ``partial_fit`` grew the
            model) or ratings by id.
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
        n_users, n_items = s.user_factors.shape[0], s.item_factors.shape[0]
        if exclude is not None and not (sp.issparse(exclude)
                                        and exclude.shape == (n_users, n_items)):
            # the other forms recommend takes: a smaller matrix from before partial_fit
            # grew the model, or ratings by id
            exclude = exclusion_rows(exclude, s, np.arange(n_users),
                                     np.ones(n_users, dtype=bool),
                                     raw_ids=uses_raw_ids(s, None),
                                     columns=check_params(self).columns)
        link = sigmoid if s.loss == "logistic" else None
        return _rec.recommend_all(
            s.user_factors, s.item_factors, s.item_bias, n, exclude=exclude,
            user_bias=s.user_bias + s.global_bias, batch_size=batch_size, out=out,
            num_threads=self.num_threads, link=link)

    def similar_items(self, items: ArrayLike, n: int = 10, *,
                      raw_ids: bool | None = None) -> Ranked:
        """The ``n`` items whose factors have the highest cosine similarity with each
        query item's, the query itself excluded.

        Parameters
        ----------
        items : int, str or array-like
            Query items (m of them): raw ids or row indices.  An item the model does
            not know gets an empty row (ids -1 or ``""``, similarities -inf), or raises
            (``unknown``).
        n : int, default=10
            Neighbours per query.
        raw_ids : bool or None, default=None
            Whether the ids given and returned are raw ids (see the class notes).

        Returns
        -------
        ids : ndarray, shape (m, n)
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
        s = snapshot(self)
        return self._similar(s, items, n, s.item_factors, s.item_ids, "items", raw_ids)

    def similar_users(self, users: ArrayLike, n: int = 10, *,
                      raw_ids: bool | None = None) -> Ranked:
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
        s = snapshot(self)
        return self._similar(s, users, n, s.user_factors, s.user_ids, "users", raw_ids)

    def _similar(self, s: FittedState, query: Any, n: int, factors: np.ndarray,
                 id_map: IdMap | None, name: str, raw_ids: Any) -> Ranked:
        use_raw = uses_raw_ids(s, raw_ids)
        q, known = lookup(name, query, id_map, factors.shape[0], raw=use_raw,
                          unknown=check_params(self).unknown)
        ids, sims = _rec.similar(q, factors, n, num_threads=self.num_threads)
        ids[~known], sims[~known] = -1, -np.inf
        return (to_raw(ids, id_map) if use_raw and id_map is not None else ids), sims
