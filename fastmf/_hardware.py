"""Cache sizes of this machine, read once per process; they size the SGD block grid and
the score tiles of the serving kernels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")


@dataclass(frozen=True)
class Caches:
    """Data cache sizes in bytes: L1 and L2 of one core, and the last-level cache."""

    l1d: int
    l2: int
    l3: int


# Used where the sizes cannot be read (and for a missing level): a common modern core.
DEFAULT = Caches(l1d=32 * 1024, l2=1024 * 1024, l3=8 * 1024 * 1024)


def _parse_size(text: str) -> int:
    """``"48K"``, ``"1024K"``, ``"32M"`` or a plain byte count, in bytes."""
    text = text.strip().upper()
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _read_sysfs(root: Path) -> dict[int, int]:
    """Data or unified cache size per level from Linux's sysfs (empty where absent)."""
    sizes: dict[int, int] = {}
    try:
        for index in sorted(root.glob("index*")):
            if (index / "type").read_text().strip() == "Instruction":
                continue
            sizes[int((index / "level").read_text())] = _parse_size(
                (index / "size").read_text())
    except (OSError, ValueError):
        return {}
    return sizes


@cache
def caches() -> Caches:
    """The cache sizes of this machine (Linux sysfs; :data:`DEFAULT` elsewhere).

    ``FASTMF_CACHE_SIZES="l1d,l2,l3"`` (bytes, or with a K/M suffix) overrides them, for
    tests and for machines that report nothing.
    """
    override = os.environ.get("FASTMF_CACHE_SIZES", "").strip()
    if override:
        l1d, l2, l3 = (_parse_size(part) for part in override.split(","))
        return Caches(l1d=l1d, l2=l2, l3=l3)
    sizes = _read_sysfs(_SYSFS)
    return Caches(l1d=sizes.get(1, DEFAULT.l1d), l2=sizes.get(2, DEFAULT.l2),
                  l3=sizes.get(3, sizes.get(2, DEFAULT.l3)))
