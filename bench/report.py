"""Turn saved benchmark results into ``bench/results/REPORT.md`` and PNG charts.

Reads whatever exists of:

* pytest-benchmark JSON files given on the command line (default: the committed run,
  ``bench/results/baseline.json``);
* ``bench/results/{scaling,memory,peers,quality,distributed}.json`` in the shape of
  ``_results.py`` (``{"machine", "created", "rows": [...], ...}``).  Files this module
  has no special view for are shown as a generic table of their rows.

Writes, under the results folder: ``REPORT.md``, ``machine.json`` (this machine, see
``_results.machine_info``), and the charts ``throughput_threads.png`` (throughput against
threads per solver, with the NumPy reference and the peers), ``accuracy_time.png``
(accuracy against fit time, from the peer comparison) and ``scaling.png`` (time against
nnz).  Charts need matplotlib (Agg backend); without it only the Markdown is written::

    python bench/report.py                                   # results already saved
    python bench/report.py run.json     # with another pytest-benchmark run
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ratio_gate  # noqa: E402
from _results import machine_info, read_results, results_dir  # noqa: E402

NAMED = ("scaling", "memory", "peers", "quality", "distributed")
THROUGHPUT = ("updates_per_s", "ratings_per_s", "interactions_per_s", "pairs_per_s",
              "rows_per_s")
MAX_GENERIC_COLUMNS = 12


# ------------------------------------------------------------------------------ helpers
def fmt(value) -> str:
    """A table cell: floats to 4 significant digits, large numbers with SI suffixes."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        a = abs(value)
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if a >= scale:
                return f"{value / scale:.3g}{suffix}"
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value).replace("|", "\\|")


def table(rows: list[dict], columns: list[str], headers: list[str] | None = None) -> str:
    """Markdown table of ``rows`` restricted to ``columns``."""
    headers = headers or columns
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def generic_columns(rows: list[dict]) -> list[str]:
    """Columns of a generic table: keys in first-seen order, at most a dozen, skipping
    nested values."""
    cols: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in cols and not isinstance(value, dict | list):
                cols.append(key)
    return cols[:MAX_GENERIC_COLUMNS]


def machine_line(machine: dict | None) -> str:
    if not machine:
        return "machine: not recorded"
    versions = machine.get("versions") or {}
    libs = ", ".join(f"{k} {v}" for k, v in versions.items() if v)
    return (f"{machine.get('cpu_model')}, {machine.get('usable_cores')} usable cores, "
            f"SIMD {' '.join(machine.get('simd_flags') or []) or '-'}, fastmf kernels "
            f"{machine.get('fastmf_simd')}, Python {machine.get('python')}; {libs}")


# ----------------------------------------------------------------- pytest-benchmark JSON
def _throughput(info: dict) -> tuple[str | None, float | None]:
    for key in THROUGHPUT:
        if info.get(key):
            return key, float(info[key])
    return None, None


def _threads_of(bench: dict):
    info = bench.get("extra_info") or {}
    if info.get("threads") is not None:
        return info["threads"]
    match = re.search(r"-t(\d+)\b", bench.get("name", ""))
    return int(match.group(1)) if match else None


_is_baseline = ratio_gate._is_baseline


def benchmark_groups(benchmarks: list[dict]) -> list[dict]:
    """One row per group: the baseline's throughput and every other row's ratio to it."""
    groups: dict[str, list[dict]] = {}
    for bench in benchmarks:
        groups.setdefault(bench.get("group") or "", []).append(bench)
    rows = []
    for group, members in groups.items():
        bases = [b for b in members if _is_baseline(b)]
        for base in bases or [None]:
            key, base_rate = (_throughput(base.get("extra_info") or {}) if base
                              else (None, None))
            ratios = []
            for bench in members:
                if bench in bases or ratio_gate.baseline_for(bench, bases) is not base:
                    continue
                info = bench.get("extra_info") or {}
                label = info.get("library") or re.sub(r"^.*\[|\]$", "", bench["name"])
                threads = _threads_of(bench)
                rate = float(info[key]) if key and info.get(key) else None
                if rate and base_rate:
                    ratios.append(f"{label} t{threads}: x{rate / base_rate:.3g}"
                                  if threads is not None and f"t{threads}" not in label
                                  else f"{label}: x{rate / base_rate:.3g}")
            base_name = None
            if base is not None:
                base_name = (base.get("extra_info") or {}).get("library") or base["name"]
            rows.append({"group": group, "baseline": base_name, "unit": key,
                         "baseline_rate": base_rate, "vs baseline": "; ".join(ratios)})
    return rows


