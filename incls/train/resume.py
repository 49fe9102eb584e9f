"""Periodic training checkpoints, so that a run can outlast one sitting.

A run on a 2-core CPU takes hours; a checkpoint lets it stop (Ctrl-C, SIGTERM or
`--stop-after` at the step under way, a crash at the last periodic checkpoint) and continue
with `--resume` to exactly the weights an uninterrupted run reaches. Checkpoints are written
every `every` steps and every `minutes` minutes, whichever comes first. Everything the next step
depends on is saved, and nothing is pickled:

    step-00000150.safetensors   trained weights, codebook usage counts, the optimizer's
                                moments, the torch RNG states (as byte tensors)
    step-00000150.json          step, losses and tokens so far, the remaining batch order,
                                the Python RNG state, the schedule, and what the run was
                                (model config, recipe, a key of the data and of the frozen
                                weights)
    progress.jsonl              a line per logged step: tokens seen, tokens/s, loss, ETA

The JSON is written last, so its presence marks a complete checkpoint. The two latest
are kept. Resuming with another model, recipe or data is refused with the file at fault
and the command that wrote it.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from ..model.errors import ModelError

FORMAT = "incls-train-state-1"
KEEP = 2


class CheckpointError(ModelError):
    """A training checkpoint that cannot be resumed; names the file and the fix."""


@dataclass(frozen=True)
class Checkpoints:
    """Where a run saves its state, how often, whether it resumes, and when this sitting ends.

    `command` is the command line that started the run: a refused resume shows it.
    """

    folder: Path
    every: int = 50
    minutes: float | None = None  # also checkpoint when this long has passed since the last one
    resume: bool = False
    stop_after: int | None = None
    command: str = ""


@dataclass
class Progress:
    """The loop's own position: what a resumed run continues from."""

    step: int
    batches: list[list[int]]
    losses: list[float]
    seconds: float
    tokens: int = 0  # real (unpadded) tokens trained on so far


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnInterrupt:
    """Ctrl-C or SIGTERM (a shutdown, `kill`) in a checkpointed run ends it after the current
    step, with a checkpoint, so nothing since the last periodic one is lost; a second signal
    stops at once. A signal between two steps is the only safe moment: mid-step, the
    optimizer may be half applied. Inactive (the signals act as usual) for a run without
    checkpoints: nothing to stop into."""

    def __init__(self, log, active: bool = True) -> None:
        self.log = log
        self.active = active
        self.requested = False
        self.previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        name = signal.Signals(signum).name
        self.log(f"\ninterrupted ({name}): stopping after this step, with a checkpoint (again to stop at once)")

    def __enter__(self) -> StopOnInterrupt:
        if self.active and threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def data_key(docs: list[list[int]], labels: list[int]) -> str:
    """Names the training data by its exact token ids and labels (so tokenizer and
    --max-tokens count too)."""
    h = hashlib.sha256()
    for doc, label in zip(docs, labels):
        h.update(len(doc).to_bytes(4, "little") + label.to_bytes(2, "little"))
        h.update(torch.tensor(doc, dtype=torch.int32).numpy().tobytes())
    return h.hexdigest()[:16]


