"""fastmf: fast matrix factorisation with Cython nogil kernels and OpenMP."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

try:
    from ._kernels import _parallel
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "fastmf's compiled kernels are missing. If you are running from a source checkout, "
        "install it first (`pip install .`) and run Python from outside the source tree."
    ) from exc

from . import _persistence
from ._als import ALSError
from ._estimator import MatrixFactorization
from ._files import ModelFileError
from ._sgd import DivergenceError
from ._version import __version__
from .plotting import plot_history

if TYPE_CHECKING:
    from ._typing import PathLike

__all__ = [
    "ALSError",
    "DivergenceError",
    "MatrixFactorization",
    "ModelFileError",
    "__version__",
    "get_include",
    "load",
    "plot_history",
    "show_config",
]


def load(path: PathLike) -> MatrixFactorization:
    """Read a model written by :meth:`MatrixFactorization.save`.

    The file is treated as untrusted: every array's dtype, shape and values and every
    setting are checked against each other before the model is built.

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
        ``path`` does not exist (nor ``path`` + ``.npz``).
    OSError
        ``path`` cannot be opened (a directory, no permission).
    fastmf.ModelFileError
        Anything wrong with the content: not a ZIP archive, truncated, not a fastmf
        model, another format version, malformed metadata, arrays of the wrong dtype or
        shape or that disagree with each other or with the settings, NaN or infinite
        parameters.  A subclass of ``ValueError``.

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
    return _persistence.load(path, MatrixFactorization)


def get_include() -> str:
    """Folder holding fastmf's ``.pxd`` files and C headers, for Cython extensions that
    use the C-level API (``fastmf_capi.pxd``).

    Put it on both search paths when building such an extension: Cython's, for the
    ``.pxd`` files, and the C compiler's, for the ``.h`` files they include::

        cythonize([Extension("mymod", ["mymod.pyx"], include_dirs=[fastmf.get_include()])],
                  include_path=[fastmf.get_include()])

    Returns
    -------
    str
        Absolute path of the installed ``fastmf/_kernels`` folder.

    Examples
    --------
    >>> import os
    >>> import fastmf
    >>> os.path.isfile(os.path.join(fastmf.get_include(), "fastmf_capi.pxd"))
    True
    """
    import os

    from . import _kernels

    return str(os.path.dirname(_kernels.__file__))


def show_config(file: IO[str] | None = None) -> dict[str, Any]:
    """Print (to ``file``, default stdout) and return how this fastmf was built and what it
    will use at run time: OpenMP on or off, thread counts, BLAS libraries.

    Parameters
    ----------
    file : file-like object, optional
        Where to print; ``sys.stdout`` when omitted.

    Returns
    -------
    dict
        ``fastmf`` (version), ``python``, ``platform``, ``openmp`` (bool), ``simd`` (the
        kernel build chosen for this CPU), ``default_threads``, ``processors`` and
        ``blas`` (one line per BLAS library); ``warning`` when the kernels are serial.

    Examples
    --------
    >>> import io
    >>> import fastmf
    >>> info = fastmf.show_config(file=io.StringIO())
    >>> info["fastmf"] == fastmf.__version__, isinstance(info["openmp"], bool)
    (True, True)
    """
    import platform
    import sys

    from threadpoolctl import threadpool_info

    from ._dispatch import simd_level
    from ._threads import effective_n_threads

    info = {
        "fastmf": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "openmp": _parallel.openmp_enabled(),
        "simd": simd_level(),
        "default_threads": effective_n_threads(None),
        "processors": _parallel.num_procs(),
        "blas": [
            f"{m.get('internal_api')} {m.get('version')} ({m.get('num_threads')} threads)"
            for m in threadpool_info() if m.get("user_api") == "blas"
        ],
    }
    if not info["openmp"]:
        info["warning"] = "built without OpenMP: kernels run on one thread"
    width = max(map(len, info))
    print("\n".join(f"{k:<{width}} : {v}" for k, v in info.items()), file=file)
    return info
