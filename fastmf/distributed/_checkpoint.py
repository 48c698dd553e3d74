"""Factor checkpoints of a distributed fit: one ``.npz`` file, replaced atomically.

A checkpoint holds the parameters in global index order (so a job may resume with
another block layout or another cluster), the number of sweeps done, the global bias,
the loss history and what the parameters must match to be resumed: the shapes, the
dtype and the solver settings.  Like model files it holds no pickles, and like them it
is read as untrusted input (:class:`fastmf.ModelFileError` for anything malformed).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._files import Archive, check_keys, npz_path, write
from .._state import FittedState

FORMAT = "fastmf.distributed.checkpoint"
_ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias")


def path_of(path: str | os.PathLike[str]) -> Path:
    return npz_path(path)


def save(path: str | os.PathLike[str], arrays: list[np.ndarray], *, sweeps: int,
         mu: float, history: dict[str, list[float]], signature: dict[str, Any]) -> None:
    """Write the checkpoint: to a temporary file first, then renamed over ``path``, so
    an interrupted write never leaves a half file behind."""
    meta = {"format": FORMAT, "sweeps": sweeps, "global_bias": mu, "history": history,
            "signature": signature}
    write(path, meta, dict(zip(_ARRAYS, arrays, strict=True)))


def load(path: str | os.PathLike[str], signature: dict[str, Any],
         epochs: int) -> dict[str, Any] | None:
    """The checkpoint at ``path`` (None if there is none), checked against the fit that
    wants to resume from it (``signature``: shapes, factors, dtype, settings; at most
    ``epochs`` sweeps done).  Every array must have exactly the shape and dtype the
    signature implies and hold finite values."""
    path = path_of(path)
    if not path.exists():
        return None
    with Archive(path, "fastmf checkpoint") as archive:
        meta = archive.meta()
        if meta.get("format") != FORMAT:
            raise archive.error("wrong 'format' entry")
        check_keys(archive, meta, ("sweeps", "global_bias", "history", "signature"))
        saved = meta["signature"]
        if not isinstance(saved, dict):
            raise archive.error("its 'signature' is not a JSON object")
        for name, value in signature.items():
            if saved.get(name) != value:
                raise archive.error(
                    f"it was written by a fit with {name}={saved.get(name)!r}, this one "
                    f"has {name}={value!r}: use another checkpoint path or resume=False")
        k, n_users, n_items = signature["factors"], signature["n_users"], signature["n_items"]
        shapes = {"user_factors": (n_users, k), "item_factors": (n_items, k),
                  "user_bias": (n_users,), "item_bias": (n_items,)}
        dtype = np.dtype(signature["dtype"])
        arrays = []
        for name in _ARRAYS:
            _, got = archive.header(name, "f", len(shapes[name]))
            if got.newbyteorder("=") != dtype:
                raise archive.error(f"'{name}' has dtype {got}, the fit's dtype is {dtype}")
            arrays.append(np.array(archive.array(name, "f", shape=shapes[name])))
        sweeps, mu, history = meta["sweeps"], meta["global_bias"], meta["history"]
        if isinstance(sweeps, bool) or not isinstance(sweeps, int) or not (
                0 <= sweeps <= epochs):
            raise archive.error(f"sweeps must be an integer in 0..{epochs}, got {sweeps!r}")
        if isinstance(mu, bool) or not isinstance(mu, int | float) or not math.isfinite(mu):
            raise archive.error(f"global_bias must be a finite number, got {mu!r}")
        losses = history.get("loss") if isinstance(history, dict) else None
        if not isinstance(losses, list) or len(losses) != sweeps or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in losses):
            raise archive.error(f"its history is not a list of {sweeps} losses")
        try:
            FittedState(arrays[0], arrays[1], arrays[2], arrays[3], global_bias=mu,
                        loss="squared", biases=True, feedback="explicit").check_finite()
        except ValueError as exc:
            raise archive.error(str(exc)) from exc
    return {"arrays": arrays, "sweeps": sweeps, "global_bias": float(mu),
            "history": {"loss": [float(v) for v in losses]}}
