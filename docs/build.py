"""Build the documentation: ``python docs/build.py`` (after ``pip install ".[docs]"``).

Runs Sphinx twice from a clean output folder, as CI does:

1. the HTML pages in ``docs/_build/html``, with every warning an error (``-W``), every
   internal cross-reference checked (``-n``, nitpicky) and the example gallery executed;
2. the doctest builder over the same pages: the Examples sections of the API reference
   and the examples of the user guide.

Extra arguments are passed to both ``sphinx-build`` runs (for example ``-j auto``).
Exits with the status of the first run that fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def sphinx(builder: str, extra: list[str]) -> int:
    out = DOCS / "_build" / builder
    doctrees = DOCS / "_build" / "doctrees"
    cmd = [sys.executable, "-m", "sphinx", "-b", builder, "-W", "--keep-going", "-n",
           "-d", str(doctrees), *extra, str(DOCS), str(out)]
    print("+", " ".join(cmd), flush=True)
    # From docs/: ``python -m`` puts the working directory first on sys.path, and from
    # the repository root that would import the source tree (no compiled kernels)
    # instead of the installed fastmf.
    return subprocess.call(cmd, cwd=DOCS, env={**os.environ, "MPLBACKEND": "Agg"})


def main(argv: list[str]) -> int:
    for generated in ("_build", "api", "auto_examples", "_generated"):
        shutil.rmtree(DOCS / generated, ignore_errors=True)
    for builder in ("html", "doctest"):
        status = sphinx(builder, argv)
        if status:
            return status
    print(f"HTML: {DOCS / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
