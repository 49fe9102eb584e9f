"""The engine's native kernels (`kernels.c`): compiled once per machine, loaded with ctypes.

Compiled at first use with the system C compiler for the CPU it runs on, and cached in
the user's cache directory under a name that hashes the source, the flags and the CPU's
features, so a changed source or another CPU gets its own build. The build links the
OpenMP runtime PyTorch has already loaded, so the two share one thread pool.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from ..paths import user_dir

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp", "-fPIC", "-shared"]
COMPILER_FIX = (
    "install a C compiler with OpenMP (Debian/Ubuntu: sudo apt-get install gcc; Fedora: sudo dnf install gcc) "
    "or set CC to one, then run `incls setup`"
)

i64, f32p, f64p, i64p = ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
SIGNATURES = {
    "incls_matmul": [f32p, i64, i64, ctypes.c_void_p, ctypes.c_int, i64, f32p, ctypes.c_int],
    "incls_rms_norm": [f32p, i64, i64, f32p, ctypes.c_float, f32p],
    "incls_project": [
        f32p,
        i64,
        i64,
        i64p,
        f32p,
        ctypes.c_float,
        ctypes.c_void_p,
        ctypes.c_int,
        i64,
        i64,
        i64,
        f64p,
        f64p,
        f32p,
        f64p,
        f64p,
        f64p,
        ctypes.c_int,
    ],
    "incls_finish": [
        f32p,
        i64p,
        i64p,
        i64,
        i64,
        i64,
        i64,
        f32p,
        f32p,
        ctypes.c_float,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int,
        i64,
        f32p,
        ctypes.c_int,
    ],
    "incls_window_update": [ctypes.c_void_p, i64p, i64, i64p, i64, i64p, i64p, ctypes.c_int],
}
RESTYPES = {"incls_window_update": ctypes.c_int64, "incls_project": ctypes.c_int, "incls_finish": ctypes.c_int}


def check(status: int) -> int:
    """A kernel's return value, or MemoryError if it could not get its scratch memory (it then wrote nothing)."""
    if status < 0:
        raise MemoryError("the engine's native kernels could not allocate their scratch memory")
    return status


class WindowLayer(ctypes.Structure):
    """A local layer's attention state for `incls_window_update` (the C struct of the same name)."""

    _fields_ = (
        [(name, ctypes.c_int64) for name in ("H", "Hkv", "hd", "W", "K", "T")]
        + [("scale", ctypes.c_double)]
        + [
            (name, ctypes.c_void_p)
            for name in ("rot_cos", "rot_sin", "codebook", "codes_sq", "q", "k", "v", "codes", "rows_of")
        ]
    )


class NativeBuildError(RuntimeError):
    """The kernels could not be compiled; the message names the compiler and the fix."""


def _cpu_features() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise NativeBuildError(f"no C compiler found to build {SOURCE.name}: {COMPILER_FIX}")
    return cc


def build_path() -> Path:
    """Where the build for this source, these flags and this CPU lives."""
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + _cpu_features().encode()).hexdigest()[:16]
    return user_dir("INCLS_CACHE", "XDG_CACHE_HOME", ".cache") / "native" / f"kernels-{key}.so"


def build(target: Path) -> Path:
    """Compile kernels.c to `target` (written under a temporary name, then renamed: concurrent
    builds never load a half-written file)."""
    cc = _compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        try:
            done = subprocess.run([cc, *FLAGS, str(SOURCE), "-o", tmp, "-lm"], capture_output=True, text=True)
        except OSError as err:
            raise NativeBuildError(
                f"cannot run the C compiler {cc!r} to build {SOURCE.name}: {err}\nfix: {COMPILER_FIX}"
            ) from err
        if done.returncode != 0:
            raise NativeBuildError(
                f"building {SOURCE.name} with {cc} failed: {done.stderr.strip()[-2000:]}\nfix: {COMPILER_FIX}"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@lru_cache(maxsize=1)
def kernels() -> ctypes.CDLL:
    """The loaded kernels, built first if this machine has no build of this source yet."""
    import torch  # noqa: F401  (loads the OpenMP runtime the kernels then share)

    path = build_path()
    if not path.is_file():
        build(path)
    return load(path)


def load(path: Path) -> ctypes.CDLL:
    """A built kernels file with its functions' signatures declared."""
    built = ctypes.CDLL(str(path))
    for name, argtypes in SIGNATURES.items():
        fn = getattr(built, name)
        fn.argtypes, fn.restype = argtypes, RESTYPES.get(name)
    return built
