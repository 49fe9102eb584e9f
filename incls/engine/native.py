"""The only door to the engine's native kernels (`kernels.c`): building, loading, calling.

Every kernel is called through a function of this module, which checks the dtype, shape
and contiguity of every tensor it hands over (`_pointer`) and passes the engine's state as
three structs declared here as in the C source (`ModelStruct`, `LayerStruct`,
`CacheStruct`); on load, their sizes and field offsets are checked against the compiled
side (`incls_layout`), so a drifted declaration fails loudly instead of reading garbage.

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
from typing import TYPE_CHECKING

import torch

from ..paths import user_dir

if TYPE_CHECKING:
    from .cache import LayerCache
    from .weights import EngineWeights, LayerWeights

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp", "-fPIC", "-shared"]
COMPILER_FIX = (
    "install a C compiler with OpenMP (Debian/Ubuntu: sudo apt-get install gcc; Fedora: sudo dnf install gcc) "
    "or set CC to one, then run `incls setup`"
)

c_i64, c_ptr = ctypes.c_int64, ctypes.c_void_p


class ModelStruct(ctypes.Structure):
    """`Model` in kernels.c: shapes and the tables every layer shares."""

    _fields_ = [
        ("d", c_i64),
        ("H", c_i64),
        ("Hkv", c_i64),
        ("hd", c_i64),
        ("K", c_i64),
        ("dff", c_i64),
        ("W", c_i64),
        ("sink", c_i64),  # 1: local layers also see key 0
        ("eps", ctypes.c_double),
        ("scale", ctypes.c_double),
        ("embed", c_ptr),  # (V, d) float32
        ("rot_cos", c_ptr),  # (W + 1, hd) float64
        ("rot_sin", c_ptr),
        ("win_cos", c_ptr),  # (hd,) float64
        ("win_sin", c_ptr),
    ]


class LayerStruct(ctypes.Structure):
    """`Layer` in kernels.c: one layer's weights."""

    _fields_ = [
        ("ln1", c_ptr),  # (d,) float32
        ("ln2", c_ptr),
        ("w_qkv", c_ptr),  # ((H + 2 Hkv) hd, d) float32 or float16
        ("w_gate_up", c_ptr),  # (2 dff, d)
        ("w_down", c_ptr),  # (d, dff)
        ("qkv_f16", c_i64),
        ("mlp_f16", c_i64),
        ("table", c_ptr),  # (H, K, d) float32
        ("codebook", c_ptr),  # (H, K, hd) float64
        ("codes_sq", c_ptr),  # (H, K) float64
    ]


class CacheStruct(ctypes.Structure):
    """`Cache` in kernels.c: one layer's cache in storage rows, and where each position's row is."""

    _fields_ = [
        ("x", c_ptr),  # (S, d) float32, or NULL (layer 0)
        ("tokens", c_ptr),  # (S,) int32
        ("k", c_ptr),  # (S, Hkv, hd) float32
        ("v", c_ptr),
        ("codes", c_ptr),  # (S, H) int16
        ("q", c_ptr),  # (S, H, hd) float32, or NULL (local layers)
        ("rows_of", c_ptr),  # (T,) int64
        ("T", c_i64),
    ]


STRUCTS = {"Model": ModelStruct, "Layer": LayerStruct, "Cache": CacheStruct}  # by their names in kernels.c
POINTER = ctypes.POINTER
SIGNATURES = {
    "incls_layout": ([ctypes.c_char_p, c_i64], c_i64),
    "incls_matmul": ([c_ptr, c_i64, c_i64, c_ptr, ctypes.c_int, c_i64, c_ptr, ctypes.c_int], None),
    "incls_rms_norm": ([c_ptr, c_i64, c_i64, c_ptr, ctypes.c_float, c_ptr], None),
    "incls_project": (
        [POINTER(ModelStruct), POINTER(LayerStruct), POINTER(CacheStruct), c_ptr, c_ptr, c_i64, ctypes.c_int],
        ctypes.c_int,
    ),
    "incls_finish": (
        [POINTER(ModelStruct), POINTER(LayerStruct), POINTER(CacheStruct), c_ptr, c_i64, c_ptr, ctypes.c_int],
        ctypes.c_int,
    ),
    "incls_window_update": (
        [
            POINTER(ModelStruct),
            POINTER(LayerStruct),
            POINTER(CacheStruct),
            *(c_ptr, c_i64) * 2,  # dirty (n,), extra (e,)
            c_ptr,
            c_ptr,
            ctypes.c_int,
        ],
        c_i64,
    ),
}


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
    path = build_path()
    if not path.is_file():
        build(path)
    return load(path)


