"""VS Code (the real workbench, code-server 4.96.4 = VS Code 1.96) with the built .vsix installed,
driven in Debian's Chromium through playwright-core, against `incls --stdio`.

Needs scripts/install-editors.sh (code-server under .tools/, the .vsix, playwright-core).
Artifacts: test-artifacts/vscode-live.png (and vscode-live-failure.png when it fails);
test-artifacts/vscode-install.png from the test where the extension installs its own server.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from liveharness import (
    ARTIFACTS,
    FIRST_LABEL,
    FLIPPED_LABEL,
    INFORMATION,
    LETTER,
    LETTER_FILE,
    ROOT,
    TIMEOUT_S,
    check_letter_hints,
    check_outcome,
    kill_group,
    parse_message,
    require_tool,
    run_driver,
    server_command,
)

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


def workbench_settings(server: bool = True) -> dict:
    """The profile's settings; server=False leaves the extension to find (or install) the server itself."""
    cmd = server_command() if server else None
    return {
        **({"incls.server.path": cmd[0], "incls.server.args": cmd[1:]} if cmd else {}),
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


@contextmanager
def workbench(workspace: Path, settings: dict, env: dict | None = None):
    """code-server with the extension installed in a new profile, serving `workspace`.

    Yields (url, version label, the profile's data directory)."""
    exe = require_tool(str(CODE_SERVER))
    scratch = workspace.parent
    data, exts = scratch / "vscode-data", scratch / "vscode-extensions"
    (data / "User").mkdir(parents=True)
    exts.mkdir()
    (data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    common = ["--user-data-dir", str(data), "--extensions-dir", str(exts)]
    installed = subprocess.run(
        [exe, *common, "--install-extension", str(newest_vsix())], capture_output=True, text=True, timeout=180
    )
    assert installed.returncode == 0, f"installing the .vsix failed:\n{installed.stdout}\n{installed.stderr}"
    assert any(p.name.startswith("incls.incls-") for p in exts.iterdir()), installed.stdout

    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout.split()
    port = free_port()
    config = scratch / "code-server.yaml"
    config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    with open(scratch / "code-server.log", "wb") as log:
        proc = subprocess.Popen(
            [
                exe,
                "--config",
                str(config),
                "--auth",
                "none",
                "--bind-addr",
                f"127.0.0.1:{port}",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
                *common,
                str(workspace),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
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
            yield f"http://127.0.0.1:{port}/?folder={workspace}", label, data
        finally:
            kill_group(proc)


@pytest.fixture
def code_server(workspace):
    """code-server with the extension installed, pointed at this venv's server; yields (url, version)."""
    with workbench(workspace, workbench_settings()) as (url, label, _):
        yield url, label


def driver_tools() -> tuple[str, str]:
    chromium = require_tool(CHROMIUM)
    node = require_tool("node")
    if not (DRIVER_DIR / "node_modules" / "playwright-core").exists():
        pytest.fail("playwright-core missing in tests/live/vscode: run scripts/install-editors.sh")
    return chromium, node


def test_vscode(workspace, code_server, latency):
    url, version = code_server
    chromium, node = driver_tools()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "vscode-live.png"
    for old in (shot, ARTIFACTS / "vscode-live-failure.png"):
        old.unlink(missing_ok=True)
    result = run_driver(
        "vscode",
        [node, str(DRIVER_DIR / "drive.mjs")],
        workspace,
        extra={"url": url, "chromium": chromium, "file": "review.txt", "screenshot": str(shot)},
        timeout_s=4 * TIMEOUT_S + 60,
    )
    result["version"] = version
    check_outcome(result, "vscode", latency)
    bar = result.get("statusbar") or {}
    assert FIRST_LABEL in (bar.get("first") or "") and "%" in bar["first"], f"status bar: {bar!r}"
    assert FLIPPED_LABEL in (bar.get("flipped") or ""), f"status bar after the edit: {bar!r}"
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot"


def test_vscode_letter_hints_land_on_the_complaint(workspace):
    """The complaint letter in the workbench: the hints' squiggles (severity Hint: three dots at
    each start) start the complaint's sentences, none on the greeting, sign-off or signature; at
    incls.sentenceSeverity "information" the same sentences are listed in the Problems panel and
    underlined in full, and the first line's hover names them as the evidence. The screenshot (hints
    underlined and listed, the hover over one of them) is test-artifacts/vscode-letter.png, the
    README's docs/vscode.png."""
    chromium, node = driver_tools()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "vscode-letter.png"
    for old in (shot, ARTIFACTS / "vscode-letter-failure.png"):
        old.unlink(missing_ok=True)
    with workbench(workspace, workbench_settings()) as (url, _, _):
        result = run_driver(
            "vscode-letter",
            [node, str(DRIVER_DIR / "drive.mjs")],
            workspace,
            extra={"url": url, "chromium": chromium, "file": LETTER_FILE, "mode": "hints", "screenshot": str(shot)},
            timeout_s=3 * TIMEOUT_S + 60,
        )
    hints = check_letter_hints(result, "vscode", result.get("decorations"))
    # at information severity: the same sentences, each listed with its message and underlined in full
    ends = {(d["line"], d["character"]): d["end_character"] for d in result.get("underlined") or []}
    listed = [
        {
            **row,
            "severity": INFORMATION,
            "end_line": row["line"],
            "end_character": ends.get((row["line"], row["character"])),
        }
        for row in result.get("listed") or []
    ]
    shown = check_letter_hints(result, "vscode (information)", listed, severity=INFORMATION)
    assert all(d["end_character"] is not None for d in shown), f"a listed sentence is not underlined: {listed}"
    assert {(d["line"], d["character"]) for d in shown} == {(d["line"], d["character"]) for d in hints}
    hover = result.get("document_hover") or ""  # the first line: the document's evidence
    pointed = [LETTER.split("\n")[d["line"]][d["character"] :] for d in hints]
    assert "Evidence" in hover and all(text[:20] in hover for text in pointed), f"hover: {hover!r}"
    hover = result.get("hover") or ""  # a sentence underlined: its own reading and share
    assert "This sentence reads" in hover and "share of the evidence for negative" in hover, f"hover: {hover!r}"
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot"


INSTALL_BUTTON = "Install the incls server"
INSTALL_TIMEOUT_S = float(os.environ.get("INCLS_LIVE_INSTALL_TIMEOUT", "1200"))


def without_incls(path: str) -> str:
    """PATH without the directories that hold an `incls` executable (this test's venv among them)."""
    return os.pathsep.join(d for d in path.split(os.pathsep) if d and not (Path(d) / "incls").exists())


def test_vscode_installs_its_own_server(workspace, latency):
    """A clean profile, no incls on PATH, an empty cache: the extension offers to install its server,
    the test accepts, the wheel inside the .vsix is installed and set up, and the first diagnostic shows."""
    chromium, node = driver_tools()
    scratch = workspace.parent
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = without_incls(env.get("PATH", ""))
    env["INCLS_CACHE"] = str(scratch / "incls-cache")
    assert shutil.which("incls", path=env["PATH"]) is None
    settings = workbench_settings(server=False)
    base_python = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    if not shutil.which("python3", path=env["PATH"]):
        settings["incls.server.python"] = str(base_python)  # the interpreter, not an environment with incls
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "vscode-install.png"
    for old in (shot, ARTIFACTS / "vscode-install-failure.png"):
        old.unlink(missing_ok=True)
    with workbench(workspace, settings, env) as (url, version, data):
        result = run_driver(
            "vscode-install",
            [node, str(DRIVER_DIR / "drive.mjs")],
            workspace,
            extra={
                "url": url,
                "chromium": chromium,
                "file": "review.txt",
                "screenshot": str(shot),
                "install": INSTALL_BUTTON,
                "install_timeout_ms": int(INSTALL_TIMEOUT_S * 1000),
            },
            timeout_s=INSTALL_TIMEOUT_S + 2 * TIMEOUT_S,
        )
    first = result.get("first") or {}
    latency.add(
        "vscode-install",
        prompt_ms=result.get("prompt_ms"),
        install_to_first_diagnostic_ms=result.get("install_ms"),
        first_diagnostic_ms=first.get("ms"),
        editor_version=version,
    )
    assert result.get("prompt_ms") is not None, f"no offer to install the server: {result.get('error')}"
    assert first.get("message"), f"no diagnostic after the install: {result.get('error')}\n{result.get('progress')}"
    assert parse_message(first["message"]) and parse_message(first["message"])[0] == FIRST_LABEL, first
    assert any("installing the server" in text for text in result.get("progress") or []), result.get("progress")
    stamp = data / "User" / "globalStorage" / "incls.incls" / "server" / "incls-install.json"
    assert stamp.is_file(), f"no installed server in {stamp.parent.parent}"
    assert json.loads(stamp.read_text())["wheel"].startswith("incls-")
    assert not [p for p in stamp.parent.parent.iterdir() if p.name != "server"], "leftovers next to the server"
    assert (Path(env["INCLS_CACHE"]) / "native").is_dir(), "incls setup built the kernels into the empty cache"
