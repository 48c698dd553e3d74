"""Fail when fastmf's speed *relative to its baseline* drops, across two benchmark runs.

Raw times move with the machine (CI runners differ, neighbours share cores), but every
pytest-benchmark group here times fastmf beside a baseline on the same data in the same
job: the NumPy reference or a peer library, the row with ``extra_info["baseline"]`` set
(or, failing that, a name containing ``reference``; with one baseline per loss, the one
of the row's loss).  The ratio

    fastmf throughput / baseline throughput      (per group)

is far steadier across machines than either time, but one row of one run still moves:
two runs of the same build on an idle 2-vCPU machine had 31 to 38 of 207 ratios more than
25 % apart (one 2-thread row 57 %).  The geometric mean of the changes over a *family* of
groups (the group name's first word: ``epoch``, ``als-sweep``, ``predict``, ...) moved by
at most 12 % in families of 20 rows or more.  This script reads two ``--benchmark-json``
files, computes the ratio for every non-baseline benchmark of every group, and exits 1
when

* one ratio fell by more than ``--threshold`` (default 50 %): a large drop in one
  kernel, or
* a family's geometric-mean change fell by more than ``--family-threshold`` (default
  25 %): a smaller drop across a solver::

    python bench/ratio_gate.py bench/results/baseline.json current.json
    python bench/ratio_gate.py baseline.json current.json --family-threshold 0.2 --ignore t2

Throughput is the first of :data:`THROUGHPUT_KEYS` found in both rows' ``extra_info``, or
else one over the mean time (the rows of a group then have to do the same work).
Benchmarks present in only one file are listed but do not fail the gate.  To keep a run
as the committed baseline (``bench/results/baseline.json``, what CI compares with)::

    python bench/ratio_gate.py --write-baseline run.json bench/results/baseline.json
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_THRESHOLD = 0.5
DEFAULT_FAMILY_THRESHOLD = 0.25
THROUGHPUT_KEYS = ("updates_per_s", "ratings_per_s", "interactions_per_s", "pairs_per_s",
                   "rows_per_s")
"""Throughput columns the suite writes, in order of preference."""


@dataclass(frozen=True)
class Ratio:
    """One benchmark's throughput over its group's baseline throughput."""

    group: str
    name: str
    value: float


def _is_baseline(bench: dict) -> bool:
    info = bench.get("extra_info") or {}
    if "baseline" in info:
        return bool(info["baseline"])
    return "reference" in bench.get("name", "")


MATCH_KEYS = ("loss",)
"""When a group holds several baselines (the SGD epoch groups have one reference row per
loss), a row is compared with the baseline that agrees with it on these extra_info keys."""


def baseline_for(bench: dict, bases: list[dict]) -> dict | None:
    """The baseline of ``bench`` among its group's ``bases``: the only one, or the only
    one matching it on :data:`MATCH_KEYS`; None when that is ambiguous."""
    if len(bases) == 1:
        return bases[0]
    info = bench.get("extra_info") or {}
    matching = [b for b in bases
                if all((b.get("extra_info") or {}).get(k) == info.get(k) for k in MATCH_KEYS)]
    return matching[0] if len(matching) == 1 else None


def _throughput(bench: dict, key: str | None) -> float | None:
    if key is not None:
        value = (bench.get("extra_info") or {}).get(key)
        return float(value) if value else None
    mean = ((bench.get("stats") or {}).get("mean"))
    return 1.0 / mean if mean else None


def _common_key(a: dict, b: dict) -> str | None:
    ia, ib = a.get("extra_info") or {}, b.get("extra_info") or {}
    for key in THROUGHPUT_KEYS:
        if ia.get(key) and ib.get(key):
            return key
    return None


def group_ratios(benchmarks: list[dict]) -> dict[tuple[str, str], Ratio]:
    """Ratios of every non-baseline benchmark to its group's single baseline.

    Parameters
    ----------
    benchmarks : list of dict
        The ``"benchmarks"`` list of a pytest-benchmark JSON file.

    Returns
    -------
    dict
        ``(group, name) -> Ratio``.  Rows whose baseline is missing or ambiguous (see
        :func:`baseline_for`) are left out, as are rows without a usable throughput.
    """
    groups: dict[str, list[dict]] = {}
    for bench in benchmarks:
        groups.setdefault(bench.get("group") or "", []).append(bench)
    out = {}
    for group, members in groups.items():
        bases = [b for b in members if _is_baseline(b)]
        for bench in members:
            base = None if _is_baseline(bench) else baseline_for(bench, bases)
            if base is None:
                continue
            key = _common_key(bench, base)
            num, den = _throughput(bench, key), _throughput(base, key)
            if num and den:
                out[(group, bench["name"])] = Ratio(group, bench["name"], num / den)
    return out


@dataclass(frozen=True)
class Comparison:
    """A benchmark's ratio in the baseline run and in the current run."""

    group: str
    name: str
    before: float
    after: float

    @property
    def change(self) -> float:
        """Relative change of the ratio, e.g. -0.3 for a 30 % drop."""
        return self.after / self.before - 1.0


