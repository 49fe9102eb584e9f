"""The native kernels are built per machine at first use, and a missing compiler says how to fix it."""

from __future__ import annotations

import pytest

from incls.engine import native


def test_missing_compiler_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(native.NativeBuildError, match="apt-get install gcc.*incls setup"):
        native.build(tmp_path / "kernels.so")
    assert not list(tmp_path.glob("*.so")), "no half-written build is left behind"


def test_build_is_cached_under_a_key_of_source_flags_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("INCLS_CACHE", str(tmp_path))
    path = native.build_path()
    assert path.parent == tmp_path / "native"
    native.build(path)
    assert path.is_file()
    monkeypatch.setattr(native, "FLAGS", [*native.FLAGS, "-DINCLS_SOMETHING_ELSE"])
    assert native.build_path() != path, "other flags get their own build"


@pytest.mark.parametrize("half", [False, True])
def test_portable_build_without_avx2(tmp_path, monkeypatch, half):
    """On a CPU without AVX2 the kernels take their portable path: still right, still batch-invariant."""
    import torch

    flags = [flag if flag != "-march=native" else "-march=x86-64" for flag in native.FLAGS]
    monkeypatch.setattr(native, "FLAGS", flags)
    kern = native.load(native.build(tmp_path / "portable.so"))
    gen = torch.Generator().manual_seed(7)
    weight = torch.randn(50, 37, generator=gen)
    weight = weight.half() if half else weight
    x = torch.randn(9, 37, generator=gen)

    def matmul(rows: torch.Tensor) -> torch.Tensor:
        out = torch.empty(rows.shape[0], weight.shape[0])
        kern.incls_matmul(
            rows.data_ptr(), rows.shape[0], rows.shape[1], weight.data_ptr(), half, weight.shape[0], out.data_ptr(), 2
        )
        return out

    every = matmul(x)
    assert torch.allclose(every, x @ weight.float().t(), rtol=1e-5, atol=1e-5)
    for start, size in [(0, 1), (3, 2), (4, 5)]:
        assert torch.equal(matmul(x[start : start + size].contiguous()), every[start : start + size])


def test_struct_declarations_are_checked_against_the_build(tmp_path, monkeypatch):
    """A struct declared differently from kernels.c (here: k and v swapped) fails on load, naming the file."""
    import ctypes

    fields = list(native.CacheStruct._fields_)
    names = [name for name, _ in fields]
    k, v = names.index("k"), names.index("v")
    fields[k], fields[v] = fields[v], fields[k]
    swapped = type("CacheStruct", (ctypes.Structure,), {"_fields_": fields})
    built = native.build(tmp_path / "kernels.so")
    native.load(built)
    monkeypatch.setattr(native, "STRUCTS", {**native.STRUCTS, "Cache": swapped})
    with pytest.raises(native.NativeBuildError, match="struct declarations"):
        native.load(built)


def test_tensors_are_checked_before_they_reach_the_kernels():
    import torch

    weight = torch.randn(5, 4)
    with pytest.raises(TypeError, match="float32"):
        native.matmul(torch.randn(3, 4, dtype=torch.float64), weight)
    with pytest.raises(ValueError, match="shape"):
        native.matmul(torch.randn(3, 4), torch.randn(5, 6))
    with pytest.raises(ValueError, match="contiguous"):
        native.matmul(torch.randn(3, 4), torch.randn(4, 5).t())
