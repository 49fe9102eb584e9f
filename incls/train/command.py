"""`incls train`: the recipe behind the shipped model, on IMDB or the user's own data.

Runs unchanged on CPU, CUDA, or several GPUs (`torchrun --nproc-per-node N -m incls.cli train ...`).
`--no-vq` trains the baseline twin with the same recipe and seed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..model.base import load_tokenizer
from ..model.checkpoint import load_model, model_from_base, save_checkpoint
from ..model.config import ModelConfig
from .data import IMDB_LABELS, imdb_split, load_user_file, split_user_data
from .loop import TrainConfig, train

RECIPE_OPTIONS = ("steps", "batch_size", "max_tokens", "lr", "seed", "commitment", "stability")


def add_arguments(parser) -> None:
    defaults, model_defaults = TrainConfig(), ModelConfig()
    parser.add_argument("--data", help="CSV or JSONL with text,label (default: IMDB training split)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the safetensors checkpoint")
    parser.add_argument("--no-vq", action="store_true", help="train the non-VQ baseline twin")
    parser.add_argument("--layers", type=int, default=model_defaults.n_layers, help="keep the first N pretrained layers")
    parser.add_argument("--frozen-layers", type=int, default=model_defaults.frozen_layers, help="bottom layers kept pretrained")
    parser.add_argument("--adapt-frozen-attention", action="store_true",
                        help="train the attention projections of the frozen layers (their MLPs stay pretrained)")
    parser.add_argument("--window", type=int, default=model_defaults.window, help="W, clip of the relative distance")
    parser.add_argument("--local-layers", type=int, default=model_defaults.local_layers,
                        help="bottom layers that attend only to keys closer than W (sliding window)")
    parser.add_argument("--codebook-size", type=int, default=model_defaults.codebook_size, help="K, codes per layer and head")
    parser.add_argument("--limit", type=int, help="train on the first N examples only")
    for field in RECIPE_OPTIONS:
        value = getattr(defaults, field)
        parser.add_argument("--" + field.replace("_", "-"), type=type(value), default=value)
    parser.add_argument("--init-from", type=Path, help="start from a checkpoint's weights (e.g. the trained twin); codebooks are re-initialised")
    parser.add_argument("--float32", action="store_true", help="store float32 instead of float16 weights")


def run(args) -> int:
    if args.data:
        data, _ = split_user_data(load_user_file(Path(args.data)))
    else:
        data = imdb_split("train")
    data = data.take(args.limit)
    labels = data.label_names if args.data else IMDB_LABELS
    cfg = ModelConfig(base_layers=tuple(range(args.layers)), frozen_layers=min(args.frozen_layers, args.layers),
                      adapt_frozen_attention=args.adapt_frozen_attention, local_layers=min(args.local_layers, args.layers),
                      window=args.window, codebook_size=args.codebook_size, vq=not args.no_vq, labels=tuple(labels))
    recipe = TrainConfig(**{field: getattr(args, field) for field in RECIPE_OPTIONS})
    model = model_from_base(cfg)
    if args.init_from:
        start = load_model(args.init_from)
        shared = {n: t for n, t in start.state_dict().items() if ".codebooks." not in n}
        model.load_state_dict(shared, strict=False)
    summary = train(model, load_tokenizer(), data.texts, data.labels, recipe)
    import torch
    if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
        import dataclasses
        save_checkpoint(model, args.out, dtype=torch.float32 if args.float32 else torch.float16,
                        extra={"recipe": dataclasses.asdict(recipe), "summary": summary, "examples": len(data)})
        print(json.dumps({"out": str(args.out), **summary}), file=sys.stderr)
    return 0
