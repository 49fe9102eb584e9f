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
