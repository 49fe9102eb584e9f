"""Float64 copies of the model's weights, laid out for the engine's small matmuls.

Why float64: a session updated by edits and a fresh session on the same tokens must pick
the *same* code at every position and head. Codes are argmins, so a near-tie between two
codes could flip under float32 rounding differences (a matmul over 1 row and one over 300
rows do not round alike). In float64 the two computations differ by ~1e-16 relative, and
a flip needs a tie that close; the engine also picks every code from the attention output
rounded to float32 (`canonical_output`), which absorbs most of even that.

The token embedding stays float32 (rows are cast when used), so the copy costs about
twice the transformer layers' size, once per model.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import torch

from incls.model.rope import cos_sin, inverse_frequencies

DT = torch.float64


@dataclass
class LayerWeights:
    ln1: torch.Tensor          # (d,)
    w_qkv: torch.Tensor        # (d, (H + 2 Hkv) hd): x @ w_qkv = [q | k | v]
    codes: torch.Tensor        # (H, K, hd)
    codes_sq: torch.Tensor     # (H, K) squared norms of the codes
    table: torch.Tensor        # (H, K, d): output projection of every code
    ln2: torch.Tensor          # (d,)
    w_gate_up: torch.Tensor    # (d, 2 dff)
    w_down: torch.Tensor       # (dff, d)


@dataclass
class EngineWeights:
    """Everything the engine reads from a model, in float64, plus shape constants."""

    layers: list[LayerWeights]
    embed: torch.Tensor        # (V, d) float32, the model's own tensor
    norm: torch.Tensor         # (d,)
    cls_w: torch.Tensor        # (d, C)
    cls_b: torch.Tensor        # (C,)
    eps: float
    d: int
    H: int
    Hkv: int
    hd: int
    K: int
    dff: int
    C: int
    W: int
    vocab: int
    scale: float
    theta: float
    inv_freq: torch.Tensor     # (hd / 2,) float64 RoPE frequencies
    rot_cos: torch.Tensor      # (W + 1, hd): rotation by (t - W), t = clipped distance 0..W
    rot_sin: torch.Tensor      # (W + 1, hd)
    win_cos: torch.Tensor      # (hd,): rotation by W (applied once to every stored query)
    win_sin: torch.Tensor      # (hd,)

    @property
    def group(self) -> int:
        return self.H // self.Hkv

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def nbytes(self) -> int:
        total = 0
        for lw in self.layers:
            total += sum(t.numel() * t.element_size() for t in vars(lw).values())
        return total


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@torch.no_grad()
def engine_weights(model, refresh: bool = False) -> EngineWeights:
    """The float64 weights of `model`, built once per model object (pass refresh=True after changing it)."""
    if not refresh and model in _CACHE:
        return _CACHE[model]
    cfg = model.cfg
    if not cfg.vq:
        raise ValueError("the incremental engine needs a VQ model (cfg.vq is False)")
    layers = []
    for block in model.layers:
        codes = block.codebooks.codes.detach().to(DT)                          # (H, K, hd)
        w_o = block.o_proj.weight.detach().to(DT).view(cfg.d_model, cfg.n_heads, cfg.head_dim)  # (d, H, hd)
        layers.append(LayerWeights(
            ln1=block.input_layernorm.weight.detach().to(DT),
            w_qkv=torch.cat([block.q_proj.weight, block.k_proj.weight, block.v_proj.weight]).detach().to(DT).T.contiguous(),
            codes=codes,
            codes_sq=codes.pow(2).sum(-1),
            table=torch.einsum("hkc,dhc->hkd", codes, w_o).contiguous(),
            ln2=block.post_attention_layernorm.weight.detach().to(DT),
            w_gate_up=torch.cat([block.mlp.gate_proj.weight, block.mlp.up_proj.weight]).detach().to(DT).T.contiguous(),
            w_down=block.mlp.down_proj.weight.detach().to(DT).T.contiguous(),
        ))
    W, hd = cfg.window, cfg.head_dim
    rot_cos, rot_sin = cos_sin(torch.arange(W + 1) - W, hd, cfg.rope_theta, DT)   # (W + 1, hd)
    win_cos, win_sin = cos_sin(torch.tensor(W), hd, cfg.rope_theta, DT)          # (hd,)
    weights = EngineWeights(
        layers=layers, embed=model.embed_tokens.weight.detach(),
        norm=model.norm.weight.detach().to(DT),
        cls_w=model.classifier.weight.detach().to(DT).T.contiguous(),
        cls_b=model.classifier.bias.detach().to(DT),
        eps=cfg.rms_eps, d=cfg.d_model, H=cfg.n_heads, Hkv=cfg.n_kv_heads, hd=hd,
        K=cfg.codebook_size, dff=cfg.d_ff, C=cfg.n_classes, W=W, vocab=cfg.vocab_size,
        scale=1.0 / math.sqrt(hd), theta=cfg.rope_theta, inv_freq=inverse_frequencies(hd, cfg.rope_theta), rot_cos=rot_cos, rot_sin=rot_sin, win_cos=win_cos, win_sin=win_sin,
    )
    _CACHE[model] = weights
    return weights