def frozen_key(model) -> str:
    """Names the weights a checkpoint does not store (embedding, frozen layers) by their bytes."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if not model.is_trained(name):
            h.update(name.encode())
            h.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def identity(model, recipe: dict, docs: list[list[int]], labels: list[int]) -> dict:
    """What must be equal for a checkpoint to continue this run."""
    return {
        "model_config": json.loads(model.cfg.to_json()),
        "recipe": recipe,
        "data": {"examples": len(docs), "key": data_key(docs, labels)},
        "frozen_weights": frozen_key(model),
    }


def _stem(folder: Path, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}"


def latest(folder: Path) -> Path | None:
    """The JSON of the newest complete checkpoint in `folder`, or None."""
    done = [p for p in Path(folder).glob("step-*.json") if p.with_suffix(".safetensors").is_file()]
    return max(done, default=None, key=lambda p: p.stem)


def _buffers(model) -> dict[str, torch.Tensor]:
    """Trained state that `state_dict` leaves out (the codebooks' usage counts)."""
    persistent = set(model.state_dict())
    return {n: b for n, b in model.named_buffers() if n not in persistent}


def save(
    folder: Path,
    model,
    opt,
    sched,
    rng: random.Random,
    gen: torch.Generator,
    progress: Progress,
    run: dict,
    command: str,
) -> Path:
    """Write the checkpoint of `progress.step` and drop all but the KEEP newest."""
    from safetensors.torch import save_file

    stem = _stem(folder, progress.step)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"model." + n: t.detach().cpu() for n, t in model.state_dict().items() if model.is_trained(n)}
    tensors.update({"buffer." + n: b.detach().cpu() for n, b in _buffers(model).items()})
    optim = opt.state_dict()
    for index, values in optim["state"].items():
        tensors.update({f"optim.{index}.{k}": v.detach().cpu() for k, v in values.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.generator"] = gen.get_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    part = stem.with_suffix(".safetensors.part")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(part))
    part.replace(stem.with_suffix(".safetensors"))
    state = {
        "format": FORMAT,
        "command": command,
        "run": run,
        "step": progress.step,
        "seconds": progress.seconds,
        "losses": progress.losses,
        "tokens": progress.tokens,
        "batches": progress.batches,
        "python_rng": _jsonable(rng.getstate()),
        "param_groups": optim["param_groups"],
        "scheduler": sched.state_dict(),
    }
    part = stem.with_suffix(".json.part")
    part.write_text(json.dumps(state), encoding="utf-8")
    part.replace(stem.with_suffix(".json"))
    for old in sorted(Path(folder).glob("step-*.json"), key=lambda p: p.stem)[:-KEEP]:
        old.with_suffix(".safetensors").unlink(missing_ok=True)
        old.unlink()
    return stem.with_suffix(".json")


def _jsonable(value):
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def _tupled(value):
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def _differences(expected: dict, found: dict, prefix: str = "") -> list[str]:
    """'key: this run X, checkpoint Y' for each leaf that differs."""
    out = []
    for key in sorted(set(expected) | set(found)):
        a, b = expected.get(key), found.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: this run {json.dumps(a)}, checkpoint {json.dumps(b)}")
    return out


def _load_trained(model, tensors: dict[str, torch.Tensor]) -> None:
    """The trained weights and the codebooks' usage of a checkpoint's tensors, into `model`."""
    trained = {n[len("model.") :]: t for n, t in tensors.items() if n.startswith("model.")}
    model.load_state_dict(trained, strict=False)
    for name, buffer in _buffers(model).items():
        buffer.copy_(tensors["buffer." + name])


def newest_weights(folder: Path, build) -> tuple[Any, int]:
    """(the model of the newest checkpoint in `folder`, its step): `build(config_json)`
    makes the model of the run's config, and its trained weights are loaded; for trying a
    run's model while it trains (`incls train --export`)."""
    from safetensors.torch import load_file

    path = latest(Path(folder)) if Path(folder).is_dir() else None
    if path is None:
        raise CheckpointError(
            "no training checkpoint (step-*.json with its .safetensors) in",
            folder,
            fix="pass the run folder of a `incls train --recipe layers` run",
        )
    state = json.loads(path.read_text(encoding="utf-8"))
    model = build(json.dumps(state["run"]["model_config"]))
    _load_trained(model, load_file(str(path.with_suffix(".safetensors"))))
    return model.eval(), state["step"]


def restore(
    folder: Path, model, opt, sched, rng: random.Random, gen: torch.Generator, run: dict, recipe_defaults: dict
) -> Progress:
    """Load the newest checkpoint of `folder` into the model, optimizer, schedule and RNGs.

    A recipe option that the checkpoint does not record is one added to incls after it was
    written: that run trained with its default (`recipe_defaults`), so it still resumes."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    path = latest(folder) if folder.is_dir() else None
    if path is None:
        raise CheckpointError(
            "no training checkpoint (step-*.json with its .safetensors) in",
            folder,
            fix="pass the --checkpoint-dir of an earlier run to --resume, or drop --resume to start afresh",
        )
    retry = f"delete {path.stem}.json and {path.stem}.safetensors to resume from the checkpoint before it"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        tensors = load_file(str(path.with_suffix(".safetensors")))
    except (OSError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"training checkpoint is unreadable ({exc})", path, fix=retry) from exc
    if state.get("format") != FORMAT:
        raise CheckpointError(
            f"not an incls training checkpoint (format {state.get('format')!r})",
            path,
            fix="pass a folder written by `incls train --checkpoint-dir`",
        )
    written = state["run"]
    written = {**written, "recipe": {**recipe_defaults, **written.get("recipe", {})}}
    differences = _differences(run, written)
    if differences:
        wrote = f" (it was written by: {state['command']})" if state.get("command") else ""
        raise CheckpointError(
            "training checkpoint was written by another run; " + "; ".join(differences),
            path,
            fix=f"resume with the options and data of the run that wrote it{wrote}, "
            "or pass another --checkpoint-dir to start afresh",
        )
    device = next(model.parameters()).device
    _load_trained(model, tensors)
    optim_state: dict[int, dict] = {}
    for name, t in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            optim_state.setdefault(int(index), {})[key] = t.to(device) if key != "step" else t
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in state["param_groups"]]
    opt.load_state_dict({"state": optim_state, "param_groups": groups})
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    gen.set_state(tensors["rng.generator"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    rng.setstate(_tupled(state["python_rng"]))
    return Progress(state["step"], state["batches"], state["losses"], state["seconds"], state.get("tokens", 0))


def log_progress(folder: Path, entry: dict) -> None:
    """Append one JSON line to the run's progress log (`progress.jsonl`)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "progress.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
