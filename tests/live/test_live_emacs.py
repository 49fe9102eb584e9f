"""Emacs (Debian's 28.2) with eglot (elpa-eglot 1.9) and Flymake against `incls --stdio`."""

from pathlib import Path

import pytest

from liveharness import check_outcome, require_tool, run_driver

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