def load(path: Path) -> ctypes.CDLL:
    """A built kernels file with its functions' signatures declared and its struct layout checked."""
    built = ctypes.CDLL(str(path))
    for name, (argtypes, restype) in SIGNATURES.items():
        fn = getattr(built, name)
        fn.argtypes, fn.restype = argtypes, restype
    expected = layout()
    room = 4 * len(expected) + 1024
    text = ctypes.create_string_buffer(room)
    got = text.value.decode() if built.incls_layout(text, room) < room else ""
    if got != expected:
        raise NativeBuildError(
            f"{path} does not match the struct declarations of {Path(__file__).name} "
            f"(sizes and offsets, C:\n{got}Python:\n{expected})"
        )
    return built


def layout() -> str:
    """Sizes and field offsets of the declared structs, in the text `incls_layout` writes."""
    lines = []
    for c_name, struct in STRUCTS.items():
        lines.append(f"{c_name} {ctypes.sizeof(struct)}")
        lines += [f"{field[0]} {getattr(struct, field[0]).offset}" for field in struct._fields_]
    return "".join(line + "\n" for line in lines)


def check(status: int) -> int:
    """A kernel's return value, or MemoryError if it could not get its scratch memory (it then wrote nothing)."""
    if status < 0:
        raise MemoryError("the engine's native kernels could not allocate their scratch memory")
    return status


# ---- the one place tensors become pointers ------------------------------------------------


def _pointer(t: torch.Tensor | None, dtype: torch.dtype, name: str, shape: tuple | None = None) -> int:
    """The address of a tensor the kernels read or write (0 for None), after checking that it
    is contiguous, of `dtype`, and (where given) of `shape` (None entries: any size)."""
    if t is None:
        return 0
    if t.dtype != dtype:
        raise TypeError(f"{name}: the kernels need {dtype}, got {t.dtype}")
    if not t.is_contiguous():
        raise ValueError(f"{name}: the kernels need a contiguous tensor")
    if shape is not None and (
        t.dim() != len(shape) or any(want is not None and got != want for got, want in zip(t.shape, shape))
    ):
        raise ValueError(f"{name}: shape {tuple(t.shape)}, the kernels need {shape}")
    return t.data_ptr()


def _weight(t: torch.Tensor, name: str, shape: tuple) -> tuple[int, int]:
    """(address, is float16) of a weight matrix stored as float32 or float16 (`weights.compact`)."""
    half = t.dtype == torch.float16
    return _pointer(t, torch.float16 if half else torch.float32, name, shape), int(half)


def _structs(w: EngineWeights, lw: LayerWeights) -> tuple[ModelStruct, LayerStruct]:
    """The kernels' view of a model's and a layer's weights, built at first use and kept on
    them (the tensors they point into live as long as the weights do)."""
    if w.native is None:
        w.native = model_struct(w)
    if lw.native is None:
        lw.native = layer_struct(w, lw)
    return w.native, lw.native


def model_struct(w: EngineWeights) -> ModelStruct:
    """The Model struct of a model's engine weights (the weights keep the tensors)."""
    f64, hd = torch.float64, w.hd
    return ModelStruct(
        d=w.d,
        H=w.H,
        Hkv=w.Hkv,
        hd=hd,
        K=w.K,
        dff=w.dff,
        W=w.W,
        sink=int(w.sink),
        eps=w.eps,
        scale=w.scale,
        embed=_pointer(w.embed, torch.float32, "embed", (w.vocab, w.d)),
        rot_cos=_pointer(w.rot_cos, f64, "rot_cos", (w.W + 1, hd)),
        rot_sin=_pointer(w.rot_sin, f64, "rot_sin", (w.W + 1, hd)),
        win_cos=_pointer(w.win_cos, f64, "win_cos", (hd,)),
        win_sin=_pointer(w.win_sin, f64, "win_sin", (hd,)),
    )


def layer_struct(w: EngineWeights, lw: LayerWeights) -> LayerStruct:
    """The Layer struct of one layer's engine weights."""
    f32, f64 = torch.float32, torch.float64
    w_qkv, qkv_f16 = _weight(lw.w_qkv, "w_qkv", ((w.H + 2 * w.Hkv) * w.hd, w.d))
    w_gate_up, gu_f16 = _weight(lw.w_gate_up, "w_gate_up", (2 * w.dff, w.d))
    w_down, down_f16 = _weight(lw.w_down, "w_down", (w.d, w.dff))
    if gu_f16 != down_f16:
        raise TypeError("w_gate_up and w_down must share one dtype (`weights.compact` gives them one)")
    return LayerStruct(
        ln1=_pointer(lw.ln1, f32, "ln1", (w.d,)),
        ln2=_pointer(lw.ln2, f32, "ln2", (w.d,)),
        w_qkv=w_qkv,
        w_gate_up=w_gate_up,
        w_down=w_down,
        qkv_f16=qkv_f16,
        mlp_f16=down_f16,
        table=_pointer(lw.table, f32, "table", (w.H, w.K, w.d)),
        codebook=_pointer(lw.codes, f64, "codebook", (w.H, w.K, w.hd)),
        codes_sq=_pointer(lw.codes_sq, f64, "codes_sq", (w.H, w.K)),
    )


