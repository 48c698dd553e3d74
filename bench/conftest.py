"""Shared fixtures for the fastmf benchmarks, and a throughput summary at the end of a run.

Data sets (session-scoped, built once per run):

* ``synth_1m``: "synth 1M" of BENCHMARK-DATA.md (20,000 x 5,000, 1,000,000 ratings, seed 1);
* ``synth_10m``: "synth 10M" (200,000 x 50,000, 10,000,000 ratings, seed 2);
* ``synth_small``: 2,000 x 500, 100,000 ratings;
* ``movielens_100k``: MovieLens 100K ``u.data`` from the shared data folder (skipped when
  absent).

Each is a :class:`peers_sgd.RatingSplit` with a seeded random 80/20 train/test split.

Sizes: cases on the 1M set carry the ``big`` marker, those on the 10M set ``huge``.
``FASTMF_BENCH_SIZES`` chooses which run: ``small`` skips both, ``all`` runs the ``big``
cases too, ``huge`` everything (about 20 more minutes on 2 cores).  Unset, a smoke run
(``--benchmark-disable``) is ``small`` and a timed run is ``all``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_sgd  # noqa: E402

_RESULTS_KEY = pytest.StashKey[list]()


SIZES_ENV = "FASTMF_BENCH_SIZES"


SIZES = ("small", "all", "huge")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "big: a case on the 1M set (see SIZES_ENV)")
    config.addinivalue_line("markers", "huge: a case on the 10M set (see SIZES_ENV)")


def run_sizes(config) -> str:
    """``"small"``, ``"all"`` or ``"huge"``: the sizes this run covers (see the module
    docstring)."""
    value = os.environ.get(SIZES_ENV, "").strip().lower()
    if value in SIZES:
        return value
    if value:
        raise pytest.UsageError(f"{SIZES_ENV} must be one of {SIZES}, got {value!r}")
    return "small" if config.getoption("benchmark_disable", False) else "all"


def pytest_collection_modifyitems(config, items) -> None:
    """Skip the cases above the sizes this run covers."""
    sizes = run_sizes(config)
    skipped = {"small": ("big", "huge"), "all": ("huge",), "huge": ()}[sizes]
    for item in items:
        for marker in skipped:
            if marker in item.keywords:
                env = "all" if marker == "big" else "huge"
                item.add_marker(pytest.mark.skip(
                    reason=f"{marker} case: set {SIZES_ENV}={env} to run it"))
                break


def thread_counts() -> list[int]:
    """Thread counts every threaded benchmark runs with: 1 and all cores."""
    return sorted({1, os.cpu_count() or 1})


def size_grid() -> list[tuple[str, list, list[tuple[int, str]]]]:
    """``(data fixture, marks, [(factors, dtype), ...])`` for the three sizes: the full
    factors x dtype grid on the small set; on synth 1M (``big``) the factor sweep in
    float32 and k=64 in float64; on synth 10M (``huge``) k=64 in float32."""
    small = [(k, d) for k in (32, 64, 128) for d in ("float32", "float64")]
    big = [(k, "float32") for k in (32, 64, 128)] + [(64, "float64")]
    return [("synth_small", [], small), ("synth_1m", [pytest.mark.big], big),
            ("synth_10m", [pytest.mark.huge], [(64, "float32")])]


@pytest.fixture(scope="session")
def synth_1m() -> peers_sgd.RatingSplit:
    """The synth 1M set, split 80/20."""
    return peers_sgd.load_synth_1m()


@pytest.fixture(scope="session")
def synth_10m() -> peers_sgd.RatingSplit:
    """The synth 10M set, split 80/20."""
    return peers_sgd.load_synth_10m()


@pytest.fixture(scope="session")
def synth_small() -> peers_sgd.RatingSplit:
    """A 100,000-rating synthetic set over 2,000 users and 500 items, split 80/20."""
    return peers_sgd.load_synth_small()


@pytest.fixture(scope="session")
def movielens_100k() -> peers_sgd.RatingSplit:
    """MovieLens 100K, split 80/20; skips the test when ``u.data`` is not there."""
    split = peers_sgd.load_movielens_100k()
    if split is None:
        pytest.skip(f"MovieLens 100K not found at {peers_sgd.movielens_100k_path()}")
    return split


@pytest.fixture
def record_throughput(benchmark, request):
    """Return ``record(n_updates, baseline=False, **metrics)``, to call after the benchmark.

    It stores ``updates_per_s`` (``n_updates`` over the mean round time) and the metrics in
    ``benchmark.extra_info``, so they are saved with ``--benchmark-save``, and adds a row to
    the throughput summary printed at the end of the run.  Rows flagged ``baseline`` are
    what the other rows of their group are compared with.
    """

    def record(n_updates: int, *, baseline: bool = False, **metrics) -> None:
        benchmark.extra_info.update(metrics)
        benchmark.extra_info["n_updates"] = int(n_updates)
        benchmark.extra_info["baseline"] = bool(baseline)
        stats = getattr(benchmark, "stats", None)
        if benchmark.disabled or stats is None:
            return
        mean = stats.stats.mean
        rate = n_updates / mean
        benchmark.extra_info["updates_per_s"] = rate
        request.config.stash.setdefault(_RESULTS_KEY, []).append(
            (benchmark.group or "", request.node.name, mean, rate, baseline, dict(metrics))
        )

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print rating updates per second per group, with the ratio to the group's baseline."""
    rows = config.stash.get(_RESULTS_KEY, [])
    if not rows:
        return
    tr = terminalreporter
    tr.section("throughput (rating updates per second; x = ratio to the group's baseline)")
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    for group, members in groups.items():
        base = next((m[3] for m in members if m[4]), None)
        tr.write_line(f"{group}")
        for _, name, mean, rate, is_base, metrics in members:
            ratio = "baseline" if is_base else (f"x{rate / base:,.1f}" if base else "")
            extra = "  ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
            )
            tr.write_line(f"  {name:<58} {mean * 1e3:10.2f} ms {rate / 1e6:9.2f}M/s "
                          f"{ratio:>10}  {extra}")
