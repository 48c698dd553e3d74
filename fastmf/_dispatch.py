"""Pick the fastest build of each kernel that this CPU can run.

Kernels with a ``*_avx2`` twin are compiled twice (setup.py); the twin is imported only
when the CPU reports AVX2 and FMA, so the same wheel runs everywhere.  Set
``FASTMF_SIMD=baseline`` before the first fit of the process to force the portable
build (for comparisons and tests); the choice is made once per process.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from types import ModuleType

from ._kernels import _parallel


def simd_level() -> str:
    """``"avx2+fma"`` when the AVX2 kernels will be used, else ``"baseline"``."""
    if os.environ.get("FASTMF_SIMD", "").strip().lower() == "baseline":
        return "baseline"
    if not _parallel.cpu_has_avx2_fma():
        return "baseline"
    try:
        importlib.import_module("fastmf._kernels.sgd_avx2")
    except ImportError:     # not built for this platform
        return "baseline"
    return "avx2+fma"


@cache
def kernel(name: str, level: str | None = None) -> ModuleType:
    """The module ``fastmf._kernels.<name>`` built for ``level`` (default: the best)."""
    level = simd_level() if level is None else level
    if level == "avx2+fma":
        try:
            return importlib.import_module(f"fastmf._kernels.{name}_avx2")
        except ImportError:     # this kernel has no AVX2 twin
            pass
    return importlib.import_module(f"fastmf._kernels.{name}")


def levels() -> list[str]:
    """Every build level this machine can run (for tests and benchmarks)."""
    return ["baseline"] + (["avx2+fma"] if simd_level() == "avx2+fma" else [])