def cache_struct(w: EngineWeights, cache: LayerCache, tokens: torch.Tensor, rows_of: torch.Tensor) -> CacheStruct:
    """The Cache struct of a layer's cache (storage rows S), the token of each storage row
    `tokens` (S,) and the storage row of each position `rows_of` (T,). Built per call: the
    storage grows, so its addresses change."""
    S = cache.k.shape[0]
    return CacheStruct(
        x=_pointer(cache.x, torch.float32, "cache x", (S, w.d)),
        tokens=_pointer(tokens, torch.int32, "tokens", (S,)),
        k=_pointer(cache.k, torch.float32, "cache k", (S, w.Hkv, w.hd)),
        v=_pointer(cache.v, torch.float32, "cache v", (S, w.Hkv, w.hd)),
        codes=_pointer(cache.codes, torch.int16, "cache codes", (S, w.H)),
        q=_pointer(cache.q, torch.float32, "cache q", (S, w.H, w.hd)),
        rows_of=_pointer(rows_of, torch.int64, "rows_of", (None,)),
        T=rows_of.numel(),
    )


def _threads(threads: int | None) -> int:
    return threads or torch.get_num_threads()


def matmul(x: torch.Tensor, weight: torch.Tensor, threads: int | None = None) -> torch.Tensor:
    """x (n, a) float32 times weight (b, a) float32 or float16 -> (n, b) float32, each row
    bitwise independent of the others."""
    x = x.contiguous()
    n, a = x.shape
    b = weight.shape[0]
    out = torch.empty(n, b, dtype=torch.float32)
    if n:
        w_ptr, half = _weight(weight, "weight", (b, a))
        kernels().incls_matmul(_pointer(x, torch.float32, "x"), n, a, w_ptr, half, b, out.data_ptr(), _threads(threads))
    return out


def rms_norm(x: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm of rows x (n, d) float32 with gain (d,)."""
    x = x.contiguous()
    n, d = x.shape
    out = torch.empty_like(x)
    if n:
        kernels().incls_rms_norm(
            _pointer(x, torch.float32, "x"), n, d, _pointer(gain, torch.float32, "gain", (d,)), eps, out.data_ptr()
        )
    return out


def project(
    w: EngineWeights,
    lw: LayerWeights,
    cache: CacheStruct,
    x: torch.Tensor,
    rows: torch.Tensor,
    threads: int | None = None,
) -> None:
    """Store rows x (n, d) float32 into storage rows `rows` (n,) of a layer's cache: residual
    inputs (if the cache keeps them), k, v, and queries (if it keeps them)."""
    x, rows = x.contiguous(), rows.contiguous()
    n = rows.numel()
    if n:
        x_ptr = _pointer(x, torch.float32, "x", (n, w.d))
        check(
            kernels().incls_project(
                *_structs(w, lw), cache, x_ptr, _pointer(rows, torch.int64, "rows"), n, _threads(threads)
            )
        )


def finish(
    w: EngineWeights, lw: LayerWeights, cache: CacheStruct, rows: torch.Tensor, threads: int | None = None
) -> torch.Tensor:
    """Residual stream after the layer (n, d) float32 of storage rows `rows` (n,): their
    residual inputs plus the attention block (one table row per head and code), then the MLP."""
    rows = rows.contiguous()
    n = rows.numel()
    out = torch.empty(n, w.d, dtype=torch.float32)
    if n:
        rows_ptr = _pointer(rows, torch.int64, "rows")
        check(kernels().incls_finish(*_structs(w, lw), cache, rows_ptr, n, out.data_ptr(), _threads(threads)))
    return out


def window_update(
    w: EngineWeights,
    lw: LayerWeights,
    cache: CacheStruct,
    dirty: torch.Tensor,
    extra: torch.Tensor,
    threads: int | None = None,
) -> tuple[torch.Tensor, int, int]:
    """A local layer's codes chosen afresh at every position a change reaches (see
    `incls.engine.local_layer`). Returns the next layer's dirty positions (sorted), the rows
    searched (each also had its query recomputed) and the attention terms computed."""
    dirty, extra = dirty.contiguous(), extra.contiguous()
    out = torch.empty(dirty.numel() * w.W + extra.numel(), dtype=torch.int64)
    stats = torch.zeros(2, dtype=torch.int64)
    count = check(
        kernels().incls_window_update(
            *_structs(w, lw),
            cache,
            _pointer(dirty, torch.int64, "dirty"),
            dirty.numel(),
            _pointer(extra, torch.int64, "extra"),
            extra.numel(),
            out.data_ptr(),
            stats.data_ptr(),
            _threads(threads),
        )
    )
    searched, terms = stats.tolist()
    return out[:count], searched, terms
