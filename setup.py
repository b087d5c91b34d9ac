"""Build the Cython extensions of the ``cython`` backend from ``kernels/``:
``fastnn._cython.logreg``, ``fastnn._cython.mlp`` and ``fastnn._cython.ops``.

The build is tuned for the host by default (``-march=native``, 512-bit vectors on AVX-512
hosts, OpenMP when the compiler has it).  Environment switches:

``FASTNN_PORTABLE=1``  no ``-march=native``: a build that runs on any x86-64 (or aarch64)
``FASTNN_DEBUG=1``     ``-O1 -g``, Cython's bounds/wraparound/initialized checks on, and every
                       kernel checks its arguments (dtype, layout, shapes): for the bad-input
                       battery (a bad call raises ValueError instead of reading out of bounds)
``FASTNN_OPENMP=0``    no OpenMP threads

The flags used are compiled into the extensions and reported by ``fastnn.backends()``.
Never ``-ffast-math``: it assumes no NaN/inf and breaks the NaN checks; libmvec's vector
functions are declared by ``kernels/fastnn_math.h`` instead.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() not in ("", "0", "false", "no")


def _compiler() -> str:
    return os.environ.get("CC") or "gcc"


def _compiles(flags: list[str], code: str = "int main(void) { return 0; }\n") -> bool:
    """Whether the C compiler accepts ``flags`` (and links) on a trivial program."""
    cc = _compiler()
    if shutil.which(cc.split()[0]) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        cmd = [*cc.split(), *flags, src, "-o", os.path.join(tmp, "probe")]
        return subprocess.run(cmd, capture_output=True).returncode == 0


def _host_has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx512f" in line for line in f)
    except OSError:
        return False


def build_flags() -> tuple[list[str], list[str], dict]:
    """(compile args, link args, a record of the choices) for this host and environment."""
    debug, portable = _flag("FASTNN_DEBUG"), _flag("FASTNN_PORTABLE")
    compile_args = ["-O1", "-g"] if debug else ["-O3"]
    # vector math without -ffast-math: errno and traps off, `omp declare simd` honoured
    compile_args += ["-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"]
    # reductions (sums, dot products) vectorize only when their additions may be reordered:
    # reassociation and no signed zeros are allowed (DESIGN, Numerics), unlike finite-math
    compile_args += ["-fassociative-math", "-fno-signed-zeros"]
    if not portable and platform.machine() in ("x86_64", "AMD64", "aarch64", "arm64"):
        native = "-march=native" if platform.machine() in ("x86_64", "AMD64") else "-mcpu=native"
        if _compiles([native]):
            compile_args.append(native)
            if _host_has_avx512() and _compiles([native, "-mprefer-vector-width=512"]):
                compile_args.append("-mprefer-vector-width=512")
    link_args = []
    openmp = os.environ.get("FASTNN_OPENMP", "1").strip() != "0"
    omp_probe = "#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n"
    if openmp and _compiles(["-fopenmp"], omp_probe):
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
    else:
        openmp = False
    link_args.append("-lm")
    record = {"debug": debug, "portable": portable, "openmp": openmp, "cflags": " ".join(compile_args)}
    return compile_args, link_args, record


class BuildExt(build_ext):
    """build_ext that says what to do when there is no C compiler, instead of a traceback wall."""

    def run(self) -> None:
        if shutil.which(_compiler().split()[0]) is None:
            sys.exit(
                "fastnn: no C compiler found (looked for "
                f"{_compiler()!r}). fastnn compiles its Cython kernels at install time: "
                "install gcc (Debian/Ubuntu: apt install gcc python3-dev) or set CC."
            )
        super().run()


#: what the three extensions share: the C header and the cimported helpers
SHARED = ("fastnn_math.h", "tiles.h", "scalar.pxd", "products.pxd", "common.pxd")


def extensions() -> list[Extension]:
    import Cython
    from Cython.Build import cythonize

    compile_args, link_args, record = build_flags()
    debug = record["debug"]
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    macros = [
        ("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION"),
        ("FASTNN_CFLAGS", '"' + record["cflags"] + '"'),
        ("FASTNN_OPENMP", "1" if record["openmp"] else "0"),
        ("FASTNN_DEBUG", "1" if debug else "0"),
        ("FASTNN_CYTHON_VERSION", '"' + Cython.__version__ + '"'),
    ]
    exts = [
        Extension(
            f"fastnn._cython.{name}",
            sources=[f"kernels/{name}.pyx"],
            include_dirs=["kernels", numpy.get_include()],
            depends=[f"kernels/{dep}" for dep in SHARED],
            define_macros=macros,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
        for name in ("logreg", "mlp", "ops")
    ]
    return cythonize(exts, include_path=["kernels"], compiler_directives=directives)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
