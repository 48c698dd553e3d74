"""Saving fitted models to a single ``.npz`` file and loading them back.

The file holds plain arrays and one JSON document (no pickles, so loading never runs
code from the file): the constructor parameters, the fitted arrays, the training history
and a format version.  A file from another format version is refused with a clear
message rather than misread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._estimator import MatrixFactorization

FORMAT = "fastmf.MatrixFactorization"
FORMAT_VERSION = 1
_ARRAYS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
# Optional: raw ids of the rows (set by the command line's `fit`), kept when present.
_ID_MAPS = ("user_ids_", "item_ids_")


def _json_params(model: MatrixFactorization) -> dict[str, Any]:
    params = model.get_params()
    params["dtype"] = np.dtype(params["dtype"]).name
    state = params["random_state"]
    if state is not None and not isinstance(state, int | np.integer):
        params["random_state"] = None      # a Generator's state is not a parameter to keep
    elif state is not None:
        params["random_state"] = int(state)
    return params


def save(model: MatrixFactorization, path: str | os.PathLike[str]) -> None:
    """Write a fitted model to ``path`` (``.npz``; the suffix is added when missing)."""
    model._check_fitted()
    from . import __version__

    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastmf_version": __version__,
        "params": _json_params(model),
        "global_bias": model.global_bias_,
        "history": model.history_,
        "best_epoch": model.best_epoch_,
        "n_threads": model.n_threads_,
        "fitted": model._fitted,
    }
    arrays = {name.rstrip("_"): getattr(model, name) for name in _ARRAYS + _ID_MAPS
              if getattr(model, name, None) is not None}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def load(path: str | os.PathLike[str]) -> MatrixFactorization:
    """Read a model written by :meth:`MatrixFactorization.save`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file (the suffix may be left out).

    Returns
    -------
    MatrixFactorization
        The fitted model, with the parameters, arrays and history it was saved with.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a fastmf model, or was written in another format version.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastmf
    >>> from fastmf.datasets import make_ratings
    >>> model = fastmf.MatrixFactorization(4, epochs=2, random_state=0)
    >>> model = model.fit(make_ratings(100, 50, 1_000, seed=0))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     model.save(os.path.join(tmp, "model"))        # writes model.npz
    ...     loaded = fastmf.load(os.path.join(tmp, "model"))
    >>> loaded
    MatrixFactorization(factors=4, epochs=2, random_state=0)
    >>> loaded.predict([0], [0]) == model.predict([0], [0])
    array([ True])
    """
    from ._estimator import MatrixFactorization

    path = Path(path)
    if not path.exists() and path.with_suffix(".npz").exists():
        path = path.with_suffix(".npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a fastmf model file: {exc}") from exc
    with archive:
        if "meta" not in archive.files:
            raise ValueError(f"{path} is not a fastmf model file (no 'meta' entry)")
        meta = json.loads(str(archive["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a fastmf model file")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} was written in model format version {meta.get('format_version')} "
                f"(fastmf {meta.get('fastmf_version')}); this fastmf reads version "
                f"{FORMAT_VERSION}. Refit the model or load it with a matching fastmf."
            )
        arrays = {name: archive[name.rstrip("_")] for name in _ARRAYS + _ID_MAPS
                  if name.rstrip("_") in archive.files}
    params = meta["params"]
    params["dtype"] = np.dtype(params["dtype"])
    model = MatrixFactorization(**params)
    for name, value in arrays.items():
        setattr(model, name, value)
    model.global_bias_ = float(meta["global_bias"])
    model.history_ = {k: list(v) for k, v in meta["history"].items()}
    model.training_loss_ = model.history_["loss"]
    model.best_epoch_ = meta["best_epoch"]
    model.n_threads_ = meta["n_threads"]
    model._fitted = meta["fitted"]
    return model
