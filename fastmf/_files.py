"""fastmf's ``.npz`` files (model files and checkpoints): written atomically, read as
untrusted input.

A file is a ZIP archive of ``.npy`` members: plain arrays and one JSON document
(``meta``), never pickles.  Reading one checks every member's header before any data is
read: the dtype against what the caller allows, the shape against what the member holds
(a truncated or padded member is refused), and no member is read unless the caller asked
for it.  Anything wrong with the content raises :class:`ModelFileError`; only a file that
cannot be opened at all raises ``OSError`` (``FileNotFoundError`` when it is missing).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

# The JSON document is small (settings and per-epoch history); a larger one is refused
# before it is read.
_MAX_META_BYTES = 64 << 20


class ModelFileError(ValueError):
    """A model file or checkpoint is damaged, was not written by fastmf, or holds
    arrays or settings that do not fit together.  Raised by :func:`fastmf.load` and by
    ``fastmf.distributed.fit(..., resume=True)``; a ``ValueError`` subclass.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastmf
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "model.npz")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(b"not a model")
    ...     try:
    ...         fastmf.load(path)
    ...     except fastmf.ModelFileError as exc:
    ...         print(isinstance(exc, ValueError))
    True
    """


def npz_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``.npz`` appended unless it already ends so (as ``numpy.savez``)."""
    path = Path(os.fspath(path))
    return path if path.name.endswith(".npz") else path.with_name(path.name + ".npz")


def write(path: str | os.PathLike[str], meta: dict[str, Any],
          arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``meta`` (JSON) and ``arrays`` to ``path`` atomically: into a temporary file
    beside it, flushed to disk, then renamed over ``path``.  A crash or an error midway
    leaves ``path`` as it was (and no temporary file).  Returns the path written."""
    path = npz_path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)
    return path


def _sync_directory(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Archive:
    """An opened fastmf ``.npz`` file whose members are read on request, each checked.

    Use as a context manager; :meth:`meta` and :meth:`array` raise
    :class:`ModelFileError` on anything malformed.
    """

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = Path(os.fspath(path))
        self.what = what
        self._handle = open(self.path, "rb")       # OSError: cannot be opened at all
        try:
            self._zip = zipfile.ZipFile(self._handle)
            self._members = {info.filename: info for info in self._zip.infolist()}
        except Exception as exc:
            self._handle.close()
            raise self.error(f"not a readable .npz archive ({_describe(exc)})") from exc

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._zip.close()
        self._handle.close()

    def error(self, problem: str) -> ModelFileError:
        return ModelFileError(f"{self.path} is not a {self.what}: {problem}")

    def has(self, name: str) -> bool:
        return f"{name}.npy" in self._members

    def meta(self) -> dict[str, Any]:
        """The JSON document, which must be an object."""
        raw = self.array("meta", kinds="U", ndim=0, max_bytes=_MAX_META_BYTES)
        try:
            meta = json.loads(str(raw[()]))
        except ValueError as exc:
            raise self.error(f"its 'meta' entry is not JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise self.error("its 'meta' entry is not a JSON object")
        return meta

    def header(self, name: str, kinds: str,
               ndim: int | None = None) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """``(shape, dtype)`` of member ``name``, from its header alone; the dtype's
        kind must be one of ``kinds`` (NumPy kind letters) and the shape ``ndim``-D."""
        shape, dtype, _, _ = self._header(name, kinds, ndim)
        return shape, dtype

    def array(self, name: str, kinds: str, ndim: int | None = None, *,
              shape: tuple[int, ...] | None = None,
              max_bytes: int | None = None) -> np.ndarray:
        """Member ``name`` as a read-only C-contiguous array in native byte order, after
        its header was checked (kind, ``ndim``, ``shape`` where given, size)."""
        got, dtype, fortran, info = self._header(name, kinds, ndim)
        if shape is not None and got != tuple(shape):
            raise self.error(f"'{name}' has shape {got}, expected {tuple(shape)}")
        nbytes = int(np.prod(got, dtype=np.int64)) * dtype.itemsize
        if max_bytes is not None and nbytes > max_bytes:
            raise self.error(f"'{name}' is too large ({nbytes} bytes)")
        try:
            with self._zip.open(info) as member:
                _read_header(member)
                data = member.read(nbytes)
                if len(data) != nbytes or member.read(1):
                    raise self.error(f"'{name}' is truncated or has trailing bytes")
        except ModelFileError:
            raise
        except Exception as exc:
            raise self.error(f"cannot read '{name}' ({_describe(exc)})") from exc
        arr: np.ndarray = np.frombuffer(data, dtype=dtype).reshape(
            got, order="F" if fortran else "C")
        if not dtype.isnative:
            arr = arr.astype(dtype.newbyteorder("="))
        if not (arr.flags.c_contiguous and arr.flags.aligned):
            arr = arr.copy(order="C")
        arr.flags.writeable = False
        return arr

    def _header(self, name: str, kinds: str,
                ndim: int | None) -> tuple[tuple[int, ...], np.dtype[Any], bool, Any]:
        info = self._members.get(f"{name}.npy")
        if info is None:
            raise self.error(f"it has no '{name}' entry")
        try:
            with self._zip.open(info) as member:
                shape, fortran, dtype = _read_header(member)
                offset = member.tell()          # bytes of the .npy header
        except Exception as exc:
            raise self.error(f"cannot read the header of '{name}' ({_describe(exc)})") from exc
        if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None:
            raise self.error(f"'{name}' has dtype {dtype}, expected "
                             f"{' or '.join(_KIND_NAMES[k] for k in kinds)}")
        if ndim is not None and len(shape) != ndim:
            raise self.error(f"'{name}' has {len(shape)} dimensions, expected {ndim}")
        if any(not isinstance(n, int) or n < 0 for n in shape):
            raise self.error(f"'{name}' has an invalid shape {shape}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise self.error(f"'{name}' claims shape {shape} ({nbytes} bytes) but its "
                             f"member holds {info.file_size - offset} bytes of data")
        return tuple(shape), dtype, fortran, info


_KIND_NAMES = {"f": "floating point", "i": "integer", "u": "unsigned integer",
               "U": "unicode text", "b": "bool"}


def _read_header(member: Any) -> tuple[Any, bool, np.dtype[Any]]:
    version = npy_format.read_magic(member)
    if version == (1, 0):
        return npy_format.read_array_header_1_0(member)
    if version == (2, 0):
        return npy_format.read_array_header_2_0(member)
    raise ValueError(f"unsupported .npy format version {version}")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_keys(archive: Archive, meta: dict[str, Any], required: Iterable[str]) -> None:
    """Every name in ``required`` is a key of ``meta``."""
    for key in required:
        if key not in meta:
            raise archive.error(f"its metadata has no {key!r}")
