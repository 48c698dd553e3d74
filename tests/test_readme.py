"""The README runs as written: every code block is extracted from README.md and executed
here (Python blocks in-process, shell blocks line by line), so what a new user copies
works.  Its links are absolute, since it renders on a package index page too.

* A Python block runs in a namespace of its own, except one whose introduction says
  "Continuing the example above", which continues the namespace of "## Example".
* A block that reads MovieLens 100K (``ml-100k/``) is skipped, with the reason, where
  that data set is not present: it must be downloaded from GroupLens.  The tests look
  for it in ``$FASTMF_MOVIELENS_100K`` or in the shared data folder beside the checkout.
* The lines of the fresh-machine block that make the environment (``python3 -m venv``,
  ``pip install``) and run this test suite (``pytest``) cannot run inside it: they are
  checked to be exactly what ``.ci/run`` executes on every push, and the others run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"

pytestmark = pytest.mark.skipif(
    not README.is_file(), reason="README.md is not beside the tests (the tests run from "
    "a copy, as tools/check_wheel.sh does)")

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
# Lines of the fresh-machine block that build the environment or run this suite.
_SETUP = re.compile(r"^(python3 -m venv |pip install |pytest$)")


def _blocks() -> list[dict]:
    """Every fenced block: language, code, the heading it is under and the paragraph
    before it."""
    if not README.is_file():
        return []
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[:match.start()]
        headings = re.findall(r"^#+ (.*)$", before, re.M)
        intro = before.rstrip("\n").rsplit("\n\n", 1)[-1]
        blocks.append({"lang": match.group(1), "code": match.group(2),
                       "section": headings[-1] if headings else "",
                       "intro": intro, "line": before.count("\n") + 1})
    return blocks


BLOCKS = _blocks()


def _movielens() -> Path | None:
    folder = Path(os.environ.get("FASTMF_MOVIELENS_100K", SHARED_DATA / "movielens-100k"))
    return folder if (folder / "u.data").is_file() else None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The folder the README's commands run in: ``ml-100k/`` links to MovieLens 100K
    when it is present."""
    folder = tmp_path_factory.mktemp("readme")
    movielens = _movielens()
    if movielens is not None:
        (folder / "ml-100k").symlink_to(movielens, target_is_directory=True)
    return folder


def _needs_movielens(code: str) -> None:
    if "ml-100k/" in code and _movielens() is None:
        pytest.skip("MovieLens 100K must be downloaded (https://grouplens.org/datasets/"
                    "movielens/100k/): set FASTMF_MOVIELENS_100K to its folder")


def test_every_block_is_python_or_bash():
    assert BLOCKS, "no code block found: the pattern no longer matches the README"
    assert {b["lang"] for b in BLOCKS} <= {"python", "bash"}, [
        (b["line"], b["lang"]) for b in BLOCKS if b["lang"] not in ("python", "bash")]


_NAMESPACES: dict[str, dict] = {}


@pytest.mark.parametrize("block", [b for b in BLOCKS if b["lang"] == "python"],
                         ids=lambda b: f"line{b['line']}")
def test_python_block_runs(block, workdir, monkeypatch):
    _needs_movielens(block["code"])
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if block["intro"].startswith("Continuing the example above"):
        if "Example" not in _NAMESPACES:
            pytest.fail("the block it continues did not run first")
        namespace = _NAMESPACES["Example"]
    else:
        namespace = {"__name__": "__readme__"}
    code = compile(block["code"], f"README.md, line {block['line']}", "exec")
    exec(code, namespace)
    _NAMESPACES.setdefault(block["section"], namespace)


def _ci_commands() -> list[str]:
    """The commands ``.ci/run`` executes (after its preamble)."""
    lines = [line for line in CI_RUN.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return [line for line in lines if not re.match(r"(set |cd )", line)]


@pytest.mark.parametrize("block", [b for b in BLOCKS if b["lang"] == "bash"],
                         ids=lambda b: f"line{b['line']}")
def test_shell_block_runs(block, workdir):
    _needs_movielens(block["code"])
    lines = [line.split("  #")[0].strip() for line in block["code"].splitlines()]
    lines = [line for line in lines if line]
    setup = [line for line in lines if _SETUP.match(line.split(" && ")[0])]
    if setup:       # the fresh-machine block: exactly what CI runs
        assert lines == _ci_commands(), "the README's set-up block and .ci/run differ"
    env = {**os.environ, "MPLBACKEND": "Agg",
           # `source .venv/bin/activate` in the README: this interpreter's environment
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for line in lines:
        if _SETUP.match(line.split(" && ")[0]):
            continue
        result = subprocess.run(line, shell=True, cwd=workdir, env=env, text=True,
                                capture_output=True, timeout=600)
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        assert "warning" not in result.stderr, f"{line}: {result.stderr}"


def test_readme_links_are_absolute():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)", text)          # [text](target), ![alt](src)
    targets += re.findall(r"""(?:src|href)=["']([^"']+)""", text)
    assert targets, "no link found: the pattern no longer matches the README"
    relative = [t for t in targets if not re.match(r"(https?://|mailto:|#)", t)]
    assert relative == []