# ----------------------------------------------------------------------------- sections
def section_benchmarks(paths: list[Path]) -> tuple[str, list[dict]]:
    benchmarks = []
    for path in paths:
        benchmarks += json.loads(path.read_text()).get("benchmarks", [])
    if not benchmarks:
        return "", []
    rows = benchmark_groups(benchmarks)
    names = ", ".join(f"`{p.name}`" for p in paths)
    text = (f"## pytest-benchmark groups ({names})\n\n"
            "Throughput of the group's baseline (NumPy reference or peer library) and the "
            "ratio of every other row to it (x > 1: faster than the baseline).\n\n"
            + table(rows, ["group", "baseline", "unit", "baseline_rate", "vs baseline"]))
    return text, benchmarks


def section_scaling(data: dict) -> str:
    rows = data["rows"]
    cols = ["series", "solver", "nnz", "users", "items", "factors", "threads", "seconds",
            "ratings_per_s", "ns_per_rating"]
    out = ["## Scaling (`scaling.py`)", "", table(rows, cols), ""]
    fits = data.get("fits") or {}
    if fits:
        out += ["Least-squares fits (relative residual of each point, in the order of the "
                "table):", ""]
        for name, fit in fits.items():
            resid = ", ".join(f"{x:+.0%}" for x in fit.get("rel_residuals", []))
            if "a_ns_per_rating" in fit:
                per = ", ".join(f"{x:.1f}" for x in fit.get("ns_per_rating", []))
                out.append(f"* **{name}**: ns per rating by size {per}; log-log slope "
                           f"{fit['loglog_slope']:.3f}; linear fit "
                           f"{fit['a_ns_per_rating']:.1f} ns x nnz "
                           f"{fit['c_s'] * 1e3:+.1f} ms, R² {fit['r2']:.4f}; residuals {resid}")
            else:
                slopes = ", ".join(f"{k} {v:.3f}"
                                   for k, v in fit.get("loglog_slope_by_k", {}).items())
                two = fit.get("two_term") or {}
                out.append(f"* **{name}**: t = {fit['a_ns']:.4g} ns x nnz k + "
                           f"{fit['b_ns']:.4g} ns x nnz k² + {fit.get('c_ns', 0.0):.4g} ns x "
                           f"rows k³, R² {fit['r2']:.4f} (two-term a nnz k² + b rows k³: R² "
                           f"{two.get('r2', float('nan')):.4f}); log-log slopes {slopes}; "
                           f"residuals {resid}")
    return "\n".join(out)


def section_memory(data: dict) -> str:
    rows = [dict(r, extra_mib=r["extra_bytes"] / 2**20,
                 theory_mib=r["theory_bytes"] / 2**20) for r in data["rows"]]
    cols = ["set", "solver", "nnz", "fit_seconds", "extra_mib", "bytes_per_rating",
            "theory_mib", "theory_bytes_per_rating", "over_theory"]
    return "\n".join(["## Memory (`memory.py`)", "",
                      f"Method: {data.get('method', 'peak RSS')}.  Theory: the solver's "
                      "copy of the ratings (ALS: CSR + transpose; SGD: one reordered copy) "
                      "plus factors and biases.", "", table(rows, cols)])


