"""Checks of ratio_gate's logic on hand-made pytest-benchmark records (no timing)."""

from __future__ import annotations

import json

import pytest
import ratio_gate


def _bench(group, name, rate=None, *, baseline=None, mean=1.0):
    info = {} if rate is None else {"ratings_per_s": rate}
    if baseline is not None:
        info["baseline"] = baseline
    return {"group": group, "name": name, "extra_info": info, "stats": {"mean": mean}}


def _run(fast_t1, fast_t2, ref):
    return [_bench("g", "fastmf-t1", fast_t1), _bench("g", "fastmf-t2", fast_t2),
            _bench("g", "reference", ref, baseline=True)]


def test_ratio_is_throughput_over_the_group_baseline():
    ratios = ratio_gate.group_ratios(_run(300.0, 500.0, 100.0))
    assert {k[1]: r.value for k, r in ratios.items()} == {"fastmf-t1": 3.0, "fastmf-t2": 5.0}


def test_a_uniformly_slower_machine_passes():
    compared, _, _ = ratio_gate.compare(_run(300, 500, 100), _run(150, 250, 50))
    assert ratio_gate.regressions(compared, 0.25) == []


def test_a_drop_beyond_the_threshold_fails_only_that_row():
    compared, _, _ = ratio_gate.compare(_run(300, 500, 100), _run(200, 480, 100))
    bad = ratio_gate.regressions(compared, 0.25)
    assert [c.name for c in bad] == ["fastmf-t1"]
    assert bad[0].change == pytest.approx(-1 / 3)


def test_ignore_and_unmatched_rows():
    current = _run(100, 100, 100) + [_bench("h", "new", 1.0)]
    compared, only_base, only_cur = ratio_gate.compare(_run(300, 500, 100), current,
                                                       ignore="t2")
    assert [c.name for c in compared] == ["fastmf-t1"]
    assert only_base == [] and only_cur == []       # group "h" has no baseline


def test_name_fallback_and_time_based_throughput():
    rows = [_bench("g", "x[fastmf]", mean=0.5), _bench("g", "x[reference]", mean=2.0)]
    ratios = ratio_gate.group_ratios(rows)
    assert ratios[("g", "x[fastmf]")].value == pytest.approx(4.0)


def test_groups_without_a_single_baseline_are_skipped():
    rows = [_bench("g", "a", 1.0, baseline=True), _bench("g", "b", 1.0, baseline=True),
            _bench("g", "c", 1.0)]
    assert ratio_gate.group_ratios(rows) == {}


def test_one_baseline_per_loss():
    rows = [_bench("g", f"{loss}-{who}", rate, baseline=who == "ref")
            for loss, who, rate in (("squared", "fast", 80.0), ("squared", "ref", 2.0),
                                    ("logistic", "fast", 30.0), ("logistic", "ref", 1.0))]
    for row in rows:
        row["extra_info"]["loss"] = row["name"].split("-")[0]
    ratios = ratio_gate.group_ratios(rows)
    assert {k[1]: r.value for k, r in ratios.items()} == {"squared-fast": 40.0,
                                                          "logistic-fast": 30.0}


def test_main_exit_status(tmp_path, capsys):
    base, good, bad = (tmp_path / f"{n}.json" for n in ("base", "good", "bad"))
    base.write_text(json.dumps({"benchmarks": _run(300, 500, 100)}))
    good.write_text(json.dumps({"benchmarks": _run(280, 450, 100)}))
    bad.write_text(json.dumps({"benchmarks": _run(100, 500, 100)}))
    assert ratio_gate.main([str(base), str(good)]) == 0
    assert ratio_gate.main([str(base), str(bad), "--threshold", "0.5"]) == 1
    assert "REGRESSION" in capsys.readouterr().out


def test_slim_baseline_keeps_what_the_gate_reads(tmp_path):
    full = {"benchmarks": [dict(b, options={"x": 1}, stats=dict(b["stats"], data=[1, 2]))
                           for b in _run(300, 500, 100)],
            "machine_info": {"cpu": {"brand_raw": "cpu"}, "node": "host"}}
    src, dst = tmp_path / "full.json", tmp_path / "slim.json"
    src.write_text(json.dumps(full))
    assert ratio_gate.main(["--write-baseline", str(src), str(dst)]) == 0
    slim = json.loads(dst.read_text())
    assert "options" not in slim["benchmarks"][0]
    assert "data" not in slim["benchmarks"][0]["stats"]
    assert ratio_gate.group_ratios(slim["benchmarks"]) == ratio_gate.group_ratios(
        full["benchmarks"])


def test_family_change_is_the_geometric_mean_of_its_rows():
    before = [_bench("epoch a", "f1", 200), _bench("epoch a", "ref", 100, baseline=True),
              _bench("epoch b", "f2", 200), _bench("epoch b", "ref", 100, baseline=True),
              _bench("predict a", "f3", 200), _bench("predict a", "ref", 100, baseline=True)]
    after = [_bench("epoch a", "f1", 400), _bench("epoch a", "ref", 100, baseline=True),
             _bench("epoch b", "f2", 100), _bench("epoch b", "ref", 100, baseline=True),
             _bench("predict a", "f3", 200), _bench("predict a", "ref", 100, baseline=True)]
    compared, _, _ = ratio_gate.compare(before, after)
    changes = ratio_gate.family_changes(compared)
    assert changes["epoch"] == (pytest.approx(0.0), 2)        # x2 and x0.5 cancel
    assert changes["predict"] == (pytest.approx(0.0), 1)
    assert ratio_gate.family("implicit-cg-t1") == "implicit"


def test_main_fails_on_a_family_wide_drop(tmp_path, capsys):
    rows = [(f"epoch g{i}", f"fastmf-{i}") for i in range(4)]
    before = [b for g, n in rows for b in (_bench(g, n, 300), _bench(g, "ref", 100,
                                                                        baseline=True))]
    after = [b for g, n in rows for b in (_bench(g, n, 210), _bench(g, "ref", 100,
                                                                       baseline=True))]
    base, cur = tmp_path / "base.json", tmp_path / "cur.json"
    base.write_text(json.dumps({"benchmarks": before}))
    cur.write_text(json.dumps({"benchmarks": after}))
    # every row 30 % slower: no row beyond 50 %, but the family beyond 25 %
    assert ratio_gate.main([str(base), str(cur)]) == 1
    out = capsys.readouterr().out
    assert "0 dropped by more than 50%" in out and "family epoch" in out
    assert ratio_gate.main([str(base), str(cur), "--family-threshold", "0.35"]) == 0
