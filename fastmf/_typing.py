"""Type aliases used in the annotations of the public API.

They are strings, so importing this module costs nothing at run time and names that
only some SciPy versions have (``scipy.sparse.sparray``) are never evaluated; type
checkers read them as the unions they spell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    import os  # noqa: F401
    from collections.abc import Callable  # noqa: F401

    import numpy as np  # noqa: F401
    import scipy.sparse as sp  # noqa: F401
    from numpy.typing import ArrayLike, NDArray  # noqa: F401

    from ._estimator import MatrixFactorization  # noqa: F401

#: Any real-valued ndarray (the dtype depends on the input or the model).
FloatArray: TypeAlias = "NDArray[np.floating[Any]]"
#: Integer indices (int32 or int64).
IndexArray: TypeAlias = "NDArray[np.integer[Any]]"
#: A SciPy sparse matrix or array, in any format.
SparseMatrix: TypeAlias = "sp.spmatrix | sp.sparray"
#: Ratings as fit accepts them: a users x items sparse matrix or a (users, items,
#: values) triple of parallel arrays.
RatingsLike: TypeAlias = "SparseMatrix | tuple[ArrayLike, ArrayLike, ArrayLike]"
#: What ``random_state`` accepts.
RandomStateLike: TypeAlias = (
    "int | np.integer[Any] | np.random.Generator | np.random.SeedSequence"
    " | np.random.RandomState | None"
)
#: A file path.
PathLike: TypeAlias = "str | os.PathLike[str]"
#: ``callback(epoch, model, metrics)`` of ``fit``; returning False stops training.
EpochCallback: TypeAlias = "Callable[[int, MatrixFactorization, dict[str, float]], bool | None]"


class FactorModel(Protocol):
    """What the ranking metrics need of a model: fitted factor matrices (``item_bias_``
    is used too when the model has one)."""

    @property
    def user_factors_(self) -> NDArray[Any]: ...

    @property
    def item_factors_(self) -> NDArray[Any]: ...
