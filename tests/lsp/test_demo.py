"""The newcomer's main job: `incls demo` drives the real server and the typed passage flips the label."""

import subprocess
import sys

import pytest


@pytest.mark.trained
def test_demo_flips_the_label_through_the_real_server():
    result = subprocess.run(
        [sys.executable, "-m", "incls.cli", "demo", "--delay", "0.001"],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "before: Reads negative" in result.stdout
    assert "after: Reads positive" in result.stdout and "(label flipped)" in result.stdout