def compare(baseline: list[dict], current: list[dict], *, ignore: str | None = None
            ) -> tuple[list[Comparison], list[tuple[str, str]], list[tuple[str, str]]]:
    """Pair the ratios of two runs.

    Returns
    -------
    compared : list of Comparison
        Benchmarks with a ratio in both runs.
    only_baseline, only_current : list of (group, name)
        Benchmarks with a ratio in one run only.
    """
    pattern = re.compile(ignore) if ignore else None
    before, after = group_ratios(baseline), group_ratios(current)
    if pattern is not None:
        before = {k: v for k, v in before.items() if not pattern.search(k[1])}
        after = {k: v for k, v in after.items() if not pattern.search(k[1])}
    compared = [Comparison(g, n, before[(g, n)].value, after[(g, n)].value)
                for (g, n) in sorted(before.keys() & after.keys())]
    return (compared, sorted(before.keys() - after.keys()),
            sorted(after.keys() - before.keys()))


def regressions(compared: list[Comparison], threshold: float) -> list[Comparison]:
    """The comparisons whose ratio dropped by more than ``threshold`` (a fraction)."""
    return [c for c in compared if c.after < c.before * (1.0 - threshold)]


def family(group: str) -> str:
    """The family of a group: the first word of its name, with the peer groups
    ``implicit-cg-t1`` ... taken together as ``implicit``."""
    word = group.split(" ")[0]
    return "implicit" if word.startswith("implicit-") else word


def family_changes(compared: list[Comparison]) -> dict[str, tuple[float, int]]:
    """``family -> (geometric mean of after / before - 1, number of rows)``."""
    logs: dict[str, list[float]] = {}
    for c in compared:
        if c.before > 0 and c.after > 0:
            logs.setdefault(family(c.group), []).append(math.log(c.after / c.before))
    return {f: (math.exp(sum(v) / len(v)) - 1.0, len(v)) for f, v in sorted(logs.items())}


KEPT_STATS = ("min", "max", "mean", "stddev", "median", "rounds")


def slim(run: dict) -> dict:
    """A pytest-benchmark run reduced to what the gate and ``report.py`` read: group,
    name, extra_info and a few statistics per benchmark, and the run's machine and date.
    A full run of the suite shrinks to about a third."""
    cpu = (run.get("machine_info") or {}).get("cpu") or {}
    return {
        "machine_info": {"cpu": {"brand_raw": cpu.get("brand_raw"),
                                 "count": cpu.get("count")},
                         "python_version": (run.get("machine_info") or {}).get(
                             "python_version")},
        "commit_info": {k: (run.get("commit_info") or {}).get(k) for k in ("id", "branch")},
        "datetime": run.get("datetime"),
        "version": run.get("version"),
        "benchmarks": [
            {"group": b.get("group"), "name": b.get("name"),
             "extra_info": b.get("extra_info") or {},
             "stats": {k: (b.get("stats") or {}).get(k) for k in KEPT_STATS}}
            for b in run.get("benchmarks", [])
        ],
    }


def _load(path: str) -> list[dict]:
    return json.loads(Path(path).read_text()).get("benchmarks", [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="pytest-benchmark JSON of the reference run")
    parser.add_argument("current", help="pytest-benchmark JSON of the run to check; with "
                                        "--write-baseline, the file to write")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="largest allowed drop of one ratio, as a fraction "
                             f"(default {DEFAULT_THRESHOLD})")
    parser.add_argument("--family-threshold", type=float, default=DEFAULT_FAMILY_THRESHOLD,
                        help="largest allowed drop of a family's geometric-mean ratio "
                             f"(default {DEFAULT_FAMILY_THRESHOLD})")
    parser.add_argument("--ignore", help="regular expression: skip benchmarks whose name "
                                         "matches (e.g. 't2' for the multi-thread rows)")
    parser.add_argument("--verbose", action="store_true", help="list every ratio")
    parser.add_argument("--write-baseline", action="store_true",
                        help="instead of comparing, write a slim copy of the first file "
                             "(the run to keep as baseline) to the second")
    args = parser.parse_args(argv)
    if args.write_baseline:
        run = json.loads(Path(args.baseline).read_text())
        Path(args.current).write_text(json.dumps(slim(run), indent=0) + "\n")
        print(f"wrote {args.current} ({len(run.get('benchmarks', []))} benchmarks)")
        return 0

    compared, only_base, only_cur = compare(_load(args.baseline), _load(args.current),
                                            ignore=args.ignore)
    bad = regressions(compared, args.threshold)
    for c in compared if args.verbose else bad:
        flag = "REGRESSION" if c in bad else "ok"
        print(f"{flag:<10} {c.change:+7.1%}  ratio {c.before:10.3f} -> {c.after:10.3f}  "
              f"[{c.group}] {c.name}")
    if only_base or only_cur:
        print(f"{len(only_base)} benchmark(s) only in the baseline, "
              f"{len(only_cur)} only in the current run (not gated)")
    families = family_changes(compared)
    bad_families = [f for f, (change, _) in families.items()
                    if change < -args.family_threshold]
    for name, (change, n) in families.items():
        flag = "REGRESSION" if name in bad_families else "ok"
        print(f"{flag:<10} {change:+7.1%}  family {name} (geometric mean of {n} ratios)")
    print(f"{len(compared)} ratio(s) compared, {len(bad)} dropped by more than "
          f"{args.threshold:.0%}; {len(bad_families)} of {len(families)} families by more "
          f"than {args.family_threshold:.0%}")
    return 1 if bad or bad_families else 0


if __name__ == "__main__":
    sys.exit(main())
