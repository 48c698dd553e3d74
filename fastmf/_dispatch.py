"""Pick the fastest build of each kernel that this CPU can run.

Kernels with ``*_avx2`` and ``*_avx512`` twins are compiled three times (setup.py); a
twin is imported only when the CPU reports its instruction set, so the same wheel runs
everywhere.  ``FASTMF_SIMD`` set before the first fit of the process caps the choice:
``baseline`` (the portable build), ``avx2`` or ``avx512`` (for comparisons and tests);
the choice is made once per process.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from functools import cache
from types import ModuleType

from ._kernels import _parallel

# Build levels, slowest first: (name reported by simd_level, module suffix, CPU check).
_LEVELS = (
    ("baseline", "", lambda: True),
    ("avx2+fma", "_avx2", _parallel.cpu_has_avx2_fma),
    ("avx512", "_avx512", _parallel.cpu_has_avx512),
)
_CAPS = {"baseline": 0, "avx2": 1, "avx2+fma": 1, "avx512": 2}


def _built(suffix: str) -> bool:
    """Whether the twins of this level were built (found without loading them)."""
    return not suffix or importlib.util.find_spec(f"fastmf._kernels.sgd{suffix}") is not None


@cache
def levels() -> list[str]:
    """Every build level this machine can run, slowest first (for tests and
    benchmarks), up to the cap set by ``FASTMF_SIMD``."""
    cap = _CAPS.get(os.environ.get("FASTMF_SIMD", "").strip().lower(), len(_LEVELS) - 1)
    out = []
    for name, suffix, supported in _LEVELS[: cap + 1]:
        if not (supported() and _built(suffix)):
            break
        out.append(name)
    return out


def simd_level() -> str:
    """The build level the kernels will use: ``"avx512"``, ``"avx2+fma"`` or
    ``"baseline"``."""
    return levels()[-1]


@cache
def kernel(name: str, level: str | None = None) -> ModuleType:
    """The module ``fastmf._kernels.<name>`` built for ``level`` (default: the best); a
    kernel without a twin for that level falls back to the next lower one."""
    level = simd_level() if level is None else level
    names = [n for n, _, _ in _LEVELS]
    for lower in reversed(_LEVELS[: names.index(level) + 1]):
        try:
            return importlib.import_module(f"fastmf._kernels.{name}{lower[1]}")
        except ImportError:     # this kernel has no twin at that level
            continue
    raise ImportError(f"fastmf._kernels.{name} is missing")
