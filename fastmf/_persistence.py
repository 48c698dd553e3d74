"""The model file: a fitted model saved to a single ``.npz`` file, and read back.

The file holds plain arrays and one JSON document (no pickles, so loading never runs
code from the file): the constructor parameters, the fitted arrays, the training history
and a format version.  A model file is untrusted input: :func:`load` checks every entry
(see :mod:`fastmf._files` for the archive itself, :func:`_state_of` for what the entries
must satisfy together) and raises :class:`~fastmf.ModelFileError` for anything else, so
that a damaged or crafted file can never make a kernel read out of bounds.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import numpy as np

from ._files import Archive, check_keys, write
from ._ids import IdMap
from ._loss_table import LOSSES
from ._params import FEEDBACKS, check_params
from ._state import FittedState, publish, snapshot
from ._threads import check_num_threads
from ._version import __version__

if TYPE_CHECKING:
    from ._typing import PathLike


class Estimator(Protocol):
    """What a model file holds of an estimator: its constructor parameters (and its
    fitted state, see :mod:`fastmf._state`)."""

    def __init__(self, **params: Any) -> None: ...
    def get_params(self, deep: bool = True) -> dict[str, Any]: ...


M = TypeVar("M", bound=Estimator)

FORMAT = "fastmf.MatrixFactorization"
FORMAT_VERSION = 1
_ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias")
# Optional: raw ids of the rows (of a model fitted on raw ids: a DataFrame, the command
# line's `fit`, fastmf.distributed), kept when present.
_ID_MAPS = ("user_ids", "item_ids")


class PersistenceMixin:
    """``save`` of :class:`fastmf.MatrixFactorization` (:func:`fastmf.load` reads the
    file back)."""

    def save(self, path: PathLike) -> None:
        """Write the fitted model to a single ``.npz`` file (no pickles); read it back with
        :func:`fastmf.load`.  The round trip is exact.  The file is written to a
        temporary name and renamed, so a crash never leaves a half-written model under
        ``path``.

        Parameters
        ----------
        path : str or os.PathLike
            The file; ``.npz`` is appended when the name lacks it.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import fastmf
        >>> from fastmf.datasets import make_ratings
        >>> model = fastmf.MatrixFactorization(4, epochs=2, random_state=0)
        >>> model = model.fit(make_ratings(100, 50, 1_000, seed=0))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     model.save(os.path.join(tmp, "model.npz"))
        ...     loaded = fastmf.load(os.path.join(tmp, "model.npz"))
        >>> bool(np.array_equal(loaded.item_factors_, model.item_factors_))
        True
        """
        save(cast(Estimator, self), path)          # the module's function below


def _json_value(name: str, value: Any) -> Any:
    """A parameter as plain JSON: NumPy scalars become Python numbers and bools."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot save parameter {name}={value!r}: not a number, bool or string")


def _json_params(model: Estimator) -> dict[str, Any]:
    params = model.get_params()
    params["dtype"] = np.dtype(params["dtype"]).name
    state = params["random_state"]
    if state is not None and not isinstance(state, int | np.integer):
        params["random_state"] = None      # a Generator's state is not a parameter to keep
    return {name: _json_value(name, value) for name, value in params.items()}


def save(model: Estimator, path: str | os.PathLike[str]) -> None:
    """Write a fitted model to ``path`` (``.npz``; the suffix is added when missing),
    atomically: a crash never leaves a half-written file under that name."""
    s = snapshot(model)         # one consistent state, even while another thread fits

    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastmf_version": __version__,
        "params": _json_params(model),
        "global_bias": s.global_bias,
        "history": s.history,
        "best_epoch": s.best_epoch,
        "n_threads": s.n_threads,
        "fitted": s.fitted,
        "n_users": int(s.user_factors.shape[0]),
        "n_items": int(s.item_factors.shape[0]),
        "rating_range": None if s.rating_range is None else list(s.rating_range),
    }
    arrays = {name: getattr(s, name) for name in _ARRAYS}
    for name in _ID_MAPS:
        ids = getattr(s, name)
        if ids is not None:
            arrays[name] = ids.ids
    write(path, meta, arrays)


