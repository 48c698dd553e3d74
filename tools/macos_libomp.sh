#!/usr/bin/env bash
# Fetch the OpenMP runtime for fastmf's macOS wheels (cibuildwheel's before-all).
#
# libomp comes from conda-forge's llvm-openmp package, pinned below, for both wheel
# architectures: /tmp/libomp-x86_64 (osx-64) and /tmp/libomp-arm64 (osx-arm64), each with
# include/omp.h and lib/libomp.dylib.  pyproject.toml points CPPFLAGS/LDFLAGS there and
# sets MACOSX_DEPLOYMENT_TARGET to the minimum macOS of these builds (10.13 and 11.0);
# delocate then copies libomp.dylib into each wheel.  Homebrew's libomp is not used: it
# is built for the runner's own macOS version, so wheels linking it would not load on
# older systems.
set -euo pipefail
LLVM_OPENMP_VERSION=19.1.7

host="$(uname -m)"
[[ "$host" == x86_64 ]] && platform=osx-64 || platform=osx-arm64
tool="$(mktemp -d)"
# micromamba only fetches the package; the package itself is what is pinned.
curl -fsSL "https://micro.mamba.pm/api/micromamba/${platform}/latest" | tar -xj -C "$tool" bin/micromamba
export MAMBA_ROOT_PREFIX="$tool/root"
for arch in x86_64 arm64; do
    [[ "$arch" == x86_64 ]] && target=osx-64 || target=osx-arm64
    rm -rf "/tmp/libomp-$arch"
    "$tool/bin/micromamba" create -y -q -p "/tmp/libomp-$arch" --platform "$target" \
        -c conda-forge "llvm-openmp=${LLVM_OPENMP_VERSION}"
    test -f "/tmp/libomp-$arch/include/omp.h"
    test -f "/tmp/libomp-$arch/lib/libomp.dylib"
done
