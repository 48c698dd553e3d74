"""Compare fastmf's SGD with scikit-surprise and LIBMF on the same data and settings.

Run from outside the source tree (so that the installed fastmf is imported)::

    python bench/studies/peers_sgd.py            # synth 1M and MovieLens 100K, 3 repeats
    python bench/studies/peers_sgd.py --quick    # synth 100k, 1 repeat, a few epochs

It prints one Markdown table per data set: fit time (best of the repeats, and the range),
rating updates per second (training ratings x epochs / fit time) and test RMSE.  Peers that
are not installed are listed as skipped with the reason.  The data sets and the adapters
are ``bench/_shared.py``'s, which the pytest-benchmark suite uses too.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _shared import (  # noqa: E402
    LIBMF_SETTINGS,
    SURPRISE_DEFAULTS,
    SYNTH_SETTINGS,
    FitResult,
    RatingSplit,
    fit_fastmf,
    fit_libmf,
    fit_surprise,
    import_libmf,
    load_movielens_100k,
    load_synth_1m,
    load_synth_small,
    movielens_100k_path,
    surprise_trainset,
)


@dataclass
class Row:
    """One line of the results table."""

    library: str
    threads: int | str
    epochs: int
    results: list[FitResult] = field(default_factory=list)
    note: str = ""

    @property
    def best(self) -> FitResult | None:
        return min(self.results, key=lambda r: r.seconds) if self.results else None


def _repeat(fn, repeats: int) -> list[FitResult]:
    return [fn() for _ in range(repeats)]


def libmf_build() -> dict:
    """What the installed ``libmf`` binding was compiled with, read from its library.

    ``openmp``: the library calls libgomp; ``vector_instructions``: instructions on 256- or
    512-bit registers in its disassembly (LIBMF's ``-DUSEAVX`` code uses them; the
    binding's default build, without ``-DUSESSE``/``-DUSEAVX``, has none), or None when
    ``objdump`` is not available.
    """
    import shutil
    import subprocess

    mf = import_libmf()
    path = Path(mf.compiled_src)
    blob = path.read_bytes()
    info = {"library": path.name, "openmp": b"GOMP_" in blob or b"omp_get" in blob,
            "vector_instructions": None}
    if shutil.which("objdump"):
        out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)],
                             capture_output=True, text=True, check=False).stdout
        info["vector_instructions"] = sum(line.count("%ymm") + line.count("%zmm") > 0
                                          for line in out.splitlines())
    return info


def run_dataset(split: RatingSplit, settings: dict, *, surprise_epochs: int, repeats: int,
                threads: list[int], libmf_settings: dict) -> list[Row]:
    """Fit every library on ``split`` and return the table rows.  fastmf and LIBMF run
    interleaved (each repeat fits both at every thread count), so slow drifts of a shared
    machine hit both alike.  ``surprise_epochs=0`` leaves Surprise out."""
    k, epochs = settings["factors"], settings["epochs"]
    lr, l2 = settings["learning_rate"], settings["l2"]
    init = settings["init_scale"]
    ours = {n: Row("fastmf", n, epochs) for n in threads}
    try:
        import_libmf()
        theirs = {n: Row("LIBMF (libmf binding)", n, epochs,
                         note=f"AdaGrad eta={libmf_settings['eta']}, "
                              f"lambda_p2=lambda_q2={libmf_settings['l2']}, no biases")
                  for n in threads}
    except (ImportError, OSError) as exc:
        theirs = {}
        skipped = Row("LIBMF (libmf binding)", "-", epochs, note=f"skipped: {exc}")
    for n in threads:       # warm-up (imports, first-touch of the kernels)
        fit_fastmf(split, factors=k, epochs=1, learning_rate=lr, l2=l2, num_threads=n)
    for _ in range(repeats):
        for n in threads:
            ours[n].results.append(fit_fastmf(
                split, factors=k, epochs=epochs, learning_rate=lr, l2=l2, init_scale=init,
                num_threads=n))
            if n in theirs:
                theirs[n].results.append(fit_libmf(split, factors=k, epochs=epochs,
                                                   num_threads=n, **libmf_settings))
    rows = list(ours.values())
    if surprise_epochs:
        note = "" if surprise_epochs == epochs else f"RMSE after {surprise_epochs} epochs"
        row = Row("scikit-surprise SVD", 1, surprise_epochs, note=note)
        try:
            trainset = surprise_trainset(split)
            row.results = _repeat(lambda: fit_surprise(
                split, factors=k, epochs=surprise_epochs, learning_rate=lr, l2=l2,
                init_scale=init, trainset=trainset), repeats)
        except ImportError as exc:
            row.note = f"skipped: {exc}"
        rows.append(row)
    rows += list(theirs.values()) if theirs else [skipped]
    return rows


def format_table(split: RatingSplit, settings: dict, rows: list[Row]) -> str:
    """Markdown table of ``rows`` with speed-ups over the Surprise row."""
    base = next((r.best for r in rows if r.library.startswith("scikit") and r.best), None)
    lines = [
        f"### {split.name}: {split.n_train:,} train / {split.test[0].size:,} test ratings, "
        f"factors={settings['factors']}, learning_rate={settings['learning_rate']}, "
        f"l2={settings['l2']}",
        "",
        "| library | threads | epochs | fit s (best) | fit s (range) | updates/s | "
        "x Surprise | test RMSE | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        best = row.best
        if best is None:
            lines.append(f"| {row.library} | {row.threads} | {row.epochs} | - | - | - | - | - "
                         f"| {row.note} |")
            continue
        times = [r.seconds for r in row.results]
        speedup = f"{best.updates_per_s / base.updates_per_s:.1f}" if base else "-"
        lines.append(
            f"| {row.library} | {row.threads} | {row.epochs} | {best.seconds:.3f} | "
            f"{min(times):.3f}-{max(times):.3f} | {best.updates_per_s / 1e6:.1f}M | "
            f"{speedup} | {best.rmse:.4f} | {row.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: synth 100k instead of synth 1M, few epochs, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None,
                        help="fits per library and thread count (default 3, quick 1)")
    parser.add_argument("--surprise-epochs", type=int, default=5,
                        help="epochs for Surprise on the synthetic set (default 5; it is "
                             "slow, and updates/s does not depend on the epoch count)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    threads = sorted({1, os.cpu_count() or 1})

    import fastmf

    fastmf.show_config()
    print()
    jobs = []
    if args.quick:
        jobs.append((load_synth_small(), dict(SYNTH_SETTINGS, epochs=3), 1))
    else:
        jobs.append((load_synth_1m(), SYNTH_SETTINGS, args.surprise_epochs))
    movielens = load_movielens_100k()
    if movielens is None:
        print(f"MovieLens 100K not found at {movielens_100k_path()}: skipped\n")
    else:
        ml_settings = dict(SURPRISE_DEFAULTS, epochs=2) if args.quick else SURPRISE_DEFAULTS
        jobs.append((movielens, ml_settings, ml_settings["epochs"]))

    for split, settings, surprise_epochs in jobs:
        libmf = LIBMF_SETTINGS["movielens" if split.name.startswith("movielens") else "synth"]
        rows = run_dataset(split, settings, surprise_epochs=surprise_epochs, repeats=repeats,
                           threads=threads, libmf_settings=libmf)
        print(format_table(split, settings, rows))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
