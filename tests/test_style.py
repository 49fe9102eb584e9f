"""The project's habits, checked like everything else: ruff (lint and format) and mypy over the
Python sources as pyproject.toml configures them, ESLint over the VS Code extension
(vscode-client/eslint.config.mjs). A failure shows the tool's own output."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "vscode-client"


def run(command: list[str], cwd: Path = ROOT) -> None:
    done = subprocess.run(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "npm_config_update_notifier": "false"},
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, f"`{' '.join(command)}` failed (exit {done.returncode}):\n{output}"


def python_tool(module: str) -> list[str]:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: pip install -e '.[test]'")
    return [sys.executable, "-m", module]


def test_ruff_lint():
    run([*python_tool("ruff"), "check", "."])


def test_ruff_format():
    run([*python_tool("ruff"), "format", "--check", "."])


def test_mypy():
    run(python_tool("mypy"))


def test_eslint():
    if not (CLIENT / "node_modules" / ".bin" / "eslint").exists():
        pytest.fail("eslint missing: run `npm ci` in vscode-client/ (scripts/install-editors.sh does)")
    run([shutil.which("npm") or "npm", "run", "--silent", "lint"], cwd=CLIENT)
