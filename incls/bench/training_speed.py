"""`incls bench --training`: tokens per second of a real training step, beside a plain
PyTorch reference of the same shape, measured side by side in one run.

The training step is `incls.train.loop.train_step` on a model of the chosen configuration
(default: the shipped model's), everything included: the forward with clipped RoPE and VQ,
the prefix-cut losses, the VQ loss, backward, gradient clipping and AdamW. The reference is
what an engineer would write for the same shape: Llama layers (RMSNorm, standard RoPE,
grouped-query attention through `scaled_dot_product_attention` with a dense mask of the
same window, SwiGLU), a mean-pooled linear head, cross-entropy, the same parameters
trained with AdamW. Steps alternate between the two on the same batches of full-length
documents, so a busy machine slows both alike; the medians are reported, and `ratio` is
train / reference tokens per second. Any estimate of a run's length is computed from it.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from incls.model.config import ModelConfig
from incls.model.rope import cos_sin, rotate
from incls.model.transformer import ATTENTION_PROJECTIONS, MLP, RMSNorm, VQTransformer
from incls.train.loop import TrainConfig, optimizer, train_step

WARMUP_STEPS = 2


@dataclass(frozen=True)
class Shape:
    """What both steps are measured on."""

    batch_size: int
    max_tokens: int
    layers: int
    trained_layers: int  # layers trained whole; below them, attention only (or nothing)
    frozen_attention_trained: bool
    window: int
    local_layers: int
    sink: bool  # the local layers also see key 0
    d_model: int
    heads: int
    kv_heads: int
    d_ff: int
    codebook_size: int
    pooling: str


class ReferenceLayer(nn.Module):
    """A plain Llama decoder layer: standard RoPE, windowed causal attention, SwiGLU."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, H, Hkv, hd = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.cfg = cfg
        self.input_layernorm = RMSNorm(d, cfg.rms_eps)
        self.q_proj = nn.Linear(d, H * hd, bias=False)
        self.k_proj = nn.Linear(d, Hkv * hd, bias=False)
        self.v_proj = nn.Linear(d, Hkv * hd, bias=False)
        self.o_proj = nn.Linear(H * hd, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d, cfg.rms_eps)
        self.mlp = MLP(d, cfg.d_ff)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, d), cos/sin (T, hd), mask (T, T) boolean -> (B, T, d)."""
        cfg = self.cfg
        h = self.input_layernorm(x)
        q = self.q_proj(h).unflatten(-1, (cfg.n_heads, cfg.head_dim)).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(h).unflatten(-1, (cfg.n_kv_heads, cfg.head_dim)).transpose(1, 2)  # (B, Hkv, T, hd)
        v = self.v_proj(h).unflatten(-1, (cfg.n_kv_heads, cfg.head_dim)).transpose(1, 2)  # (B, Hkv, T, hd)
        k = rotate(k, cos, sin).repeat_interleave(cfg.kv_group, dim=1)  # (B, H, T, hd)
        v = v.repeat_interleave(cfg.kv_group, dim=1)  # (B, H, T, hd)
        o = F.scaled_dot_product_attention(rotate(q, cos, sin), k, v, attn_mask=mask)  # (B, H, T, hd)
        x = x + self.o_proj(o.transpose(1, 2).flatten(-2))  # (B, T, d)
        return x + self.mlp(self.post_attention_layernorm(x))


class Reference(nn.Module):
    """Embedding, the layers, a final norm and a mean-pooled linear head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(ReferenceLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.rms_eps)
        self.classifier = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> document logits (B, C)."""
        cfg, T = self.cfg, ids.shape[1]
        cos, sin = cos_sin(torch.arange(T), cfg.head_dim, cfg.rope_theta)  # (T, hd)
        pos = torch.arange(T)
        distance = pos[:, None] - pos[None, :]  # (T, T)
        x = self.embed_tokens(ids)  # (B, T, d)
        for i, layer in enumerate(self.layers):
            local = i < cfg.local_layers
            mask = (distance >= 0) & ((distance < cfg.window) if local else True)  # (T, T)
            if local and cfg.sink:
                mask = mask | (pos == 0)[None, :]  # key 0 too
            x = layer(x, cos, sin, mask)
        return self.classifier(self.norm(x)).mean(1)  # (B, C)

    def trained(self, name: str) -> bool:
        """The same parameters as the incls model trains (`VQTransformer.is_trained`)."""
        if name.startswith("embed_tokens."):
            return False
        if name.startswith("layers."):
            if int(name.split(".")[1]) >= self.cfg.frozen_layers:
                return True
            return self.cfg.adapt_frozen_attention and name.split(".")[2] in ATTENTION_PROJECTIONS
        return True


def reference_optimizer(ref: Reference, lr: float) -> torch.optim.Optimizer:
    params = []
    for name, p in ref.named_parameters():
        p.requires_grad_(ref.trained(name))
        if p.requires_grad:
            params.append(p)
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def shape_of(cfg: ModelConfig, recipe: TrainConfig) -> Shape:
    return Shape(
        batch_size=recipe.batch_size,
        max_tokens=recipe.max_tokens,
        layers=cfg.n_layers,
        trained_layers=cfg.n_layers - cfg.frozen_layers,
        frozen_attention_trained=cfg.adapt_frozen_attention,
        window=cfg.window,
        local_layers=cfg.local_layers,
        sink=cfg.sink,
        d_model=cfg.d_model,
        heads=cfg.n_heads,
        kv_heads=cfg.n_kv_heads,
        d_ff=cfg.d_ff,
        codebook_size=cfg.codebook_size if cfg.vq else 0,
        pooling=cfg.pooling,
    )


def measure(model: VQTransformer, recipe: TrainConfig, steps: int, seed: int = 0) -> dict:
    """Alternate `steps` training steps of `model` (in place: pass a copy) with as many
    reference steps of the same shape; the JSON summary."""
    cfg = model.cfg
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    B, T = recipe.batch_size, recipe.max_tokens
    batches = [
        (torch.randint(0, cfg.vocab_size, (B, T), generator=gen), torch.randint(0, cfg.n_classes, (B,), generator=gen))
        for _ in range(4)
    ]
    lens = torch.full((B,), T)
    model.train()
    optim = optimizer(model, recipe)
    ref = Reference(cfg).train()
    ref_opt = reference_optimizer(ref, recipe.lr)

    def ours(ids, y) -> None:
        train_step(model, model, ids, lens, y, recipe, optim, gen)

    def theirs(ids, y) -> None:
        loss = F.cross_entropy(ref(ids), y)
        ref_opt.zero_grad(set_to_none=True)
        loss.backward()
        ref_opt.step()

    timings: dict[str, list[float]] = {"train": [], "reference": []}
    for step in range(WARMUP_STEPS + steps):
        ids, y = batches[step % len(batches)]
        for name, fn in (("train", ours), ("reference", theirs)):
            start = time.perf_counter()
            fn(ids, y)
            if step >= WARMUP_STEPS:
                timings[name].append(time.perf_counter() - start)
    train_s, ref_s = statistics.median(timings["train"]), statistics.median(timings["reference"])
    return {
        "train_tokens_per_s": round(B * T / train_s, 1),
        "reference_tokens_per_s": round(B * T / ref_s, 1),
        "ratio": round(ref_s / train_s, 3),
        "train_step_s": round(train_s, 3),
        "reference_step_s": round(ref_s, 3),
        "steps": steps,
        "threads": torch.get_num_threads(),
        "shape": asdict(shape_of(cfg, recipe)),
    }


def pass_hours(result: dict, tokens: float) -> float:
    """Hours one pass over `tokens` training tokens takes at the measured rate."""
    return tokens / result["train_tokens_per_s"] / 3600


def plot(result: dict, path: Path) -> None:
    """A bar of each step's tokens per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    names = ["incls train step", "plain PyTorch reference"]
    values = [result["train_tokens_per_s"], result["reference_tokens_per_s"]]
    ax.bar(names, values, color=["tab:blue", "tab:gray"])
    shape = result["shape"]
    ax.set_ylabel("tokens / s (median step)")
    ax.set_title(f"{shape['batch_size']} x {shape['max_tokens']}, {shape['layers']} layers: ratio {result['ratio']}")
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:,.0f}", ha="center", va="bottom")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args) -> int:
    from incls.model.checkpoint import load_model

    recipe = TrainConfig(batch_size=args.batch_size, max_tokens=args.max_tokens, steps=max(1, args.steps))
    model = load_model(args.model)
    torch.set_num_threads(args.threads)
    result = measure(model, recipe, args.steps, seed=args.seed)
    result["model"] = str(args.model or "shipped")
    result["pass_hours_per_million_tokens"] = round(pass_hours(result, 1e6), 3)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, args.out / "training.png")
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"training step: {result['train_tokens_per_s']:,.0f} tokens/s; plain PyTorch reference: "
            f"{result['reference_tokens_per_s']:,.0f} tokens/s; ratio {result['ratio']} "
            f"({args.batch_size} x {args.max_tokens}, median of {args.steps} steps each); "
            f"{math.ceil(result['pass_hours_per_million_tokens'] * 60)} min per million tokens"
        )
    return 0
