#!/usr/bin/env bash
# Fetch the OpenMP runtime for fastmf's macOS builds (cibuildwheel's before-all, and the
# macOS test job of CI).
#
# libomp (LLVM's OpenMP runtime, Apache-2.0 WITH LLVM-exception) comes from the
# cmeel-libomp wheels on PyPI, pinned below by version and SHA-256 (the digests the
# index publishes for these files), for both macOS architectures: $LIBOMP_ROOT/libomp-x86_64
# and $LIBOMP_ROOT/libomp-arm64 (LIBOMP_ROOT defaults to /tmp, where the cibuildwheel
# settings in pyproject.toml look), each with include/omp.h and lib/libomp.dylib.  PyPI never
# replaces the file of a published version, and the checksum is verified before
# anything is unpacked.  pyproject.toml points CPPFLAGS/LDFLAGS there and sets
# MACOSX_DEPLOYMENT_TARGET to the minimum macOS these builds support (libomp.dylib's
# LC_BUILD_VERSION / LC_VERSION_MIN: 10.13 for x86_64, 11.0 for arm64); delocate then
# copies libomp.dylib into each wheel.  Homebrew's libomp is not used: it follows
# Homebrew's latest release and is built for the runner's own macOS version, so wheels
# linking it would not load on older systems.
#
# To move to another version: take the file names and the sha256 digests from
# https://pypi.org/simple/cmeel-libomp/ and check them against the downloaded files.
set -euo pipefail

root="${LIBOMP_ROOT:-/tmp}"

LIBOMP_VERSION=21.1.8
BASE=https://files.pythonhosted.org/packages
X86_64_URL="$BASE/3f/38/1c42a768a8a3762321504e487ff503c0ced50d5db19816af37029318a43b/cmeel_libomp-${LIBOMP_VERSION}-0-py3-none-macosx_10_9_x86_64.whl"
X86_64_SHA256=b8c1f76f32c097ec88cc9c1bb42680f54f67b4ae9977a86339f7babb5cf43650
ARM64_URL="$BASE/db/df/bcad90c9392c797cfe6c0b3610178897230d13987babc7fb6509e1f68549/cmeel_libomp-${LIBOMP_VERSION}-0-py3-none-macosx_11_0_arm64.whl"
ARM64_SHA256=74dd38d15da7ab1806d231b1f2be80a5fb6a1d404575678a0d75223aeb37f1f3

sha256() {
    if command -v sha256sum > /dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for arch in x86_64 arm64; do
    if [[ "$arch" == x86_64 ]]; then url="$X86_64_URL" sum="$X86_64_SHA256"
    else url="$ARM64_URL" sum="$ARM64_SHA256"; fi
    wheel="$work/libomp-$arch.whl"
    curl -fsSL --retry 3 -o "$wheel" "$url"
    got="$(sha256 "$wheel" | cut -d' ' -f1)"
    if [[ "$got" != "$sum" ]]; then
        echo "libomp $arch: sha256 $got, expected $sum" >&2
        exit 1
    fi
    rm -rf "$work/unpacked" "$root/libomp-$arch"
    unzip -q "$wheel" 'cmeel.prefix/include/*' 'cmeel.prefix/lib/libomp.dylib' -d "$work/unpacked"
    mkdir -p "$root/libomp-$arch"
    mv "$work/unpacked/cmeel.prefix/include" "$work/unpacked/cmeel.prefix/lib" "$root/libomp-$arch/"
    test -f "$root/libomp-$arch/include/omp.h"
    test -f "$root/libomp-$arch/lib/libomp.dylib"
    echo "libomp $LIBOMP_VERSION ($arch): $root/libomp-$arch"
done
