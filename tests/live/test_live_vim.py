"""Vim 9 (Debian) with ALE (Debian's vim-ale) against `incls --stdio`."""

from pathlib import Path

import pytest

from liveharness import (
    LETTER_FILE,
    UPDATE_FILE,
    check_letter_hints,
    check_outcome,
    check_update_hints,
    require_tool,
    run_driver,
)

DRIVER = Path(__file__).parent / "editors" / "ale_drive.vim"
ALE = Path("/usr/share/vim-ale/plugin/ale.vim")

pytestmark = pytest.mark.live


def test_vim_ale(workspace, latency):
    vim = require_tool("/usr/bin/vim.basic") if Path("/usr/bin/vim.basic").exists() else require_tool("vim")
    if not ALE.exists():
        pytest.fail("ALE not installed (apt-get install vim-ale): run scripts/install-editors.sh")
    argv = [vim, "-N", "-u", "NONE", "-i", "NONE", "-n", "-es", "-c", f"source {DRIVER}"]
    result = run_driver("vim-ale", argv, workspace)
    assert str(result.get("version", "")).startswith("9."), f"expected Vim 9, got {result.get('version')}"
    check_outcome(result, "vim-ale", latency)


def test_vim_ale_letter_hints_land_on_the_complaint(workspace):
    """The complaint letter's hints as ALE lists them (ALE 3.3 shows hints as warnings): on the
    complaint's sentences, none on the greeting, the sign-off or the signature."""
    vim = require_tool("/usr/bin/vim.basic") if Path("/usr/bin/vim.basic").exists() else require_tool("vim")
    if not ALE.exists():
        pytest.fail("ALE not installed (apt-get install vim-ale): run scripts/install-editors.sh")
    argv = [vim, "-N", "-u", "NONE", "-i", "NONE", "-n", "-es", "-c", f"source {DRIVER}"]
    result = run_driver(
        "vim-ale-letter", argv, workspace, extra={"mode": "hints", "file": str(workspace / LETTER_FILE)}
    )
    check_letter_hints(result, "vim-ale", severity=None)


def test_vim_ale_update_reads_positive_with_the_annoyed_sentence_against_it(workspace):
    vim = require_tool("/usr/bin/vim.basic") if Path("/usr/bin/vim.basic").exists() else require_tool("vim")
    if not ALE.exists():
        pytest.fail("ALE not installed (apt-get install vim-ale): run scripts/install-editors.sh")
    argv = [vim, "-N", "-u", "NONE", "-i", "NONE", "-n", "-es", "-c", f"source {DRIVER}"]
    result = run_driver(
        "vim-ale-update",
        argv,
        workspace,
        extra={"mode": "hints", "file": str(workspace / UPDATE_FILE)},
    )
    check_update_hints(result, "vim-ale", severity=None)
