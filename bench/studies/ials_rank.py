"""Implicit ALS at large rank on Gowalla: the subspace solver against conjugate gradient.

Fits fastmf's implicit ALS on the LightGCN split of Gowalla (``quality.py`` reads it and
scores it: recall@20 and ndcg@20 over all items, each user's training items excluded)
with the conjugate-gradient settings of ``quality.py``'s k=512 row (``BASELINE``) and
with ``linear_solver="subspace"`` (``CONFIGS``), in one run on the same thread count,
and reports each fit's time and its ratio to the baseline's: wall-clock seconds, and
the CPU seconds of the process (all threads), which a shared machine disturbs less.

The subspace settings were compared on the validation split that ``quality.py`` tunes
on (20 % of each user's training items, ``--validate``); the test set only reports the
settings chosen there.

Usage (from outside the source tree, so that the installed fastmf is imported)::

    cd "$(mktemp -d)" && python /path/to/fastmf/bench/studies/ials_rank.py --threads 2
    python .../ials_rank.py --validate --only "subspace k=512 b=16"   # one setting

Results are printed and written to ``bench/results/ials_rank.json`` (``--out`` changes
the name), with each row's full ``MatrixFactorization`` settings in its ``config``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))               # quality.py
sys.path.insert(0, str(HERE.parent))        # bench/: _results, _shared

from _results import write_results  # noqa: E402
from _shared import as_model  # noqa: E402
from quality import (  # noqa: E402
    SEED,
    SHARED_DATA,
    full_config,
    holdout_split,
    load_gowalla,
    ranking_metrics,
)

import fastmf  # noqa: E402

_COMMON = dict(l2=3.0, weighted_l2=True, alpha=39.0, init_scale=0.01)

BASELINE = "cg k=512 (quality.py)"
CONFIGS = {
    BASELINE: dict(factors=512, epochs=4, linear_solver="cg", cg_steps=6, **_COMMON),
    "subspace k=512 b=16": dict(factors=512, epochs=4, linear_solver="subspace",
                                block_size=16, **_COMMON),
    "subspace k=512 b=32": dict(factors=512, epochs=4, linear_solver="subspace",
                                block_size=32, **_COMMON),
    "subspace k=512 b=16 3 epochs": dict(factors=512, epochs=3, linear_solver="subspace",
                                         block_size=16, **_COMMON),
    "subspace k=512 b=16 l2=1.5": dict(factors=512, epochs=4, linear_solver="subspace",
                                       block_size=16, **{**_COMMON, "l2": 1.5}),
    "subspace k=512 b=16 l2=6": dict(factors=512, epochs=4, linear_solver="subspace",
                                     block_size=16, **{**_COMMON, "l2": 6.0}),
    "subspace k=512 b=16 nu=0.75 l2=7": dict(factors=512, epochs=4,
                                             linear_solver="subspace", block_size=16,
                                             l2_exponent=0.75, **{**_COMMON, "l2": 7.0}),
    "subspace k=1024 b=16 nu=0.75 l2=7": dict(factors=1024, epochs=4,
                                              linear_solver="subspace", block_size=16,
                                              l2_exponent=0.75, **{**_COMMON, "l2": 7.0}),
    "subspace k=1024 b=32": dict(factors=1024, epochs=4, linear_solver="subspace",
                                 block_size=32, **_COMMON),
}
"""MatrixFactorization settings (implicit ALS, float32) by row name."""


def fit(config: dict, train, threads: int) -> tuple[fastmf.MatrixFactorization, float]:
    """Fit fastmf's implicit ALS with ``config`` (seed ``SEED``, float32); the model and
    the fit time in seconds."""
    model = fastmf.MatrixFactorization(solver="als", feedback="implicit", **config,
                                       num_threads=threads, random_state=SEED,
                                       dtype=np.float32)
    start = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - start


def run(folder: Path, threads: int, names: list[str], validate: bool) -> list[dict]:
    train, test = load_gowalla(folder)
    split = "test"
    if validate:
        train, test = holdout_split(train)
        split = "validation (20 % of train, seed 0)"
    print(f"Gowalla, {train.nnz} training interactions, evaluated on {split}; "
          f"{threads} thread(s), load {os.getloadavg()[0]:.1f}")
    print(f"{'model':<30} {'recall@20':>9} {'ndcg@20':>8} {'fit s':>7} {'vs CG':>6} "
          f"{'cpu s':>7} {'vs CG':>6}  load")
    rows = []
    base_seconds = base_cpu = None
    for name in names:
        config = CONFIGS[name]
        load = os.getloadavg()[0]
        cpu = time.process_time()
        model, seconds = fit(config, train, threads)
        cpu = time.process_time() - cpu
        scores = ranking_metrics(as_model(model.user_factors_, model.item_factors_), train,
                                 test, threads=threads)
        if name == BASELINE:
            base_seconds, base_cpu = seconds, cpu
        speedup, cpu_speedup = base_seconds / seconds, base_cpu / cpu
        print(f"{name:<30} {scores['recall']:9.4f} {scores['ndcg']:8.4f} {seconds:7.1f} "
              f"{speedup:6.2f} {cpu:7.1f} {cpu_speedup:6.2f}  {load:.1f}")
        rows.append({"group": "gowalla-ials", "model": name, "split": split,
                     "factors": config["factors"], "recall_at_20": scores["recall"],
                     "ndcg_at_20": scores["ndcg"], "seconds": seconds,
                     "speedup_vs_cg": speedup, "cpu_seconds": cpu,
                     "cpu_speedup_vs_cg": cpu_speedup, "threads": threads, "load_1min": load,
                     "seed": SEED, "config": json.dumps(full_config(model))})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gowalla", type=Path,
                        default=Path(os.environ.get("FASTMF_GOWALLA_DIR",
                                                    SHARED_DATA / "gowalla-lightgcn")),
                        help="folder of the LightGCN split (train.tsv, test.txt)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--validate", action="store_true",
                        help="score on the validation split carved from train")
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGS), default=None,
                        help="rows to run (default: all; the baseline is always first)")
    parser.add_argument("--out", default="ials_rank", help="results file stem")
    args = parser.parse_args(argv)
    if not (args.gowalla / "train.tsv").is_file():
        print(f"Gowalla split not found in {args.gowalla}: set --gowalla or "
              "FASTMF_GOWALLA_DIR")
        return 1
    names = [BASELINE] + [n for n in (args.only or CONFIGS) if n != BASELINE]
    rows = run(args.gowalla, args.threads, names, args.validate)
    path = write_results(args.out, rows, baseline=BASELINE)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
