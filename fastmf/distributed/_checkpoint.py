"""Factor checkpoints of a distributed fit: one ``.npz`` file, replaced atomically.

A checkpoint holds the parameters in global index order (so a job may resume with
another block layout or another cluster), the number of sweeps done, the global bias,
the loss history and what the parameters must match to be resumed: the shapes, the
dtype and the solver settings.  Like model files it holds no pickles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

FORMAT = "fastmf.distributed.checkpoint"
_ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias")


def path_of(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save(path: str | os.PathLike, arrays: list, *, sweeps: int, mu: float,
         history: dict, signature: dict) -> None:
    """Write the checkpoint: to a temporary file first, then renamed over ``path``, so
    an interrupted write never leaves a half file behind."""
    path = path_of(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    meta = {"format": FORMAT, "sweeps": sweeps, "global_bias": mu, "history": history,
            "signature": signature}
    np.savez(tmp, meta=np.array(json.dumps(meta)),
             **dict(zip(_ARRAYS, arrays, strict=True)))
    os.replace(tmp, path)


def load(path: str | os.PathLike, signature: dict) -> dict | None:
    """The checkpoint at ``path`` (None if there is none), checked against the fit that
    wants to resume from it."""
    path = path_of(path)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as archive:
        if "meta" not in archive.files:
            raise ValueError(f"{path} is not a fastmf checkpoint")
        meta = json.loads(str(archive["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a fastmf checkpoint")
        arrays = [archive[name] for name in _ARRAYS]
    saved = meta["signature"]
    for name, value in signature.items():
        if saved.get(name) != value:
            raise ValueError(
                f"the checkpoint {path} was written by a fit with {name}={saved.get(name)!r}"
                f", this one has {name}={value!r}: use another checkpoint path or resume="
                "False")
    return {"arrays": arrays, "sweeps": int(meta["sweeps"]),
            "global_bias": float(meta["global_bias"]),
            "history": {k: list(v) for k, v in meta["history"].items()}}
