"""Build the Cython kernels of fastmf.

Every ``src_cython/<name>.pyx`` becomes the extension ``fastmf._kernels.<name>``.

Environment switches (all optional):

``FASTMF_NO_OPENMP=1``
    Build serial kernels even if the compiler supports OpenMP.
``FASTMF_DEBUG=1``
    Turn Cython's ``boundscheck`` and ``wraparound`` back on and compile with ``-O0 -g``,
    so the test suite can be run once against bounds-checked kernels.
``FASTMF_NATIVE=1``
    Add ``-march=native`` (GCC/Clang).  Faster on the build machine, but the result is not
    portable: never use it for wheels that are distributed.
``FASTMF_SANITIZE=1``
    Build the kernels with AddressSanitizer and UndefinedBehaviorSanitizer (GCC/Clang,
    ``-O1 -g``; undefined behaviour aborts instead of being reported and ignored), so the
    test suite catches out-of-bounds accesses and undefined behaviour in the C code.
    CPython itself is not instrumented, so the ASan runtime must be loaded first:
    ``LD_PRELOAD=$(cc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 pytest``
    (see README, "Build switches").

Modules named ``*_avx2.pyx`` and ``*_avx512.pyx`` are built only for x86-64, with AVX2 and
FMA (and AVX-512 F/CD/VL/BW/DQ) enabled and floating-point contraction into fused
multiply-adds allowed; the package imports them only on CPUs that have those instruction
sets (fastmf/_dispatch.py), so the wheel stays portable.
"""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
KERNEL_DIR = "src_cython"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _compiler_kind() -> str:
    if sys.platform == "win32" and not sysconfig.get_config_var("CC"):
        return "msvc"
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return "clang" if "clang" in cc or sys.platform == "darwin" else "gcc"


def _openmp_flags(kind: str) -> tuple[list[str], list[str]]:
    """Compile and link flags that enable OpenMP for this compiler (not yet probed)."""
    if kind == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp driver flag; libomp comes from Homebrew/conda-forge
        # and its prefix is given through CPPFLAGS/LDFLAGS (see pyproject's cibuildwheel).
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def _probe_openmp(compile_args: list[str], link_args: list[str]) -> bool:
    """Compile and link a tiny OpenMP program with the compiler setuptools will use."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    code = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
        }
        """
    )
    tmp = tempfile.mkdtemp(prefix="fastmf-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        compiler = new_compiler()
        customize_compiler(compiler)
        with open(os.devnull, "w") as devnull:
            stderr = os.dup(2)
            os.dup2(devnull.fileno(), 2)
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=compile_args)
                compiler.link_executable(
                    objs, "probe", output_dir=tmp, extra_postargs=link_args
                )
            finally:
                os.dup2(stderr, 2)
                os.close(stderr)
        exe = os.path.join(tmp, "probe.exe" if sys.platform == "win32" else "probe")
        return subprocess.run([exe], check=False).returncode == 0
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build_flags() -> tuple[list[str], list[str], bool]:
    kind = _compiler_kind()
    if kind == "msvc":
        compile_args, link_args = ["/O2"], []
    else:
        compile_args = ["-O3", "-std=c11", "-Wno-unreachable-code", "-Wno-unused-function"]
        link_args = []
        if _env_flag("FASTMF_DEBUG"):
            compile_args[0] = "-O0"
            compile_args.append("-g")
        if _env_flag("FASTMF_NATIVE"):
            compile_args.append("-march=native")
        if _env_flag("FASTMF_SANITIZE"):
            sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
            compile_args[0] = "-O1"
            compile_args += sanitize + ["-g", "-fno-omit-frame-pointer"]
            link_args += sanitize

    use_openmp = False
    if _env_flag("FASTMF_NO_OPENMP"):
        print("fastmf: OpenMP disabled by FASTMF_NO_OPENMP; building serial kernels.")
    else:
        omp_compile, omp_link = _openmp_flags(kind)
        if _probe_openmp(omp_compile, omp_link):
            compile_args += omp_compile
            link_args += omp_link
            use_openmp = True
        else:
            bar = "*" * 78
            print(
                f"\n{bar}\nfastmf: WARNING: this compiler cannot build OpenMP code.\n"
                "The kernels are built SERIAL: num_threads > 1 will run on one thread.\n"
                "fastmf.show_config() reports this at run time. Install an OpenMP runtime\n"
                f"(libgomp / libomp) and rebuild for parallel kernels.\n{bar}\n",
                file=sys.stderr,
            )
    if not use_openmp and kind != "msvc":
        # Keep `#pragma omp simd` vectorisation without the OpenMP runtime.
        compile_args.append("-fopenmp-simd")
    return compile_args, link_args, use_openmp


def _simd_flags(kind: str, level: str) -> list[str] | None:
    """Extra flags for a ``*_avx2`` / ``*_avx512`` module, or None where it cannot be built.

    ``-ffp-contract=fast`` lets GCC and Clang fuse ``a * b + c`` into one FMA, which
    ``-std=c11`` otherwise forbids: the SGD update's chain of dependent operations is
    its bottleneck, and an FMA is one step where a multiply and an add are two.  (This is
    not ``-ffast-math``: no reassociation, NaN and infinity handling unchanged.)"""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    if level == "avx2":
        return ["/arch:AVX2"] if kind == "msvc" else ["-mavx2", "-mfma", "-ffp-contract=fast"]
    return (["/arch:AVX512"] if kind == "msvc" else
            ["-mavx2", "-mfma", "-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512bw",
             "-mavx512dq", "-mprefer-vector-width=512", "-ffp-contract=fast"])


def _extensions() -> list:
    compile_args, link_args, _ = _build_flags()
    kind = _compiler_kind()
    debug = _env_flag("FASTMF_DEBUG")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    exts = []
    for pyx in sorted((HERE / KERNEL_DIR).glob("*.pyx")):
        extra = []
        level = pyx.stem.rsplit("_", 1)[-1]
        if level in ("avx2", "avx512"):
            extra = _simd_flags(kind, level)
            if extra is None or _env_flag("FASTMF_NATIVE"):
                continue
        exts.append(
            Extension(
                f"fastmf._kernels.{pyx.stem}",
                [f"{KERNEL_DIR}/{pyx.name}"],
                include_dirs=[np.get_include(), KERNEL_DIR],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
                extra_compile_args=compile_args + extra,
                extra_link_args=link_args,
            )
        )
    return cythonize(
        exts,
        include_path=[KERNEL_DIR],
        compiler_directives=directives,
        # Regenerate every time: C generated for a debug build (bounds checks on) must never
        # be reused by a release build of the same tree, or the other way round.
        force=True,
    )


setup(ext_modules=_extensions())
