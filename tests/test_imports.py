"""The Python layer has no import circles.

A static check reads every module of the installed package and follows its imports of
other fastmf modules (those inside functions too: they run, only later; those under
``if TYPE_CHECKING:`` do not run and are left out).  A dynamic check then imports each
module first thing in a fresh interpreter, as a user's ``import fastmf.<module>`` would.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import fastmf

PACKAGE = Path(fastmf.__file__).parent


def _modules() -> dict[str, Path]:
    """Every Python module of the installed package (compiled kernels left out)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "_kernels" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run, at import time or in a function."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _edges(name: str, path: Path) -> set[str]:
    """The fastmf modules that module ``name`` imports when it runs."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.split(".")
            base = base[:len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in MODULES else source)
    return {t for t in targets if t in MODULES and t != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def test_the_static_check_sees_the_imports():
    graph = {name: _edges(name, path) for name, path in MODULES.items()}
    assert {"fastmf._estimator", "fastmf._fitting", "fastmf._state"} <= set(MODULES)
    assert "fastmf._fitting" in graph["fastmf._estimator"]
    assert "fastmf._state" in graph["fastmf._fitting"]
    # a circle, made up, is found
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    graph = {name: _edges(name, path) for name, path in MODULES.items()}
    assert _cycles(graph) == []


def _importable(name: str) -> bool:
    if not name.startswith("fastmf.distributed"):
        return True
    return all(importlib.util.find_spec(dep) is not None
               for dep in ("dask", "distributed", "pandas", "pyarrow"))


@pytest.mark.parametrize("chunk", [0, 1, 2, 3])
def test_each_module_imports_first_in_a_fresh_interpreter(chunk, tmp_path):
    names = [n for n in sorted(MODULES) if _importable(n)][chunk::4]

    def run(name: str) -> tuple[str, int, str]:
        # from an empty folder: the installed package, never a source tree
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path,
                              capture_output=True, text=True)
        return name, done.returncode, done.stderr[-2000:]

    with ThreadPoolExecutor(4) as pool:
        failed = [(n, err) for n, code, err in pool.map(run, names) if code]
    assert failed == []
