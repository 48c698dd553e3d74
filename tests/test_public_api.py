"""The public API as documented: every public name is listed in its module's ``__all__``,
annotated, has an Examples section, and its examples run (doctests).

The public surface is ``fastmf.__all__`` plus the ``__all__`` of every public submodule
(a module of the package whose name does not start with an underscore).  The API
reference of the documentation is generated from the same lists.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import fastmf


def _public_modules() -> list[str]:
    names = ["fastmf"]
    for info in pkgutil.iter_modules(fastmf.__path__):
        if not info.name.startswith("_"):
            names.append(f"fastmf.{info.name}")
    return names


def _import(name: str):
    if name == "fastmf.distributed":
        pytest.importorskip("distributed")
    return importlib.import_module(name)


def _public_objects() -> list[tuple[str, str]]:
    """(module, name) of every public function and class."""
    out = []
    for module_name in _public_modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError:         # fastmf.distributed without Dask
            continue
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                out.append((module_name, name))
    return out


def _public_methods(cls: type) -> list[tuple[str, object]]:
    """Public methods (and ``__init__``) that fastmf defines on ``cls`` or its bases."""
    out = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("fastmf"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") and name != "__init__":
                continue
            func = member.fget if isinstance(member, property) else member
            if inspect.isfunction(func):
                out.append((f"{klass.__name__}.{name}", func))
    return out


PUBLIC = _public_objects()


def test_public_modules_declare_all():
    missing = [name for name in _public_modules()
               if not hasattr(_import(name), "__all__")]
    assert missing == []


def test_public_names_are_found():
    names = {f"{m}.{n}" for m, n in PUBLIC}
    # A few anchors, so that a broken discovery cannot pass with an empty list.
    assert {"fastmf.MatrixFactorization", "fastmf.load", "fastmf.metrics.rmse",
            "fastmf.datasets.make_ratings", "fastmf.data.from_arrays"} <= names


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_public_name_has_examples(module, name):
    doc = inspect.getdoc(getattr(importlib.import_module(module), name)) or ""
    assert "\nExamples\n--------\n" in doc, f"{module}.{name} has no Examples section"


def _unannotated(func) -> list[str]:
    sig = inspect.signature(func)
    missing = [p.name for p in sig.parameters.values()
               if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_public_name_is_annotated(module, name):
    obj = getattr(importlib.import_module(module), name)
    funcs = _public_methods(obj) if inspect.isclass(obj) else [(name, obj)]
    problems = {label: miss for label, func in funcs if (miss := _unannotated(func))}
    assert problems == {}, f"unannotated parameters or returns: {problems}"


def _doctests() -> list[doctest.DocTest]:
    """The examples of every public module's docstring, public name and public method
    (methods inherited from fastmf's mixins included), each in a fresh namespace."""
    finder = doctest.DocTestFinder(recurse=False)
    targets = []
    for module_name in _public_modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        targets.append((module_name, module))
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            targets.append((f"{module_name}.{name}", obj))
            if inspect.isclass(obj):
                targets += [(f"{module_name}.{label}", func)
                            for label, func in _public_methods(obj)]
    return [test for label, obj in targets
            for test in finder.find(obj, label, globs={}) if test.examples]


DOCTESTS = _doctests()


def test_doctests_are_found():
    assert len(DOCTESTS) >= len(PUBLIC)


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples(test, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"


def test_version_stays_above_the_other_fastmf():
    # Versions up to 0.1.0 exist on PyPI under the name fastmf for an unrelated project
    # (RELEASING.md): no version of this one may reuse or precede them.
    from packaging.version import Version

    assert Version(fastmf.__version__) > Version("0.1.0")
