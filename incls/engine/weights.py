"""The model's weights laid out for the engine's small matmuls, in two precisions.

An updated session and a fresh session on the same tokens must pick the *same* code at
every position and head, and codes are argmins, so every number a code depends on must
come out the same whichever batch of rows computed it.

- Position-wise math (norms, q/k/v projection, table sum, MLP) runs in float32 in the
  native kernels (`kernels.c`), which compute every number in an order fixed by the
  shapes alone: each row's result is bitwise independent of the batch it came in and of
  the thread count (tests/engine/test_batch_invariance.py checks it). So the residual
  stream, q, k and v of a position are exactly those of a fresh run.
- A local layer's window attention and code search run in the native kernels too, one
  row at a time in float64, so a recomputed row equals a fresh one bit for bit.
- In a layer attending beyond W, attention (scores, softmax accumulators, code distances)
  runs in float64 in tensor code (`attention`): accumulators are corrected term by term
  after edits, which cannot be bitwise equal to a fresh sum, but they differ by ~1e-16
  relative, and the head output is rounded to float32 (`canonical_output`) before its
  code is chosen, which absorbs that.

The token embedding is the model's own float32 tensor; it is also layer 0's residual input,
so no cache keeps a copy of it.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import torch

from incls.model.rope import cos_sin, inverse_frequencies

DT = torch.float64  # attention and code distances
PW = torch.float32  # position-wise math and the residual stream
CODE = torch.int16  # stored codes
CODE_LIMIT = torch.iinfo(CODE).max  # codes per head that CODE can hold (0..CODE_LIMIT - 1)


def compact(*weights: torch.Tensor) -> list[torch.Tensor]:
    """The matrices as float16 if every value of every one of them is exactly a float16
    (the trained layers ship as float16), else as float32: the kernels convert float16 to
    float32 on load, so the products are the same, and half the bytes stream from memory
    on every update."""
    as_f32 = [t.detach().to(PW).contiguous() for t in weights]
    halves = [t.to(torch.float16) for t in as_f32]
    if all(torch.equal(h.to(PW), t) for h, t in zip(halves, as_f32)):
        return halves
    return as_f32


@dataclass
class LayerWeights:
    """One layer: position-wise weights in float32 (matrices float32 or float16), float64 codebooks."""

    local: bool  # attends only to keys closer than W
    ln1: torch.Tensor  # (d,)
    w_qkv: torch.Tensor  # ((H + 2 Hkv) hd, d): w_qkv @ x = [q | k | v]; float32 or float16 (`compact`)
    codes: torch.Tensor  # (H, K, hd)
    codes_sq: torch.Tensor  # (H, K) squared norms of the codes
    table: torch.Tensor  # (H, K, d): output projection of every code
    ln2: torch.Tensor  # (d,)
    w_gate_up: torch.Tensor  # (2 dff, d), float32 or float16 like w_down
    w_down: torch.Tensor  # (d, dff)
    native: Any = None  # its `native.LayerStruct`, pointing into the tensors above (built at first use)


@dataclass
class EngineWeights:
    """Everything the engine reads from a model, plus shape constants."""

    layers: list[LayerWeights]
    embed: torch.Tensor  # (V, d) float32, the model's own tensor
    norm: torch.Tensor  # (d,)
    cls_w: torch.Tensor  # (C, d) the state vote, then (attention pooling) the pooling score: (C + 1, d)
    cls_b: torch.Tensor  # (C,), or (C + 1,) with the pooling score's bias
    pooled: bool  # attention pooling: the last row of cls_w scores each position's weight
    lexicon: torch.Tensor | None  # (V, C) float64 per-token votes, or None
    ngram_lexicon: torch.Tensor | None  # ((order - 1) * buckets, C) float32 hashed n-gram votes, or None
    ngram_order: int  # n-grams of up to this many tokens vote (1: tokens alone)
    ngram_buckets: int
    eps: float
    d: int
    H: int
    Hkv: int
    hd: int
    K: int
    dff: int
    C: int
    W: int
    sink: bool  # local layers also see key 0
    vocab: int
    scale: float
    inv_freq: torch.Tensor  # (hd / 2,) float64 RoPE frequencies
    rot_cos: torch.Tensor  # (W + 1, hd): rotation by (t - W), t = clipped distance 0..W
    rot_sin: torch.Tensor  # (W + 1, hd)
    win_cos: torch.Tensor  # (hd,): rotation by W (of every query, before it is scored)
    win_sin: torch.Tensor  # (hd,)
    native: Any = None  # its `native.ModelStruct`, pointing into the tensors above (built at first use)

    @property
    def group(self) -> int:
        return self.H // self.Hkv

    @property
    def n_layers(self) -> int:
        return len(self.layers)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@torch.no_grad()
def engine_weights(model, refresh: bool = False) -> EngineWeights:
    """The engine weights of `model`, built once per model object (pass refresh=True after changing it)."""
    if not refresh and model in _CACHE:
        return _CACHE[model]
    cfg = model.cfg
    if not cfg.vq:
        raise ValueError("the incremental engine needs a VQ model (cfg.vq is False)")
    if not 0 < cfg.codebook_size <= CODE_LIMIT:
        raise ValueError(f"the engine stores codes as int16: codebook_size must be 1..{CODE_LIMIT}")
    layers = []
    for block in model.layers:
        codes = block.codebooks.codes.detach().to(DT)  # (H, K, hd)
        w_o = block.o_proj.weight.detach().to(DT).view(cfg.d_model, cfg.n_heads, cfg.head_dim)  # (d, H, hd)
        (w_qkv,) = compact(torch.cat([block.q_proj.weight, block.k_proj.weight, block.v_proj.weight]))
        w_gate_up, w_down = compact(
            torch.cat([block.mlp.gate_proj.weight, block.mlp.up_proj.weight]), block.mlp.down_proj.weight
        )
        layers.append(
            LayerWeights(
                local=bool(getattr(block, "local", False)),
                ln1=block.input_layernorm.weight.detach().to(PW),
                w_qkv=w_qkv,
                codes=codes,
                codes_sq=codes.pow(2).sum(-1),
                table=torch.einsum("hkc,dhc->hkd", codes, w_o).to(PW).contiguous(),
                ln2=block.post_attention_layernorm.weight.detach().to(PW),
                w_gate_up=w_gate_up,
                w_down=w_down,
            )
        )
    head_w, head_b = [model.classifier.weight], [model.classifier.bias]
    if model.pool is not None:
        head_w.append(model.pool.weight)
        head_b.append(model.pool.bias)
    W, hd = cfg.window, cfg.head_dim
    rot_cos, rot_sin = cos_sin(torch.arange(W + 1) - W, hd, cfg.rope_theta, DT)  # (W + 1, hd)
    win_cos, win_sin = cos_sin(torch.tensor(W), hd, cfg.rope_theta, DT)  # (hd,)
    weights = EngineWeights(
        layers=layers,
        embed=model.embed_tokens.weight.detach().to(PW).contiguous(),
        norm=model.norm.weight.detach().to(PW),
        cls_w=torch.cat(head_w).detach().to(PW).contiguous(),
        cls_b=torch.cat(head_b).detach().to(PW),
        pooled=model.pool is not None,
        lexicon=None if model.lexicon is None else model.lexicon.weight.detach().to(torch.float64),
        # float32 holds the stored float16 votes exactly; rows are summed in float64
        ngram_lexicon=None if model.ngram_lexicon is None else model.ngram_lexicon.weight.detach(),
        ngram_order=cfg.ngram_order if model.ngram_lexicon is not None else 1,
        ngram_buckets=cfg.ngram_buckets,
        eps=cfg.rms_eps,
        d=cfg.d_model,
        H=cfg.n_heads,
        Hkv=cfg.n_kv_heads,
        hd=hd,
        K=cfg.codebook_size,
        dff=cfg.d_ff,
        C=cfg.n_classes,
        W=W,
        sink=cfg.sink,
        vocab=cfg.vocab_size,
        scale=1.0 / math.sqrt(hd),
        inv_freq=inverse_frequencies(hd, cfg.rope_theta),
        rot_cos=rot_cos,
        rot_sin=rot_sin,
        win_cos=win_cos,
        win_sin=win_sin,
    )
    _CACHE[model] = weights
    return weights
