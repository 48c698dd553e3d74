"""The state of a model: what a fit starts from, trains and publishes, and the one
immutable snapshot a fitted model holds.

This module is the one place that knows how a model's parameters are made and kept:
the starting rows (:func:`initial_arrays`, :func:`grown_arrays` for ``partial_fit``,
:func:`given_arrays` for rows a caller gives),
the global bias (:func:`global_bias`), the private arrays a fit trains
(:class:`WorkingState`) and the publication of the result (:func:`publish`).  The
estimator, serving, persistence and ``fastmf.distributed`` all go through it.

Everything a fitted :class:`fastmf.MatrixFactorization` knows lives in one
:class:`FittedState`: the four parameter arrays (read-only), the global bias, what the
fit was (loss, biases, feedback), its history and the random stream ``partial_fit``
continues.  Training works on private arrays and publishes a new state with a single
attribute assignment when it is done, so

* a method that only reads the model takes the state once, at its start, and uses that
  object throughout: it sees the parameters from before a concurrent fit or those after
  it, never a mix of the two, and never arrays that are freed or resized under it;
* a fit or ``partial_fit`` that fails (divergence, a singular ALS system, bad input)
  publishes nothing: the model keeps the state it had before the call.

While a fit runs, the thread running it (its callback, its validation scoring) sees the
parameters being trained: :func:`training_view`.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.sparse as sp

from ._ids import IdMap

if TYPE_CHECKING:
    from ._params import Params

_ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias")


class Rated(Protocol):
    """Which rows the ratings name: ``users[j]``, ``items[j]`` of each rating, and the
    counts of rows (``fastmf._validation.Ratings`` is one)."""

    @property
    def users(self) -> np.ndarray: ...
    @property
    def items(self) -> np.ndarray: ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_items(self) -> int: ...


@dataclass(frozen=True, eq=False)
class SeenPairs:
    """The (user, item) pairs an implicit-feedback fit trained on, as the structure of a
    users x items CSR matrix without values: ``score`` leaves them out of each user's
    ranking.  A fit keeps the row pointers and column indices of the ALS kernel's own
    users x items layout, so remembering the pairs costs no memory beyond what the
    kernel held while it trained."""

    indptr: np.ndarray
    indices: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, matrix: sp.csr_matrix) -> SeenPairs:
        """The pairs stored in ``matrix`` (canonical CSR: sorted, no duplicates)."""
        return cls(matrix.indptr, matrix.indices, (int(matrix.shape[0]), int(matrix.shape[1])))

    def matrix(self, shape: tuple[int, int] | None = None) -> sp.csr_matrix:
        """The pairs as a CSR matrix of ones (int8), grown to ``shape`` if given."""
        out = sp.csr_matrix((np.ones(self.indices.size, dtype=np.int8), self.indices,
                             self.indptr), shape=self.shape)
        if shape is not None and shape != self.shape:
            out = out.copy()
            out.resize(shape)
        return out


@dataclass(frozen=True, eq=False)
class FittedState:
    """Parameters and facts of one fitted model; the arrays are read-only.

    The constructor checks that the arrays fit together: factor matrices of one float
    dtype with the same number of columns, bias vectors as long as their matrix has rows.
    It does not scan values; :meth:`check_finite` does, for untrusted sources.
    """

    user_factors: np.ndarray        # (n_users, k)
    item_factors: np.ndarray        # (n_items, k)
    user_bias: np.ndarray           # (n_users,)
    item_bias: np.ndarray           # (n_items,)
    global_bias: float
    loss: str
    biases: bool
    feedback: str
    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": []})
    best_epoch: int | None = None
    n_threads: int = 1
    rng: np.random.Generator | None = None     # partial_fit continues this stream
    user_ids: IdMap | None = None      # raw ids of the rows, for a model fitted on them
    item_ids: IdMap | None = None
    rating_range: tuple[float, float] | None = None   # training (min, max): clip=True
    seen: SeenPairs | None = None      # implicit feedback: the training pairs (score)

    def __post_init__(self) -> None:
        arrays = [getattr(self, name) for name in _ARRAYS]
        for name, a in zip(_ARRAYS, arrays, strict=True):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
        dtype = arrays[0].dtype
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"user_factors has dtype {dtype}, expected float32 or float64")
        for name, a in zip(_ARRAYS, arrays, strict=True):
            if a.dtype != dtype:
                raise ValueError(f"{name} has dtype {a.dtype}, user_factors has {dtype}")
            if a.ndim != (2 if name.endswith("factors") else 1):
                raise ValueError(f"{name} has shape {a.shape}, expected "
                                 f"{'two dimensions' if name.endswith('factors') else 'one'}")
            if not (a.flags.c_contiguous and a.flags.aligned):
                raise ValueError(f"{name} is not an aligned C-contiguous array")
        users, items, user_bias, item_bias = arrays
        if users.shape[1] != items.shape[1]:
            raise ValueError(f"user_factors has {users.shape[1]} factors, item_factors has "
                             f"{items.shape[1]}")
        if user_bias.shape[0] != users.shape[0] or item_bias.shape[0] != items.shape[0]:
            raise ValueError(
                f"bias lengths ({user_bias.shape[0]} users, {item_bias.shape[0]} items) "
                f"differ from the factor rows ({users.shape[0]} users, {items.shape[0]} "
                "items)")
        if (self.user_ids is None) != (self.item_ids is None):
            raise ValueError("a model has raw ids of both users and items, or of neither")
        for name, ids, n in (("user_ids", self.user_ids, users.shape[0]),
                             ("item_ids", self.item_ids, items.shape[0])):
            if ids is not None and len(ids) != n:
                raise ValueError(f"{name} holds {len(ids)} ids for {n} rows")
        if self.rating_range is not None:
            low, high = (float(v) for v in self.rating_range)
            if not (np.isfinite(low) and np.isfinite(high) and low <= high):
                raise ValueError(f"rating_range must be finite (low, high), got "
                                 f"{self.rating_range!r}")
            object.__setattr__(self, "rating_range", (low, high))
        for name, a in zip(_ARRAYS, arrays, strict=True):
            if a.flags.writeable:          # a read-only view; the caller keeps its array
                view = a.view()
                view.flags.writeable = False
                object.__setattr__(self, name, view)
        object.__setattr__(self, "global_bias", float(self.global_bias))

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and deepcopy rebuild through the constructor: checked and read-only again
        return (type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self)))

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.user_factors.dtype

    @property
    def factors(self) -> int:
        return int(self.user_factors.shape[1])

    @property
    def fitted(self) -> dict[str, Any]:
        """What predictions and ``partial_fit`` rely on, whatever the estimator's
        parameters say later."""
        return {"loss": self.loss, "biases": self.biases, "feedback": self.feedback}

    def check_finite(self) -> None:
        """Raise ValueError naming the first array (or the global bias) holding NaN or
        infinity."""
        if not np.isfinite(self.global_bias):
            raise ValueError(f"the global bias is {self.global_bias}")
        for name in _ARRAYS:
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} holds NaN or infinite values")

    def scores_bounded(self) -> bool:
        """True when no score mu + b_u + b_i + p_u . q_i can overflow the dtype: the
        largest row norms bound every dot product (and its partial sums)."""
        def largest_norm(a: np.ndarray) -> float:
            with np.errstate(over="ignore"):
                return float(np.sqrt(np.einsum("ij,ij->i", a, a, dtype=np.float64)).max(
                    initial=0.0))

        with np.errstate(over="ignore"):
            bound = (abs(self.global_bias) + float(np.abs(self.user_bias).max(initial=0))
                     + float(np.abs(self.item_bias).max(initial=0))
                     + largest_norm(self.user_factors) * largest_norm(self.item_factors))
        return bound <= float(np.finfo(self.dtype).max) / 2

    def working_copy(self) -> tuple[list[np.ndarray], dict[str, list[float]],
                                    np.random.Generator | None]:
        """Private, writable copies of the arrays, the history and the random stream,
        for training that must leave this state untouched if it fails."""
        arrays = [np.array(getattr(self, name), order="C", copy=True) for name in _ARRAYS]
        history = {name: list(values) for name, values in self.history.items()}
        return arrays, history, copy.deepcopy(self.rng)


def initial_rows(params: Params, rated: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Starting factors for n rows: N(0, init_scale^2), zero for the rows that no entry
    of ``rated`` names.  Drawn in float64 for every dtype, so float32 and float64 fits
    start alike."""
    with np.errstate(over="ignore"):           # reported below
        rows = (rng.standard_normal((n, params.factors))
                * params.init_scale).astype(params.dtype)
    rows[np.bincount(rated, minlength=n) == 0] = 0
    if not np.isfinite(rows).all():
        raise ValueError(f"init_scale={params.init_scale} draws factors beyond the range "
                         f"of {params.dtype.name}: use a scale of order 0.01 to 1")
    return rows


