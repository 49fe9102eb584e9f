"""Emacs (Debian's 28.2) with eglot (elpa-eglot 1.9) and Flymake against `incls --stdio`."""

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

DRIVER = Path(__file__).parent / "editors" / "eglot_drive.el"

pytestmark = pytest.mark.live


def test_emacs_eglot(workspace, latency):
    emacs = require_tool("emacs")
    if not Path("/usr/share/emacs/site-lisp/elpa/eglot-1.9").exists() and not list(
        Path("/usr/share/emacs/site-lisp/elpa").glob("eglot-*")
    ):
        pytest.fail("eglot not installed (apt-get install elpa-eglot): run scripts/install-editors.sh")
    result = run_driver("emacs-eglot", [emacs, "--batch", "-Q", "-l", str(DRIVER)], workspace)
    check_outcome(result, "emacs-eglot", latency)


def read_hints(workspace, name: str, file: str) -> dict:
    """What Flymake holds after Emacs opens `file` of the workspace (eglot 1.9 makes hints notes)."""
    emacs = require_tool("emacs")
    argv = [emacs, "--batch", "-Q", "-l", str(DRIVER)]
    return run_driver(name, argv, workspace, extra={"mode": "hints", "file": str(workspace / file)})


def test_emacs_eglot_letter_hints_land_on_the_complaint(workspace):
    """The complaint letter's hints: on the complaint's sentences, none on the greeting, the
    sign-off or the signature."""
    check_letter_hints(read_hints(workspace, "emacs-eglot-letter", LETTER_FILE), "emacs-eglot", severity=None)


def test_emacs_eglot_update_reads_positive_with_the_annoyed_sentence_against_it(workspace):
    """The cheerful team update at the default settings: positive, with the annoyed sentence
    (and only it) pointed out against the tone."""
    check_update_hints(read_hints(workspace, "emacs-eglot-update", UPDATE_FILE), "emacs-eglot", severity=None)
