"""VS Code (the real workbench, code-server 4.96.4 = VS Code 1.96) with the built .vsix installed,
driven in Debian's Chromium through playwright-core, against `incls --stdio`.

Needs scripts/install-editors.sh (code-server under .tools/, the .vsix, playwright-core).
Artifacts: test-artifacts/vscode-live.png (and vscode-live-failure.png when it fails).
"""
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from liveharness import (ARTIFACTS, kill_group, FIRST_LABEL, FLIPPED_LABEL, ROOT, TIMEOUT_S, check_outcome, require_tool,
                         run_driver, server_command)

TOOLS = Path(os.environ.get("INCLS_TOOLS", ROOT / ".tools"))
CODE_SERVER = TOOLS / "code-server" / "bin" / "code-server"
DRIVER_DIR = Path(__file__).parent / "vscode"
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.live


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def newest_vsix() -> Path:
    found = sorted((ROOT / "vscode-client").glob("*.vsix"), key=lambda p: p.stat().st_mtime)
    if not found:
        pytest.fail("no .vsix in vscode-client/: run scripts/install-editors.sh (npm ci && npm run package)")
    return found[-1]


def workbench_settings() -> dict:
    cmd = server_command()
    return {
        "incls.server.path": cmd[0],
        "incls.server.args": cmd[1:],
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "workbench.welcomePage.walkthroughs.openOnInstall": False,
        "security.workspace.trust.enabled": False,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "extensions.ignoreRecommendations": True,
        "editor.hover.delay": 200,
        "editor.minimap.enabled": False,
        "window.commandCenter": False,
        "chat.commandCenter.enabled": False,
        "git.enabled": False,
    }


@pytest.fixture
def code_server(workspace):
    """code-server with the extension installed, serving `workspace`; yields its URL."""
    exe = require_tool(str(CODE_SERVER))
    scratch = workspace.parent
    data, exts = scratch / "vscode-data", scratch / "vscode-extensions"
    (data / "User").mkdir(parents=True)
    exts.mkdir()
    (data / "User" / "settings.json").write_text(json.dumps(workbench_settings(), indent=2))
    common = ["--user-data-dir", str(data), "--extensions-dir", str(exts)]
    installed = subprocess.run([exe, *common, "--install-extension", str(newest_vsix())],
                               capture_output=True, text=True, timeout=180)
    assert installed.returncode == 0, f"installing the .vsix failed:\n{installed.stdout}\n{installed.stderr}"
    assert any(p.name.startswith("incls.incls-") for p in exts.iterdir()), installed.stdout

    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout.split()
    port = free_port()
    config = scratch / "code-server.yaml"
    config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    log = open(scratch / "code-server.log", "wb")
    proc = subprocess.Popen(
        [exe, "--config", str(config), "--auth", "none", "--bind-addr", f"127.0.0.1:{port}",
         "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
         "--disable-getting-started-override", *common, str(workspace)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"code-server did not start:\n{(scratch / 'code-server.log').read_text()[-3000:]}")
                time.sleep(0.1)
        # e.g. "code-server 4.96.4 (VS Code 1.96.4)"
        label = f"code-server {version[0]} (VS Code {version[-1]})" if len(version) >= 4 else " ".join(version)
        yield f"http://127.0.0.1:{port}/?folder={workspace}", label
    finally:
        kill_group(proc)
        log.close()


def test_vscode(workspace, code_server, latency):
    url, version = code_server
    chromium = require_tool(CHROMIUM)
    node = require_tool("node")
    if not (DRIVER_DIR / "node_modules" / "playwright-core").exists():
        pytest.fail("playwright-core missing in tests/live/vscode: run scripts/install-editors.sh")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "vscode-live.png"
    for old in (shot, ARTIFACTS / "vscode-live-failure.png"):
        old.unlink(missing_ok=True)
    result = run_driver("vscode", [node, str(DRIVER_DIR / "drive.mjs")], workspace, extra={
        "url": url, "chromium": chromium, "file": "review.txt", "screenshot": str(shot)},
        timeout_s=4 * TIMEOUT_S + 60)
    result["version"] = version
    check_outcome(result, "vscode", latency)
    bar = result.get("statusbar") or {}
    assert FIRST_LABEL in (bar.get("first") or "") and "%" in bar["first"], f"status bar: {bar!r}"
    assert FLIPPED_LABEL in (bar.get("flipped") or ""), f"status bar after the edit: {bar!r}"
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot"