def section_peers(data: dict) -> str:
    cols = ["data", "group", "library", "threads", "iterations", "fit_seconds",
            "s_per_iteration", "updates_per_s", "rmse", "precision_at_10", "auc", "log_loss",
            "status"]
    sets = data.get("data", "?")
    sets = ", ".join(sets) if isinstance(sets, list) else sets
    lines = [f"## Peers (`peers.py`, {sets})", "", table(data["rows"], cols)]
    if data.get("libmf_build"):
        lines += ["", f"LIBMF build: {data['libmf_build']}"]
    return "\n".join(lines)


def section_generic(name: str, data: dict) -> str:
    rows = data.get("rows") or []
    if not rows:
        return f"## {name.capitalize()}\n\n(no rows)"
    return "\n".join([f"## {name.capitalize()} (`{name}.json`)", "",
                      table(rows, generic_columns(rows))])


# ------------------------------------------------------------------------------- charts
def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def chart_throughput(benchmarks: list[dict], peers: dict | None, path: Path) -> bool:
    """Throughput against threads: one panel per solver group, fastmf and threaded peers
    as lines, one-thread baselines (the NumPy reference, Surprise) as dashed levels."""
    plt = _pyplot()
    panels: dict[str, dict[str, dict]] = {}
    wanted = re.compile(r"^(epoch synth-1M k=64 float32|als-sweep .* synth-1M k=64 float32|"
                        r"(predict|recommend|fold-in) synth-1M k=64 float32)$")
    if not any(wanted.match(b.get("group") or "") for b in benchmarks):
        wanted = re.compile(r"^(epoch|als-sweep|predict|recommend|fold-in) .*k=64 float32$")
    for bench in benchmarks:
        group = bench.get("group") or ""
        info = bench.get("extra_info") or {}
        key, rate = _throughput(info)
        if not wanted.match(group) or rate is None:
            continue
        label = info.get("library") or ("reference" if _is_baseline(bench) else "fastmf")
        if info.get("loss"):
            label = f"{label} {info['loss']}"
        panels.setdefault(group, {}).setdefault(label, {})[_threads_of(bench) or 1] = rate
    for row in (peers or {}).get("rows", []):
        if row.get("status") != "ok" or not row.get("updates_per_s"):
            continue
        panel = f"peers: {row['group']}" + (f" ({row['data']})" if row.get("data") else "")
        panels.setdefault(panel, {}).setdefault(row["library"], {})[row["threads"]] = \
            row["updates_per_s"]
    if plt is None or not panels:
        return False
    n = len(panels)
    cols = min(3, n)
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(4.2 * cols,
                                                                 3.2 * math.ceil(n / cols)),
                             squeeze=False)
    for ax, (title, series) in zip(axes.flat, panels.items(), strict=False):
        colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3)
        for label, points in series.items():
            xs = sorted(points)
            if len(xs) == 1:    # one-thread baselines: a level across the panel
                ax.axhline(points[xs[0]], linestyle="--", color=next(colors), label=label)
            else:
                ax.plot(xs, [points[x] for x in xs], marker="o", label=label,
                        color=next(colors))
        ax.set_title(title, fontsize=8)
        ax.set_xticks(sorted({x for points in series.values() for x in points}))
        ax.set_xlabel("threads", fontsize=8)
        ax.set_ylabel("per second", fontsize=8)
        ax.set_yscale("log")
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def chart_accuracy(peers: dict | None, path: Path) -> bool:
    """Accuracy against fit time per peer group (one panel per group's metric)."""
    plt = _pyplot()
    if plt is None or not peers:
        return False
    metric_of = {"explicit SGD": "rmse", "implicit ALS CG": "precision_at_10",
                 "implicit ALS Cholesky": "precision_at_10", "logistic": "auc"}
    groups: dict[str, list[dict]] = {}
    for row in peers["rows"]:
        if row.get("status") == "ok" and metric_of.get(row["group"]) in row:
            groups.setdefault(row["group"], []).append(row)
    if not groups:
        return False
    cols = min(2, len(groups))
    n_rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(5.2 * cols, 3.4 * n_rows),
                             squeeze=False)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    for ax, (group, rows) in zip(axes.flat, groups.items(), strict=False):
        metric = metric_of[group]
        for row in rows:
            ax.scatter(row["fit_seconds"], row[metric], s=20)
            ax.annotate(f"{row['library']} t{row['threads']}",
                        (row["fit_seconds"], row[metric]), fontsize=6)
        ax.set_xlim(left=0)
        ax.set_xlabel("fit seconds", fontsize=8)
        ax.set_ylabel(metric + (" (lower is better)" if metric == "rmse" else ""), fontsize=8)
        ax.set_title(group, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def chart_scaling(scaling: dict | None, path: Path) -> bool:
    """Seconds against nnz (log-log), one line per solver, factors and threads."""
    plt = _pyplot()
    if plt is None or not scaling:
        return False
    series: dict[str, list[tuple[int, float]]] = {}
    for row in scaling["rows"]:
        label = f"{row['solver']} k={row['factors']} t{row['threads']}"
        series.setdefault(label, []).append((row["nnz"], row["seconds"]))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, points in sorted(series.items()):
        points.sort()
        ax.plot(*zip(*points, strict=True), marker="o", label=label,
                linestyle="-" if label.endswith("t1") else "--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ratings (nnz)")
    ax.set_ylabel("seconds per epoch / sweep")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------------- main
def build_report(bench_paths: list[Path], out_dir: Path) -> Path:
    """Write REPORT.md, machine.json and the charts into ``out_dir``; returns REPORT.md."""
    machine = machine_info()
    (out_dir / "machine.json").write_text(json.dumps(machine, indent=1) + "\n")
    loaded = {name: read_results(out_dir / f"{name}.json") for name in NAMED}
    parts = ["# fastmf benchmark report", "",
             f"Report machine: {machine_line(machine)}.", "",
             "Each section names the file it comes from; the machine a file was measured "
             "on is listed under *Sources*.", ""]
    bench_text, benchmarks = section_benchmarks([p for p in bench_paths if p.is_file()])
    charts = []
    if chart_throughput(benchmarks, loaded["peers"], out_dir / "throughput_threads.png"):
        charts.append(("Throughput against threads", "throughput_threads.png"))
    if chart_accuracy(loaded["peers"], out_dir / "accuracy_time.png"):
        charts.append(("Accuracy against fit time (peers)", "accuracy_time.png"))
    if chart_scaling(loaded["scaling"], out_dir / "scaling.png"):
        charts.append(("Time against nnz", "scaling.png"))
    for title, name in charts:
        parts += [f"![{title}]({name})", ""]
    if bench_text:
        parts += [bench_text, ""]
    views = {"scaling": section_scaling, "memory": section_memory, "peers": section_peers}
    for name in NAMED:
        data = loaded[name]
        if data is None:
            continue
        view = views.get(name)
        parts += [view(data) if view else section_generic(name, data), ""]
    parts += ["## Sources", ""]
    for path in bench_paths:
        if path.is_file():
            info = json.loads(path.read_text()).get("machine_info", {})
            parts.append(f"* `{path.name}`: pytest-benchmark, "
                         f"{info.get('cpu', {}).get('brand_raw', '?')}, "
                         f"{json.loads(path.read_text()).get('datetime', '?')}")
    for name in NAMED:
        if loaded[name] is not None:
            parts.append(f"* `{name}.json` ({loaded[name].get('created', '?')}): "
                         f"{machine_line(loaded[name].get('machine'))}")
    report = out_dir / "REPORT.md"
    report.write_text("\n".join(parts) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="*", type=Path,
                        help="pytest-benchmark JSON files (default: "
                             "<results>/baseline.json when it exists)")
    args = parser.parse_args(argv)
    out_dir = results_dir()
    paths = args.benchmarks or [out_dir / "baseline.json"]
    print(f"wrote {build_report(paths, out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
