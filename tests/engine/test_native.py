"""The native kernels are built per machine at first use, and a missing compiler says how to fix it."""

from __future__ import annotations

import pytest

from incls.engine import native


def test_missing_compiler_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(native.NativeBuildError, match="apt-get install gcc"):
        native.build(tmp_path / "kernels.so")
    assert not list(tmp_path.glob("*.so")), "no half-written library is left behind"


def test_build_is_cached_under_a_key_of_source_flags_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("INCLS_CACHE", str(tmp_path))
    path = native.library_path()
    assert path.parent == tmp_path / "native"
    native.build(path)
    assert path.is_file()
    monkeypatch.setattr(native, "FLAGS", [*native.FLAGS, "-DINCLS_SOMETHING_ELSE"])
    assert native.library_path() != path, "other flags get their own build"
