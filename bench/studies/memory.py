"""Peak memory of a fit, in bytes per rating, against the theoretical footprint.

For each data set and solver a fresh Python process loads the ratings (int32 users and
items, float32 values, saved beforehand as ``.npy``), wraps them in a COO matrix and
fits one epoch (or one ALS sweep) of a float32, k=32 model.  A baseline process per set
does everything except the fit.  The fit's cost is

    extra = peak RSS of the fit process - peak RSS of the baseline process

(peak RSS: ``VmHWM`` on Linux, see :func:`_peak_bytes`; ``ru_maxrss`` elsewhere)

reported as bytes per rating next to the theoretical footprint of what the solver has to
hold:

* ALS: the ratings as users x items CSR plus its items x users transpose (int32 indices,
  float32 values: 16 bytes per rating, plus the row pointers) and the factors and biases;
* SGD: one reordered copy of the triples (12 bytes per rating) and the factors and biases.

Anything above that is a copy, a retained temporary or allocator slack.  Sets: "synth 1M"
and "synth 10M" of BENCHMARK-DATA.md (``--quick``: a 300k set and synth 1M).  Writes
``bench/results/memory.json``::

    python bench/studies/memory.py            # synth 1M and 10M, SGD / ALS explicit / ALS implicit
    python bench/studies/memory.py --quick
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # bench/: _results

from _results import write_results  # noqa: E402

SETS = {
    "synth-300k": (6_000, 1_500, 300_000, 0),
    "synth-1M": (20_000, 5_000, 1_000_000, 1),
    "synth-10M": (200_000, 50_000, 10_000_000, 2),
}
FULL_SETS = ("synth-1M", "synth-10M")
QUICK_SETS = ("synth-300k", "synth-1M")
SOLVERS = {
    # name: MatrixFactorization keyword arguments
    "sgd": {"solver": "sgd", "learning_rate": 0.01},
    "als-explicit": {"solver": "als", "l2": 0.1},
    "als-implicit-cg": {"solver": "als", "feedback": "implicit", "linear_solver": "cg",
                        "l2": 0.1},
}
FACTORS = 32
ITEMSIZE = 4        # float32 model
INDEX_SIZE = 4      # int32 CSR indices and row pointers (int64 beyond 2**31 ratings)


def _rss_bytes() -> int:
    """Current resident set size (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def _peak_bytes() -> int:
    """Peak resident set size of this process's address space.

    ``VmHWM`` of ``/proc/self/status`` where it exists: unlike ``ru_maxrss``, which Linux
    carries over from the parent across fork and exec (so every child would start at the
    launcher's size), it belongs to the new address space.  ``ru_maxrss`` elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024     # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(folder: str, solver: str) -> dict:
    """Run in the subprocess: load the set, optionally fit, and report RSS figures."""
    import scipy.sparse as sp

    from fastmf import MatrixFactorization

    users = np.load(f"{folder}/users.npy")
    items = np.load(f"{folder}/items.npy")
    values = np.load(f"{folder}/values.npy")
    shape = tuple(json.loads(Path(f"{folder}/shape.json").read_text()))
    X = sp.coo_matrix((values, (users, items)), shape=shape)
    out = {"rss_after_load": _rss_bytes(), "peak_after_load": _peak_bytes()}
    if solver != "baseline":
        model = MatrixFactorization(FACTORS, epochs=1, dtype=np.float32, random_state=0,
                                    **SOLVERS[solver])
        start = time.perf_counter()
        model.fit(X)
        out["fit_seconds"] = time.perf_counter() - start
        out["rss_after_fit"] = _rss_bytes()
    out["peak"] = _peak_bytes()
    return out


def theoretical(solver: str, n_users: int, n_items: int, nnz: int) -> dict:
    """Bytes a solver cannot do without: its copy of the ratings, and the parameters."""
    params = (n_users + n_items) * (FACTORS + 1) * ITEMSIZE
    if solver == "sgd":
        ratings = nnz * (2 * INDEX_SIZE + ITEMSIZE)
    else:   # CSR and its transpose
        ratings = 2 * nnz * (INDEX_SIZE + ITEMSIZE) + (n_users + n_items + 2) * INDEX_SIZE
    return {"theory_ratings_bytes": ratings, "theory_params_bytes": params,
            "theory_bytes": ratings + params}


def _run_child(folder: str, solver: str) -> dict:
    cmd = [sys.executable, __file__, "--child", folder, solver]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True,
                          cwd=tempfile.gettempdir())
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(set_name: str, solvers, folder: Path) -> list[dict]:
    """Save the set, then run the baseline and one process per solver."""
    from fastmf.datasets import make_ratings

    n_users, n_items, nnz, seed = SETS[set_name]
    users, items, values = make_ratings(n_users, n_items, nnz, seed=seed)
    np.save(folder / "users.npy", users.astype(np.int32))
    np.save(folder / "items.npy", items.astype(np.int32))
    np.save(folder / "values.npy", values.astype(np.float32))
    (folder / "shape.json").write_text(json.dumps([n_users, n_items]))
    del users, items, values
    base = _run_child(str(folder), "baseline")
    print(f"{set_name}: baseline peak {base['peak'] / 2**20:.0f} MiB "
          f"(input {nnz * 12 / 2**20:.0f} MiB)", flush=True)
    rows = []
    for solver in solvers:
        got = _run_child(str(folder), solver)
        extra = got["peak"] - base["peak"]
        row = {"set": set_name, "solver": solver, "nnz": nnz, "users": n_users,
               "items": n_items, "factors": FACTORS, "dtype": "float32",
               "fit_seconds": got["fit_seconds"], "baseline_peak_bytes": base["peak"],
               "peak_bytes": got["peak"], "extra_bytes": extra,
               "in_process_extra_bytes": got["peak"] - got["peak_after_load"],
               "retained_after_fit_bytes": got["rss_after_fit"] - got["rss_after_load"],
               "bytes_per_rating": extra / nnz,
               **theoretical(solver, n_users, n_items, nnz)}
        row["theory_bytes_per_rating"] = row["theory_bytes"] / nnz
        row["over_theory"] = extra / row["theory_bytes"]
        rows.append(row)
        print(f"  {solver:<16} extra peak {extra / 2**20:8.1f} MiB = "
              f"{row['bytes_per_rating']:6.1f} B/rating (theory "
              f"{row['theory_bytes_per_rating']:5.1f}, x{row['over_theory']:.2f}); "
              f"fit {got['fit_seconds']:.1f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="synth 300k and 1M only")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), help="sets to run")
    parser.add_argument("--solvers", nargs="+", choices=sorted(SOLVERS), default=list(SOLVERS))
    parser.add_argument("--output", default="memory", help="results file stem")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "SOLVER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    sets = args.sets or (QUICK_SETS if args.quick else FULL_SETS)
    rows = []
    for set_name in sets:
        with tempfile.TemporaryDirectory() as folder:
            rows += measure(set_name, args.solvers, Path(folder))
    path = write_results(args.output, rows, factors=FACTORS, epochs=1,
                         method="peak RSS (VmHWM) of a fresh process that loads the "
                                "set and fits, minus that of one that only loads it")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
