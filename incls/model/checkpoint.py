"""Trained weights as safetensors: the shipped default, training checkpoints, and loading.

A checkpoint holds only what training changed (the top layers, final norm, codebooks and
the classifier) in float16 or float32, with the model config in the safetensors metadata;
or with the layers' weight matrices in 8 bits (`quantized`), which halves a trained layer
(7.1 MB in float16) so that a deeper trunk fits the shipped weights' budget.
The token embedding and the frozen bottom layers are never stored: they are the base
model's, read from its converted cache. Loading never unpickles.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from .base import load_base_state
from .config import ModelConfig
from .errors import ModelError
from .transformer import VQTransformer

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "sentiment-vq.safetensors"
DEFAULT_TWIN = WEIGHTS_DIR / "sentiment-twin.safetensors"
RETRAIN_FIX = "reinstall incls, or retrain with `incls train --out PATH` and pass --model PATH"
NGRAM_TENSORS = ("ngram_lexicon.",)
ROW_SCALE = ":row_scale"  # suffix of the per-row scales of a matrix stored in 8 bits
SMALLEST_SCALE = 2.0**-14  # float16's smallest normal number: a row of zeros keeps a usable scale


def ngram_table_path(path: Path) -> Path:
    """Where the n-gram table of the checkpoint at `path` is kept: NAME.ngrams.safetensors."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".safetensors") + ".ngrams.safetensors")


