"""fastmf: fast matrix factorisation with Cython nogil kernels and OpenMP."""

from __future__ import annotations

from typing import IO, Any

try:
    from ._kernels import _parallel
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "fastmf's compiled kernels are missing. If you are running from a source checkout, "
        "install it first (`pip install .`) and run Python from outside the source tree."
    ) from exc

from ._als import ALSError
from ._estimator import MatrixFactorization
from ._files import ModelFileError
from ._persistence import load
from ._sgd import DivergenceError
from .plotting import plot_history

# PEP 440; releases start at 0.2.0 (RELEASING.md says why).
__version__ = "0.2.0.dev0"

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
