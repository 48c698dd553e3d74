"""Portable build against a ``-march=native`` build of the same kernels, in one process.

Install the two builds side by side, then run this script from outside the source tree::

    pip install --no-deps --target /tmp/fmf-portable dist/fastmf-*.whl
    FASTMF_NATIVE=1 pip install --no-deps --target /tmp/fmf-native .
    python bench/portable_vs_native.py /tmp/fmf-portable /tmp/fmf-native

fastmf's Python layer is imported from the portable folder; the native ``sgd`` and
``als`` extension modules are loaded from the other folder under other names, so the two
builds run alternately on the same data in one process.  The machine may be shared: each
figure is the minimum over several repeats, every repeat starting from the same state.

Timed: one SGD epoch (``sgd_epoch`` on the blocked layout that ``fit`` builds) on
``make_ratings(20000, 5000, 1_000_000, seed=1)``, float32, one thread, for the portable
baseline module, its AVX2+FMA and AVX-512 twins (the wheel runs the best one the CPU
has) and the native module; and one ALS sweep (users then items; explicit with
Cholesky, and implicit CG at k=64) for the portable ``als`` twins and the native
``als`` module.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import sys
import time
from pathlib import Path


def _load(name: str, folder: Path, alias: str):
    """Load fastmf._kernels.<name> from the build in ``folder`` as module ``alias.name``."""
    path = next((folder / "fastmf" / "_kernels").glob(f"{name}.*.so"))
    full = f"{alias}.{name}"
    loader = importlib.machinery.ExtensionFileLoader(full, str(path))
    spec = importlib.util.spec_from_file_location(full, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("portable", type=Path)
    parser.add_argument("native", type=Path)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--als-repeats", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(args.portable))
    import numpy as np
    from fastmf._kernels import als as als_portable
    from fastmf._kernels import sgd as sgd_portable

    import fastmf
    from fastmf import _als, _sgd
    from fastmf._validation import check_ratings
    from fastmf.datasets import make_ratings

    assert Path(fastmf.__file__).is_relative_to(args.portable), fastmf.__file__
    modules = {"portable": sgd_portable}
    als_modules = {"portable": als_portable}
    for level in ("avx2", "avx512"):
        try:
            modules[f"portable-{level}"] = _load(f"sgd_{level}", args.portable,
                                                 "_fmf_portable")
            als_modules[f"portable-{level}"] = _load(f"als_{level}", args.portable,
                                                     "_fmf_portable")
        except StopIteration:       # not built on this platform
            pass
    modules["native"] = _load("sgd", args.native, "_fmf_native")
    als_modules["native"] = _load("als", args.native, "_fmf_native")

    users, items, values = make_ratings(20_000, 5_000, 1_000_000, seed=1)
    data = check_ratings((users, items, values), np.dtype(np.float32))
    print(f"fastmf {fastmf.__version__}, {data.nnz:,} ratings, float32, 1 thread, "
          f"min of {args.repeats} (SGD) / {args.als_repeats} (ALS) repeats")

    for k in (32, 128):
        rng = np.random.default_rng(0)
        blocks = _sgd.choose_blocks(data.n_users, data.n_items, k, 4, 1)
        blocked = _sgd.block_layout(data, blocks, rng)
        P0 = (0.1 * rng.standard_normal((data.n_users, k))).astype(np.float32)
        Q0 = (0.1 * rng.standard_normal((data.n_items, k))).astype(np.float32)
        mu = float(values.mean())
        best = dict.fromkeys(modules, np.inf)
        for _ in range(args.repeats):
            for name, module in modules.items():
                P, Q = P0.copy(), Q0.copy()
                bu = np.zeros(data.n_users, np.float32)
                bi = np.zeros(data.n_items, np.float32)
                state = np.array([7], dtype=np.uint64)
                t = time.perf_counter()
                module.sgd_epoch(blocked.users, blocked.items, blocked.values,
                                 blocked.block_ptr, blocked.n_blocks, P, Q, bu, bi, mu,
                                 0.01, 0.02, 0.02, True, 0, state, 1)
                best[name] = min(best[name], time.perf_counter() - t)
        ref = best["native"]
        print(f"SGD epoch k={k:<3} " + "  ".join(
            f"{name} {sec * 1e3:7.1f} ms ({sec / ref:.3f}x native)"
            for name, sec in best.items()))

    kernel = _als.kernel
    for model, solver, k in (("explicit", "cholesky", 32), ("implicit", "cg", 64)):
        checked = data if model == "explicit" else check_ratings(
            (users, items, np.ones_like(values)), np.dtype(np.float32))
        prepared = _als.prepare(checked, model)
        cfg = _als.ALSConfig(model=model, linear_solver=solver, cg_steps=3,
                             newton_steps=1, l2=0.1, l2_bias=0.1, weighted_l2=False,
                             biases=model == "explicit", alpha=9.0)
        rng = np.random.default_rng(1)
        P0 = (0.1 * rng.standard_normal((data.n_users, k))).astype(np.float32)
        Q0 = (0.1 * rng.standard_normal((data.n_items, k))).astype(np.float32)
        mu = float(values.mean()) if model == "explicit" else 0.0
        best = dict.fromkeys(als_modules, np.inf)
        try:
            for _ in range(args.als_repeats):
                for name, module in als_modules.items():
                    # the driver calls this module's solve_rows
                    _als.kernel = lambda _name, module=module: module
                    P, Q = P0.copy(), Q0.copy()
                    bu = np.zeros(data.n_users, np.float32)
                    bi = np.zeros(data.n_items, np.float32)
                    t = time.perf_counter()
                    _als.run_sweeps(prepared, P, Q, bu, bi, cfg, global_bias=mu, epochs=1,
                                    n_threads=1)
                    best[name] = min(best[name], time.perf_counter() - t)
        finally:
            _als.kernel = kernel
        ref = best["native"]
        print(f"ALS sweep {model} {solver} k={k:<3} " + "  ".join(
            f"{name} {sec * 1e3:7.1f} ms ({sec / ref:.3f}x native)"
            for name, sec in best.items()))


if __name__ == "__main__":
    main()