def load(path: str | os.PathLike[str], cls: type[M]) -> M:
    """The fitted ``cls`` (the estimator class) that the model file ``path`` holds;
    :func:`fastmf.load` documents what is checked and raised."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path = path + ".npz"
    with Archive(path, "fastmf model file") as archive:
        meta = archive.meta()
        if meta.get("format") != FORMAT:
            raise archive.error("wrong 'format' entry")
        if meta.get("format_version") != FORMAT_VERSION:
            raise archive.error(
                f"it was written in model format version {meta.get('format_version')!r} "
                f"(fastmf {meta.get('fastmf_version')!r}); this fastmf reads version "
                f"{FORMAT_VERSION}. Refit the model or load it with a matching fastmf.")
        check_keys(archive, meta, ("params", "global_bias", "history", "best_epoch",
                                   "n_threads", "fitted"))
        model = _model_of(archive, meta["params"], cls)
        state = _state_of(archive, meta, model)
        ids = {name: _ids(archive, name, n) for name, n in
               (("user_ids", state.user_factors.shape[0]),
                ("item_ids", state.item_factors.shape[0])) if archive.has(name)}
        if len(ids) == 1:
            raise archive.error("it holds raw ids of one axis only")
        state = dataclasses.replace(state, user_ids=ids.get("user_ids"),
                                    item_ids=ids.get("item_ids"),
                                    rating_range=_rating_range(archive, meta))
    publish(model, state)
    return model


def _model_of(archive: Archive, params: Any, cls: type[M]) -> M:
    """The estimator from the stored constructor parameters, checked as fit checks them."""
    if not isinstance(params, dict):
        raise archive.error("its 'params' are not a JSON object")
    unknown = set(params) - set(cls().get_params())
    if unknown:
        raise archive.error(f"unknown parameters {sorted(unknown)}")
    try:
        params = dict(params, dtype=np.dtype(params.get("dtype", "float32")))
        model = cls(**params)
        check_params(model)
        given = model.get_params()
        check_num_threads(given["num_threads"])
        seed = given["random_state"]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                                 or seed < 0):
            raise ValueError(f"random_state={seed!r}")
    except (TypeError, ValueError) as exc:
        raise archive.error(f"invalid parameters ({exc})") from exc
    return model


def _state_of(archive: Archive, meta: dict[str, Any], model: Estimator) -> FittedState:
    """The fitted state the file describes, every entry checked: array headers first
    (dtype, ndim, shapes agreeing with each other, with ``factors`` and with the stored
    counts), then the data (finite), then the metadata."""
    params = model.get_params()
    dtype = np.dtype(params["dtype"])
    k = params["factors"]
    shapes = {name: archive.header(name, "f", 2 if name.endswith("factors") else 1)
              for name in _ARRAYS}
    for name, (_, got) in shapes.items():
        if got.newbyteorder("=") != dtype:
            raise archive.error(f"'{name}' has dtype {got}, the model's dtype is {dtype}")
    n_users, n_items = shapes["user_factors"][0][0], shapes["item_factors"][0][0]
    if n_users == 0 or n_items == 0:
        raise archive.error(f"it holds {n_users} users and {n_items} items (a fitted model "
                            "has at least one of each)")
    expected = {"user_factors": (n_users, k), "item_factors": (n_items, k),
                "user_bias": (n_users,), "item_bias": (n_items,)}
    for name, shape in expected.items():
        if shapes[name][0] != shape:
            raise archive.error(f"'{name}' has shape {shapes[name][0]}, expected {shape} "
                                f"({n_users} users, {n_items} items, factors={k})")
    for key, n in (("n_users", n_users), ("n_items", n_items)):
        if key in meta and meta[key] != n:
            raise archive.error(f"its metadata says {key}={meta[key]!r}, the arrays hold {n}")
    user_factors, item_factors, user_bias, item_bias = (
        archive.array(name, "f", shape=expected[name]) for name in _ARRAYS)
    fitted = meta["fitted"]
    if not isinstance(fitted, dict):
        raise archive.error("its 'fitted' entry is not a JSON object")
    loss, biases, feedback = (fitted.get(key) for key in ("loss", "biases", "feedback"))
    if (not isinstance(loss, str) or loss not in LOSSES or not isinstance(feedback, str)
            or feedback not in FEEDBACKS or not isinstance(biases, bool)):
        raise archive.error(f"invalid 'fitted' entry {fitted!r}")
    history = _history(archive, meta["history"])
    state = FittedState(
        user_factors, item_factors, user_bias, item_bias,
        global_bias=_real(archive, "global_bias", meta["global_bias"]), loss=loss,
        biases=biases, feedback=feedback, history=history,
        best_epoch=_best_epoch(archive, meta["best_epoch"], len(history["loss"])),
        n_threads=_count(archive, "n_threads", meta["n_threads"], low=1))
    try:
        state.check_finite()
    except ValueError as exc:
        raise archive.error(str(exc)) from exc
    if not state.scores_bounded():
        raise archive.error(f"its parameters are so large that predictions would overflow "
                            f"{state.dtype.name}")
    if not biases and (state.global_bias != 0 or state.user_bias.any()
                       or state.item_bias.any()):
        raise archive.error("the model has no biases, but the file holds non-zero ones")
    return state


def _real(archive: Archive, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
            value):
        raise archive.error(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _count(archive: Archive, name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise archive.error(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _history(archive: Archive, history: Any) -> dict[str, list[float]]:
    if not isinstance(history, dict) or not isinstance(history.get("loss"), list):
        raise archive.error("its 'history' is not an object with a 'loss' list")
    for name, values in history.items():
        if not isinstance(values, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise archive.error(f"history[{name!r}] is not a list of numbers")
    return {name: [float(v) for v in values] for name, values in history.items()}


def _best_epoch(archive: Archive, value: Any, epochs: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= epochs:
        raise archive.error(f"best_epoch must be an epoch in 1..{epochs} or null, got "
                            f"{value!r}")
    return value


def _ids(archive: Archive, name: str, n: int) -> IdMap:
    """Raw ids of the rows: int64 or text, one per row, without repeats (sorted, unless
    ``partial_fit`` appended ids)."""
    ids = archive.array(name, "iU", ndim=1)
    if ids.shape[0] != n:
        raise archive.error(f"'{name}' has {ids.shape[0]} ids for {n} rows")
    if ids.dtype.kind == "i":
        ids = ids.astype(np.int64)
    try:
        return IdMap.from_ids(ids)
    except ValueError as exc:
        raise archive.error(f"'{name}' {exc}") from exc


def _rating_range(archive: Archive, meta: dict[str, Any]) -> tuple[float, float] | None:
    """The training ratings' (low, high), or None (binary labels, implicit feedback,
    files written before it was recorded)."""
    value = meta.get("rating_range")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise archive.error(f"rating_range must be [low, high] or null, got {value!r}")
    low, high = (_real(archive, "rating_range", v) for v in value)
    if low > high:
        raise archive.error(f"rating_range [{low}, {high}] is not a range")
    return low, high