def initial_arrays(params: Params, data: Rated,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """``[user_factors, item_factors, user_bias, item_bias]`` to start a fit on ``data``
    (its ``users`` and ``items`` name the rated rows): factors from :func:`initial_rows`,
    biases 0."""
    return [initial_rows(params, data.users, data.n_users, rng),
            initial_rows(params, data.items, data.n_items, rng),
            np.zeros(data.n_users, dtype=params.dtype),
            np.zeros(data.n_items, dtype=params.dtype)]


def given_arrays(params: Params, arrays: Sequence[Any], n_users: int,
                 n_items: int) -> list[np.ndarray]:
    """Starting arrays a caller gives (``fastmf.distributed.fit(..., initial=...)``):
    copies in the model dtype, checked for their shapes and finite values."""
    if len(arrays) != 4:
        raise ValueError("initial must be (user_factors, item_factors, user_bias, "
                         f"item_bias), got {len(arrays)} arrays")
    k = params.factors
    shapes = [(n_users, k), (n_items, k), (n_users,), (n_items,)]
    out = []
    for name, given, shape in zip(_ARRAYS, arrays, shapes, strict=True):
        a = np.array(given, dtype=params.dtype, copy=True, order="C")
        if a.shape != shape:
            raise ValueError(f"initial {name} must have shape {shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"initial {name} holds non-finite values")
        out.append(a)
    return out


def grown_arrays(params: Params, arrays: list[np.ndarray], data: Rated,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """The four arrays with rows appended up to ``data``'s counts of users and items
    (``partial_fit``): new factor rows drawn as in :func:`initial_arrays`, new biases 0."""
    sides = ((data.users, data.n_users), (data.items, data.n_items)) * 2
    return [_grown(a, ids, n, params, rng) for a, (ids, n) in zip(arrays, sides,
                                                                  strict=True)]


def _grown(a: np.ndarray, ids: np.ndarray, n: int, params: Params,
           rng: np.random.Generator) -> np.ndarray:
    if a.shape[0] >= n:
        return a
    if a.ndim == 2:
        new_ids = ids[ids >= a.shape[0]] - a.shape[0]
        extra = initial_rows(params, new_ids, n - a.shape[0], rng)
    else:
        extra = np.zeros(n - a.shape[0], dtype=a.dtype)
    return np.concatenate([a, extra])


def global_bias(params: Params, values: np.ndarray) -> float:
    """mu of the ratings ``values``: their mean (squared loss) or the log-odds of their
    mean label (logistic), 0 without biases.  ``values`` come in the solver's layout
    order, which depends only on the set of ratings and the seed: the same ratings in any
    order give the same model."""
    if not params.biases:
        return 0.0
    return global_bias_of_mean(params, float(np.mean(values, dtype=np.float64)))


def global_bias_of_mean(params: Params, mean: float) -> float:
    """mu from the mean value (or mean label) of the ratings; 0 without biases."""
    if not params.biases:
        return 0.0
    if params.loss == "logistic":
        mean = min(max(mean, 1e-6), 1 - 1e-6)
        return float(np.log(mean / (1.0 - mean)))
    return mean


@dataclass
class WorkingState:
    """What a fit trains: private parameter arrays (the kernels write them in place), the
    global bias, the thread count, the history and the random stream to continue."""

    arrays: list[np.ndarray]       # user_factors, item_factors, user_bias, item_bias
    global_bias: float
    n_threads: int
    history: dict[str, list[float]]
    rng: np.random.Generator | None
    facts: dict[str, Any] = field(default_factory=dict)   # ids, rating range, seen

    def state(self, params: Params, best_epoch: int | None = None) -> FittedState:
        """A state over the arrays as they are now (read-only views, no copy)."""
        user_factors, item_factors, user_bias, item_bias = self.arrays
        return FittedState(user_factors, item_factors, user_bias, item_bias,
                           global_bias=self.global_bias, loss=params.loss,
                           biases=params.biases, feedback=params.feedback,
                           history=self.history, best_epoch=best_epoch,
                           n_threads=self.n_threads, rng=self.rng, **self.facts)


# ------------------------------------------------------------- the state of a model
# A model keeps its published state in its ``__dict__`` under ``_fitted_state``, and the
# states of the fits running in its own threads under ``_live``; only these functions
# read or write them.


def snapshot(model: object) -> FittedState:
    """The state this thread should use: the one being trained when called from a
    running fit's own thread, else the last published one.  Raises AttributeError when
    the model is not fitted."""
    live = model.__dict__.get("_live")
    if live:
        training: FittedState | None = live.get(threading.get_ident())
        if training is not None:
            return training
    try:
        state: FittedState = model.__dict__["_fitted_state"]
    except KeyError:
        raise AttributeError(
            f"this {type(model).__name__} is not fitted yet: call fit(X) first"
        ) from None
    return state


def published(model: object) -> FittedState | None:
    """The last published state, or None."""
    state: FittedState | None = model.__dict__.get("_fitted_state")
    return state


def publish(model: object, state: FittedState) -> None:
    """Make ``state`` the model's fitted state: one reference assignment, atomic."""
    model.__dict__["_fitted_state"] = state


@contextmanager
def training_view(model: object, state: FittedState) -> Iterator[None]:
    """Within the block, the calling thread sees ``state`` (the parameters being
    trained); every other thread keeps seeing the published state."""
    live = model.__dict__.setdefault("_live", {})
    ident = threading.get_ident()
    live[ident] = state
    try:
        yield
    finally:
        live.pop(ident, None)
