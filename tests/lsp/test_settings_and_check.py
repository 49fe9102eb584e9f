"""Settings the client gets wrong, and `incls check` on inputs that are not prose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from incls.lsp.settings import merge
from incls.reading.settings import Settings

CLI = [sys.executable, "-m", "incls.cli"]


def run(*args, env=None, timeout=300):
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ, **(env or {}))
    )


@pytest.mark.parametrize("raw", [{"incls": {"maxSesions": 3}}, {"incls.maxSesions": 3}, {"maxSesions": 3}])
def test_a_misspelt_key_is_reported_with_the_nearest_name(raw):
    settings, problems = merge(Settings(), raw)
    assert settings == Settings()
    assert problems == ["incls.maxSesions: unknown setting; did you mean incls.maxSessions?"]


def test_unknown_keys_of_ours_are_reported_and_other_tools_keys_and_client_keys_are_not():
    _, problems = merge(
        Settings(),
        {
            "incls": {"colour": "red", "server": {"path": "x"}, "languages": []},
            "python.pythonPath": "/usr/bin/python",
            "editor.fontSize": 12,
        },
    )
    assert problems == ["incls.colour: unknown setting"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_rejected(value):
    settings, problems = merge(Settings(), {"incls": {"sentenceThreshold": value}})
    assert settings.sentenceThreshold == Settings().sentenceThreshold
    assert problems and "finite" in problems[0]


def test_a_misspelt_command_gets_the_nearest_one():
    done = run("chek", "f.txt", timeout=60)
    assert done.returncode == 2
    assert "unknown command 'chek'" in done.stderr and "did you mean 'check'" in done.stderr


def test_check_reports_missing_binary_and_empty_files_before_loading_a_model(tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\xff\xfe binary")
    (tmp_path / "empty.txt").write_text("  \n")
    files = [str(tmp_path / name) for name in ("missing.txt", "blob.bin", "empty.txt")]
    done = run("check", *files, env={"PYTHONPROFILEIMPORTTIME": "1"})  # every import, one line each on stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert (
        "incls.text.prose" in imported and not {"torch", "tokenizers"} & imported
    )  # no model (and no torch) was loaded
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert "missing.txt: error: no such file" in lines[0]
    assert "blob.bin: error: a binary file" in lines[1]
    assert "empty.txt: error: the file is empty: nothing to classify" in lines[2]


def test_check_without_a_compiler_says_so_in_one_line(tmp_path):
    (tmp_path / "ok.txt").write_text("A lovely film.")
    done = run("check", str(tmp_path / "ok.txt"), env={"CC": str(tmp_path / "no-cc"), "INCLS_CACHE": str(tmp_path)})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "C compiler" in done.stderr and "apt-get install gcc" in done.stderr
