"""What scikit-learn asks of an estimator beyond ``get_params``/``set_params``: its
tags, ``score``, and whether it is fitted.

scikit-learn is not a dependency: ``__sklearn_tags__`` imports it only when
scikit-learn itself asks for the tags.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._inputs import pairs_of, raw_triples
from ._params import check_params
from ._pointwise import rmse, roc_auc
from ._scores import scores_of
from ._state import snapshot
from ._validation import _binary_labels

if TYPE_CHECKING:
    from ._typing import RatingsLike

#: Length of the ranked list that ``score`` evaluates for implicit feedback.
SCORE_K = 10


class SklearnMixin:
    """``score`` and the scikit-learn tags of :class:`fastmf.MatrixFactorization`."""

    num_threads: int | None

    def score(self, X: RatingsLike, y: Any = None) -> float:
        """How well the model predicts the ratings ``X``: higher is better, as
        scikit-learn's model selection expects.

        * explicit ratings (squared loss): the negative RMSE of :meth:`predict` over
          the ratings of ``X`` (so clipped, and with the bias-only prediction for ids
          the model does not know, as ``unknown`` says);
        * binary labels (logistic loss): the ROC AUC of the predicted probabilities
          against the labels of ``X`` (both classes must be present);
        * implicit feedback: the NDCG@10 of each user's ranking of all items, the
          interactions of ``X`` being the relevant ones and the training interactions
          left out of the ranking (kept from ``fit`` in this process; a loaded model
          ranks every item).  Pairs of users or items the model does not know are
          left out (they cannot be ranked).

        Parameters
        ----------
        X : sparse matrix, (users, items, values) or DataFrame
            Held-out ratings, in any form ``fit`` accepts, with raw ids for a model
            fitted on raw ids.
        y : None
            Ignored; scikit-learn's signature.

        Returns
        -------
        float

        Examples
        --------
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_ratings
        >>> from fastmf.model_selection import train_test_split
        >>> train, test = train_test_split(make_ratings(300, 200, 9_000, seed=0),
        ...                                random_state=0)
        >>> model = MatrixFactorization(8, random_state=0).fit(train)
        >>> -1.0 < model.score(test) < -0.5          # minus the test RMSE
        True
        """
        s = snapshot(self)
        p = check_params(self)
        if s.feedback == "implicit":
            return self._ranking_score(s, X, p)
        raw = raw_triples(X, p.columns)
        if raw is None:
            users, items, values = _index_pairs(X)
        else:
            users, items, values = raw
        predicted = scores_of(self, s, users, items, raw_ids=raw is not None,
                              unknown=p.unknown, clip=p.clip, probabilities=True)
        if s.loss == "logistic":
            labels = _binary_labels(np.asarray(values, dtype=np.float64))
            return roc_auc(labels, predicted)
        return -rmse(np.asarray(values, dtype=np.float64), predicted)

    def _ranking_score(self, s: Any, X: Any, p: Any) -> float:
        from .metrics import ndcg_at_k

        users, items, values, known = pairs_of(X, s, p.columns, p.unknown)
        keep = known & (np.asarray(values, dtype=np.float64) > 0)
        shape = (s.user_factors.shape[0], s.item_factors.shape[0])
        test = sp.csr_matrix((np.ones(int(keep.sum())), (users[keep], items[keep])),
                             shape=shape)
        arrays = SimpleNamespace(user_factors_=s.user_factors, item_factors_=s.item_factors,
                                 item_bias_=s.item_bias)
        seen = None if s.seen is None else s.seen.matrix(shape)
        return ndcg_at_k(arrays, test=test, train=seen, k=SCORE_K,
                         num_threads=self.num_threads)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            # transform folds new users in: (factors, biases) of the model's dtype
            transformer_tags=TransformerTags(preserves_dtype=[]),
            # ratings: a sparse users x items matrix, or one rating per row of a
            # DataFrame whose ids may be strings
            input_tags=InputTags(sparse=True, string=True),
            requires_fit=True,
        )


def _index_pairs(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users, items and values of ratings in index form (a sparse matrix or triples)."""
    if sp.issparse(X):
        coo = X.tocoo()
        return coo.row, coo.col, coo.data
    if isinstance(X, tuple) and len(X) == 3:
        return np.asarray(X[0]), np.asarray(X[1]), np.asarray(X[2])
    raise TypeError("X must be a scipy.sparse matrix, (users, items, values) triples or a "
                    f"DataFrame, got {type(X).__name__}")