def _write(tensors: dict, path: Path, metadata: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_suffix(path.suffix + ".part")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def quantized(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors to store in 8 bits: each layer's weight matrix (rows, cols) as int8 with a
    float16 scale per row (its largest |weight| / 127, under NAME:row_scale), every weight
    within half a step of its value; everything else (norms, codebooks, the head, the
    lexicons) in float16."""
    out = {}
    for name, t in state.items():
        if name.startswith("layers.") and t.dim() == 2:
            scale = (t.float().abs().amax(1) / 127).clamp(min=SMALLEST_SCALE).half()  # (rows,)
            out[name] = (t.float() / scale.float()[:, None]).round().clamp(-127, 127).to(torch.int8)
            out[name + ROW_SCALE] = scale
        else:
            out[name] = t.half()
    return out


def dequantized(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint with each 8-bit matrix back in float32 (int8 times its
    row scales); a checkpoint without 8-bit matrices is returned as it is."""
    scales = {n.removesuffix(ROW_SCALE): t for n, t in tensors.items() if n.endswith(ROW_SCALE)}
    if not scales:
        return tensors
    for name, scale in scales.items():
        matrix = tensors.get(name)
        if matrix is None or matrix.dim() != 2 or tuple(scale.shape) != (matrix.shape[0],):
            raise ValueError(f"{name}{ROW_SCALE} does not scale the rows of a matrix {name}")
    return {
        n: t.float() * scales[n].float()[:, None] if n in scales else t
        for n, t in tensors.items()
        if not n.endswith(ROW_SCALE)
    }


def save_checkpoint(model: VQTransformer, path: Path, dtype=torch.float16, extra: dict | None = None) -> None:
    """Write the trainable tensors of `model` and its config to `path` (safetensors), its
    n-gram table, if it has one, beside it (`ngram_table_path`). `dtype` torch.int8 stores
    the layers' weight matrices in 8 bits and the rest in float16 (`quantized`)."""
    state = {n: t.detach().contiguous() for n, t in model.state_dict().items() if model.is_trained(n)}
    state = quantized(state) if dtype == torch.int8 else {n: t.to(dtype) for n, t in state.items()}
    table = {n: state.pop(n) for n in list(state) if n.startswith(NGRAM_TENSORS)}
    metadata = {"config": model.cfg.to_json(), "format": "incls-1"}
    for key, value in (extra or {}).items():
        metadata[key] = json.dumps(value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    beside = ngram_table_path(path)
    if table:
        _write(table, beside, {"format": "incls-1", "of": path.name})
    else:
        beside.unlink(missing_ok=True)  # a stale table of an earlier checkpoint of that name
    _write(state, path, metadata)


def _read(path: Path) -> tuple[dict, dict]:
    """(tensors, metadata) of one safetensors file, or a ModelError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"model weights are corrupt or not safetensors ({exc})", path, fix=RETRAIN_FIX) from exc


def read_checkpoint(path: Path) -> tuple[ModelConfig, dict, dict]:
    """(config, tensors with the n-gram table's, metadata) of a checkpoint, or a ModelError
    naming the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("model weights not found", path, fix=RETRAIN_FIX)
    tensors, metadata = _read(path)
    try:
        tensors = dequantized(tensors)
    except ValueError as exc:
        raise ModelError(f"model weights are corrupt ({exc})", path, fix=RETRAIN_FIX) from exc
    beside = ngram_table_path(path)
    if beside.is_file():
        tensors.update(_read(beside)[0])
    if "config" not in metadata:
        raise ModelError("model weights carry no incls config (not an incls checkpoint)", path, fix=RETRAIN_FIX)
    try:
        cfg = ModelConfig.from_json(metadata["config"])
        cfg.validate()
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"model config in the weights is invalid ({exc})", path, fix=RETRAIN_FIX) from exc
    if cfg.ngram_rows and not any(n.startswith(NGRAM_TENSORS) for n in tensors):
        raise ModelError(
            f"the model's n-gram table {beside.name} is missing",
            path,
            fix=f"keep {beside.name} beside {path.name} (both are written by `incls train --out`), or {RETRAIN_FIX}",
        )
    return cfg, tensors, metadata


def load_model(path: Path | None = None, log=lambda msg: print(msg, file=sys.stderr)) -> VQTransformer:
    """Build the model of a checkpoint on the base embedding; eval mode, float32, CPU.

    Nothing is allocated for a checkpoint that cannot serve: its config is validated, its
    shapes are laid out on the meta device (no memory) and checked against its tensors and
    the base's, and a model over MAX_PARAMETERS is refused, before the model is built."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    cfg, tensors, _ = read_checkpoint(path)
    shapes = _shapes(cfg, path)
    base = {n: t for n, t in load_base_state(cfg.base_layers, log).items() if n in shapes}
    _check_shapes(shapes, base | tensors, set(tensors) - set(shapes), path)
    model = VQTransformer(cfg)
    state = base | {n: t.float() for n, t in tensors.items()}
    model.load_state_dict(state)
    return model.eval()


MAX_PARAMETERS = 1 << 28  # 1 GiB of float32: five times the shipped model with its n-gram table


def _shapes(cfg: ModelConfig, path: Path) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of the model of `cfg`, laid out on the meta device (nothing
    allocated), or a ModelError when that model cannot be built or is over MAX_PARAMETERS."""
    try:
        with torch.device("meta"):
            shaped = VQTransformer(cfg)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ModelError(
            f"no model can be built from the config in the weights ({exc})", path, fix=RETRAIN_FIX
        ) from exc
    shapes = {n: tuple(t.shape) for n, t in shaped.state_dict().items()}
    size = sum(math.prod(shape) for shape in shapes.values())
    if size > MAX_PARAMETERS:
        raise ModelError(
            f"the config in the weights asks for {size:,} parameters, over {MAX_PARAMETERS:,}",
            path,
            fix=RETRAIN_FIX,
        )
    return shapes


def _check_shapes(shapes: dict[str, tuple[int, ...]], state: dict, unexpected: set[str], path: Path) -> None:
    """A ModelError naming the tensors that are missing, unexpected or of the wrong shape."""
    missing = sorted(set(shapes) - set(state))
    wrong = sorted(n for n in shapes.keys() & state.keys() if shapes[n] != tuple(state[n].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {names[:3]}"
            for label, names in (("missing", missing), ("unexpected", sorted(unexpected)), ("wrong shape", wrong))
            if names
        )
        raise ModelError(f"model weights do not match their config ({detail})", path, fix=RETRAIN_FIX)


def model_from_base(cfg: ModelConfig, log=lambda msg: print(msg, file=sys.stderr)) -> VQTransformer:
    """A fresh model whose layers are the pretrained ones (codebooks and classifier new)."""
    model = VQTransformer(cfg)
    missing, unexpected = model.load_state_dict(load_base_state(cfg.base_layers, log), strict=False)
    assert not unexpected, unexpected
    return model
