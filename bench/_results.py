"""One shape for every saved benchmark result, and the machine it was measured on.

Every script under ``bench/`` that saves results writes ``bench/results/<name>.json`` through
:func:`write_results`, so that ``bench/report.py`` can read all of them the same way::

    {
      "machine": {...},            # machine_info(): CPU, cores, SIMD flags, versions
      "created": "2026-11-29T23:05:00+00:00",
      "rows": [ {...}, ... ],      # one flat dict per measurement (str / int / float / None)
      ...meta                      # any further keyword arguments of write_results
    }

Rows are flat dicts.  Names that ``report.py`` treats specially when present: ``group``
(rows with the same group are shown together), ``library``, ``threads``, ``seconds``, and
throughput columns ending in ``_per_s``.  Everything else is shown as it is.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where results are written unless ``FASTMF_BENCH_RESULTS`` names another folder."""

PACKAGES = ("fastmf", "numpy", "scipy", "implicit", "scikit-surprise", "lightfm", "libmf",
            "pytest-benchmark", "threadpoolctl", "dask", "distributed")
"""Packages whose installed versions are recorded (absent ones are recorded as None)."""

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "neon",
              "asimd", "sve")
"""CPU flags worth recording for vectorised kernels; the others are dropped."""


def results_dir() -> Path:
    """The folder results are written to (created if needed)."""
    path = Path(os.environ.get("FASTMF_BENCH_RESULTS", RESULTS_DIR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cpuinfo() -> tuple[str | None, list[str]]:
    """CPU model name and the recorded SIMD flags, read from ``/proc/cpuinfo`` (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or None, []
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, [f for f in SIMD_FLAGS if f in flags]


def _versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_info() -> dict:
    """Describe the machine and software a result was measured with.

    Returns
    -------
    dict
        ``cpu_model``, ``logical_cores``, ``usable_cores`` (this process's CPU affinity),
        ``simd_flags``, ``memory_gib``, ``platform``, ``python``, ``versions`` (package to
        version or None) and, when fastmf imports, ``fastmf_simd`` (the kernel build in use).
    """
    model, flags = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = None
    info = {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "simd_flags": flags,
        "memory_gib": None if memory is None else round(memory, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": _versions(),
    }
    try:
        from fastmf import _dispatch
        info["fastmf_simd"] = _dispatch.simd_level()
    except Exception:  # noqa: BLE001 - a missing or broken build is recorded, not fatal
        info["fastmf_simd"] = None
    return info


def write_results(name: str, rows: list[dict], **meta) -> Path:
    """Write ``rows`` to ``<results_dir>/<name>.json`` in the shared shape.

    Parameters
    ----------
    name : str
        File stem, e.g. ``"scaling"``; the file is ``<name>.json``.
    rows : list of dict
        One flat dict per measurement.
    **meta
        Further top-level keys (settings, fitted models, notes), saved beside ``rows``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    payload = {
        "machine": machine_info(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "rows": list(rows),
        **meta,
    }
    path = results_dir() / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, default=_jsonable) + "\n")
    return path


def read_results(name_or_path) -> dict | None:
    """Read a results file by stem (``"scaling"``) or path; None when it does not exist."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = results_dir() / f"{name_or_path}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _jsonable(value):
    """Turn NumPy scalars and arrays (and paths) into plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
