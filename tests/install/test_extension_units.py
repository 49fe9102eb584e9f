"""The VS Code extension's unit tests (vscode-client/test/, Node's own test runner, `npm test`):
how it finds the `incls` server (the setting, the workspace's environments, the configured
interpreter, $VIRTUAL_ENV, PATH) and the server it installed itself. A failure shows the runner's
report."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "vscode-client"


def test_extension_unit_tests_pass():
    if not (CLIENT / "node_modules" / ".bin" / "esbuild").exists():
        pytest.fail("esbuild missing: run `npm ci` in vscode-client/ (scripts/install-editors.sh does)")
    done = subprocess.run(
        [shutil.which("npm") or "npm", "test", "--silent"],
        cwd=CLIENT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "npm_config_update_notifier": "false"},
    )
    report = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, f"npm test failed (exit {done.returncode}):\n{report}"
    assert "# fail 0" in report and "# pass 0" not in report, report
