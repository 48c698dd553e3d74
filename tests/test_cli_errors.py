"""Every command of the command line against a battery of bad files and arguments: each
mistake is one line on stderr and a non-zero exit status, never a traceback."""

import json

import numpy as np
import pytest
from conftest import random_ratings

import fastmf
from fastmf.__main__ import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad inputs, by name."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    pairs = np.unique(np.stack([rng.integers(1, 40, 600), rng.integers(1, 30, 600)], 1),
                      axis=0)
    good = root / "u.data"
    good.write_text("".join(f"{u}\t{i}\t{rng.integers(1, 6)}\t0\n" for u, i in pairs))
    f = {"ratings": good, "dir": root, "emptydir": root / "nothing-here"}
    f["emptydir"].mkdir()
    assert main(["fit", str(good), "--factors", "3", "--epochs", "2", "-o",
                 str(root / "model.npz")]) == 0
    f["model"] = root / "model.npz"
    data = f["model"].read_bytes()

    def write(name: str, content) -> None:
        f[name] = root / name
        if isinstance(content, bytes):
            f[name].write_bytes(content)
        else:
            f[name].write_text(content)

    write("empty.npz", b"")
    write("truncated.npz", data[: len(data) // 2])
    write("junk.npz", bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    with np.load(f["model"]) as archive:
        entries = {name: archive[name] for name in archive.files}
    meta = json.loads(str(entries["meta"]))
    for name, change in [("meta-list.npz", [1, 2]),
                         ("meta-noparams.npz", {k: v for k, v in meta.items()
                                                if k != "params"}),
                         ("meta-badparams.npz", {**meta, "params": {"factors": "three"}}),
                         ("meta-history.npz", {**meta, "history": None}),
                         ("meta-version.npz", {**meta, "format_version": 7})]:
        np.savez(root / name, **{**entries, "meta": np.array(json.dumps(change))})
        f[name] = root / name
    np.savez(root / "shapes.npz", **{**entries, "item_bias": np.zeros(1, np.float32)})
    f["shapes.npz"] = root / "shapes.npz"
    np.savez(root / "nan.npz", **{**entries, "user_factors": np.full_like(
        entries["user_factors"], np.nan)})
    f["nan.npz"] = root / "nan.npz"
    MatrixFactorization = fastmf.MatrixFactorization
    MatrixFactorization(3, epochs=1).fit(random_ratings(20, 10, 0.5)).save(root / "api.npz")
    f["api.npz"] = root / "api.npz"
    write("garbage.data", "hello world\nfoo\n")
    write("empty.data", "")
    write("blank.data", "\n\n")
    write("huge.data", "1\t1\t1e300\t0\n")
    write("nan.data", "1\t1\tnan\t0\n")
    write("badid.data", "x\t1\t3\t0\n")
    write("binary.data", bytes(range(256)) * 4)
    write("dup.data", "1\t1\t3\t0\n1\t1\t4\t0\n")
    return f


def _bad_arguments():
    """(argv template, what the error must mention): {ratings}, {model} ... name files."""
    r, m = "{ratings}", "{model}"
    cases = [
        # fit: values
        (["fit", r, "--learning-rate", "1e6"], "diverged"),
        (["fit", r, "--learning-rate", "0"], "learning_rate"),
        (["fit", r, "--learning-rate", "-1"], "learning_rate"),
        (["fit", r, "--learning-rate", "nan"], "learning_rate"),
        (["fit", r, "--learning-rate", "inf"], "learning_rate"),
        (["fit", r, "--l2", "-1"], "l2"),
        (["fit", r, "--l2", "nan"], "l2"),
        (["fit", r, "--alpha", "-2", "--solver", "als", "--feedback", "implicit"], "alpha"),
        (["fit", r, "--solver", "als", "--l2", "0", "--factors", "64"], "positive definite"),
        (["fit", r, "--factors", "0"], "factors"),
        (["fit", r, "--factors", "-3"], "factors"),
        (["fit", r, "--factors", str(2**40)], "factors"),
        (["fit", r, "--epochs", "-1"], "epochs"),
        (["fit", r, "--threads", "0"], "num_threads"),
        (["fit", r, "--seed", "-1"], "random_state"),
        (["fit", r, "--feedback", "implicit"], "ranking loss"),
        (["fit", r, "--loss", "logistic", "--feedback", "implicit", "--solver", "als"],
         "squared"),
        (["fit", r, "-o", "{dir}/missing/dir/m.npz"], "missing"),
        # fit: files
        (["fit", "{dir}/no-such-file"], "cannot read ratings"),
        (["fit", "{emptydir}"], "no MovieLens ratings file"),
        (["fit", "{garbage.data}"], "malformed line 1"),
        (["fit", "{empty.data}"], "no ratings"),
        (["fit", "{blank.data}"], "no ratings"),
        (["fit", "{huge.data}"], "float32"),
        (["fit", "{nan.data}"], "finite"),
        (["fit", "{badid.data}"], "integer"),
        (["fit", "{binary.data}"], "cannot read ratings"),
        (["fit", "{dup.data}"], "more than one rating"),
        # evaluate
        (["evaluate", "{dir}/no-such-model.npz", r], "cannot read model"),
        (["evaluate", m, "{dir}/no-such-file"], "cannot read ratings"),
        (["evaluate", m, "{garbage.data}"], "malformed"),
        (["evaluate", "{api.npz}", r], "no mapping of raw ids"),
        # recommend
        (["recommend", m, "--user", "99999"], "not in the model"),
        (["recommend", m, "--user", "x"], "not an integer id"),
        (["similar", m, "--item", "99999"], "not in the model"),
        (["similar", m, "--item", "1", "-n", "0"], "-n must be >= 1"),
        (["similar", "{api.npz}", "--item", "1"], "no mapping of raw ids"),
        (["recommend", "{api.npz}", "--user", "999", "--no-raw-ids"], "not in the model"),
        (["recommend", m, "--user", "1", "-n", "0"], "-n must be >= 1"),
        (["recommend", m, "--user", "1", "-n", "-5"], "-n must be >= 1"),
        (["recommend", "{api.npz}", "--user", "1"], "no mapping of raw ids"),
        (["recommend", m, "--user", "1", "--exclude", "{garbage.data}"], "malformed"),
        (["recommend", m, "--user", "1", "--exclude", "{dir}/none"], "cannot read"),
        # demo
        (["demo", "{dir}/no-such-file"], "not found"),
        (["demo", "{garbage.data}"], "malformed"),
        (["demo", "{empty.data}"], "no ratings"),
        (["demo", "--ratings", "5000"], "--ratings must be >= 10,000"),
        (["demo", "--ratings", "0"], "--ratings"),
        (["demo", "--ratings", "-7"], "--ratings"),
        (["demo", "--epochs", "0", "--ratings", "10000"], "--epochs must be >= 1"),
        (["demo", "--factors", "0", "--ratings", "10000"], "factors"),
        (["demo", "--learning-rate", "1e6", "--ratings", "10000"], "diverged"),
        (["demo", "--threads", "0", "--ratings", "10000"], "num_threads"),
        (["demo", "--seed", "-3", "--ratings", "10000"], ""),
    ]
    # every damaged or crafted model file, for both commands that read one
    for bad in ["empty.npz", "truncated.npz", "junk.npz", "meta-list.npz",
                "meta-noparams.npz", "meta-badparams.npz", "meta-history.npz",
                "meta-version.npz", "shapes.npz", "nan.npz", "u.data"]:
        cases.append((["evaluate", f"{{{bad}}}", r], "cannot read model"))
        cases.append((["recommend", f"{{{bad}}}", "--user", "1"], "cannot read model"))
    return cases


_USAGE = [
    [], ["bogus"], ["fit"], ["fit", "a", "--factors", "x"], ["fit", "a", "--solver", "nope"],
    ["fit", "a", "--epochs", "1.5"], ["fit", "a", "--unknown"], ["evaluate", "m"],
    ["recommend", "m"], ["recommend", "m", "--user", "1", "-n", "1e12"],
    ["similar", "m"], ["evaluate", "m", "t", "-k", "many"],
    ["config", "extra"], ["demo", "--ratings", "many"], ["demo", "a", "b"],
]


def _argv(template, files):
    """The template with each ``{name}`` replaced by that file's path."""
    argv = []
    for arg in template:
        for name, path in files.items():
            arg = arg.replace(f"{{{name}}}", str(path))
        argv.append(arg)
    return argv


@pytest.mark.parametrize("template, message", _bad_arguments())
def test_mistakes_are_one_line_errors(files, template, message, capsys, monkeypatch):
    monkeypatch.chdir(files["dir"])          # a fit that wrongly succeeds saves here
    status = main(_argv(template, files))
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "warning:" not in line]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"fastmf {template[0]}: error: ")
    assert message in lines[0]


@pytest.mark.parametrize("argv", _USAGE)
def test_usage_errors_are_one_line_with_status_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1 and "error:" in err and "Traceback" not in err


def test_huge_n_lists_every_item(files, capsys):
    """-n 1000000000000 used to fail allocating 7 TiB; n is capped at the item count."""
    assert main(["recommend", str(files["model"]), "--user", "1", "-n",
                 "1000000000000"]) == 0
    n_items = fastmf.load(files["model"]).item_ids_.size
    assert len(capsys.readouterr().out.strip().splitlines()) == n_items


def test_warnings_are_one_line(files, capsys):
    assert main(["fit", str(files["ratings"]), "--epochs", "1", "--factors", "3",
                 "--threads", "100000", "-o", str(files["dir"] / "t.npz")]) == 0
    err = capsys.readouterr().err
    from fastmf._kernels import _parallel
    if _parallel.openmp_enabled():
        assert err.count("\n") == 1 and err.startswith("fastmf fit: warning: ")


def test_ctrl_c_is_one_line_with_status_130(files, capsys, monkeypatch):
    from fastmf import __main__ as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli._commands, "evaluate", interrupted)
    assert main(["evaluate", str(files["model"]), str(files["ratings"])]) == 130
    assert capsys.readouterr().err == "fastmf evaluate: interrupted\n"
