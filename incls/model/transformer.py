"""The VQ transformer: a Llama-family causal decoder made incrementally computable.

Read top to bottom: RMSNorm, the MLP, one Block (clipped-RoPE attention, per-head VQ,
output table, MLP), then the whole model with a classification head at every position.
In eval mode with VQ the attention block is literally a sum of table lookups, the same
arithmetic the incremental engine performs, so the two agree to float rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from . import pooling
from .config import ModelConfig
from .ngrams import sequence_rows
from .rope import causal_mask, clipped_scores
from .vq import HeadCodebooks

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MLP(nn.Module):
    """SwiGLU feed-forward, position-wise."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    """One decoder layer. Every operation but attention is position-wise."""

    def __init__(self, cfg: ModelConfig, local: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.local = local  # attends only to keys closer than W
        d, H, Hkv, hd = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.input_layernorm = RMSNorm(d, cfg.rms_eps)
        self.q_proj = nn.Linear(d, H * hd, bias=False)
        self.k_proj = nn.Linear(d, Hkv * hd, bias=False)
        self.v_proj = nn.Linear(d, Hkv * hd, bias=False)
        self.o_proj = nn.Linear(H * hd, d, bias=False)
        self.codebooks = HeadCodebooks(H, cfg.codebook_size, hd) if cfg.vq else None
        self.post_attention_layernorm = RMSNorm(d, cfg.rms_eps)
        self.mlp = MLP(d, cfg.d_ff)

    def project_qkv(self, x: torch.Tensor):
        """x (..., T, d) -> q (..., T, H, hd), k and v (..., T, Hkv, hd), k unrotated."""
        cfg = self.cfg
        h = self.input_layernorm(x)
        q = self.q_proj(h).unflatten(-1, (cfg.n_heads, cfg.head_dim))
        k = self.k_proj(h).unflatten(-1, (cfg.n_kv_heads, cfg.head_dim))
        v = self.v_proj(h).unflatten(-1, (cfg.n_kv_heads, cfg.head_dim))
        return q, k, v

    def attend(self, q, k, v, pad_mask=None) -> torch.Tensor:
        """Clipped-RoPE causal attention (if local: within W only, and key 0 if it is a sink);
        each head's output o (B, T, H, hd)."""
        cfg = self.cfg
        q = q.transpose(1, 2)  # (B, H, T, hd)
        k = k.transpose(1, 2).repeat_interleave(cfg.kv_group, dim=1)  # (B, H, T, hd)
        v = v.transpose(1, 2).repeat_interleave(cfg.kv_group, dim=1)  # (B, H, T, hd)
        T = q.shape[2]
        scores = clipped_scores(q, k, cfg.window, cfg.rope_theta, self.local, cfg.sink)  # (B, H, T, T)
        scores = scores / math.sqrt(cfg.head_dim)
        visible = causal_mask(T, cfg.window if self.local else None, cfg.sink).to(q.device)  # (T, T)
        scores = scores.masked_fill(~visible, float("-inf"))
        o = scores.softmax(-1) @ v  # (B, H, T, hd)
        return o.transpose(1, 2)  # (B, T, H, hd)

    def output_table(self) -> torch.Tensor:
        """(H, K, d): the output projection applied to every code of every head."""
        cfg = self.cfg
        assert self.codebooks is not None  # a VQ layer
        w = self.o_proj.weight.view(cfg.d_model, cfg.n_heads, cfg.head_dim)  # (d, H, hd)
        return torch.einsum("hkc,dhc->hkd", self.codebooks.codes, w)

    def table_sum(self, codes: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Attention block output (..., d) as the sum over heads of table[h, codes[..., h]]."""
        heads = torch.arange(table.shape[0], device=codes.device)
        return table[heads, codes].sum(-2)

    def finish(self, x: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
        """Residual add of the attention block, then the MLP block (position-wise)."""
        x = x + attn_out
        return x + self.mlp(self.post_attention_layernorm(x))

    def forward(self, x: torch.Tensor):
        """x (B, T, d) -> (x', codes (B, T, H) or None, vq loss, head outputs (B, T, H, hd))."""
        o = self.attend(*self.project_qkv(x))  # (B, T, H, hd)
        if self.codebooks is None:
            return self.finish(x, self.o_proj(o.flatten(-2))), None, o.new_zeros(()), o
        quantized, codes, loss = self.codebooks(o)  # (B, T, H, hd), (B, T, H)
        if self.training:
            attn_out = self.o_proj(quantized.flatten(-2))  # (B, T, d)
        else:
            attn_out = self.table_sum(codes, self.output_table())  # (B, T, d)
        return self.finish(x, attn_out), codes, loss, o


@dataclass
class ForwardOutput:
    logits: torch.Tensor  # (B, T, C) running class logits at every position
    codes: torch.Tensor | None  # (B, L, T, H) code of every layer, position and head
    vq_loss: torch.Tensor  # () commitment + codebook loss (training only)
    head_outputs: list[torch.Tensor]  # L x (B, T, H, hd) continuous attention outputs


POOL_BOUND = 16.0  # |pooling score| <= this: exp(score) <= 9e6, so plain sums never overflow


@dataclass
class PositionVotes:
    """What each position contributes to the document's logits, before pooling.

    The running logits at t pool the state votes of positions 0..t by their weights and
    average their lexical votes (`incls.model.pooling`): every term belongs to one position,
    so the document's logits decompose exactly into positions.
    """

    state: torch.Tensor  # (..., T, C) linear vote on each position's normed final state
    weight: torch.Tensor  # (..., T) pooling weight exp(score) (1 everywhere with mean pooling)
    lexical: torch.Tensor | None  # (..., T, C) lexicon + n-gram rows, mean-pooled; None without a lexicon

    def rows(self) -> torch.Tensor:
        """(..., T, 2C + 1) each position's additive row (`incls.model.pooling`)."""
        return pooling.rows(self.state, self.weight, self.lexical)

    def running_logits(self) -> torch.Tensor:
        """(..., T, C) logits after every prefix."""
        T = self.state.shape[-2]
        counts = torch.arange(1, T + 1, device=self.state.device, dtype=self.state.dtype)  # (T,)
        return pooling.logits(self.rows().cumsum(-2), counts)

    def spliced(self, start: int, tail: PositionVotes) -> PositionVotes:
        """These votes up to `start`, then `tail`'s."""
        lexical = None
        if self.lexical is not None and tail.lexical is not None:
            lexical = torch.cat([self.lexical[..., :start, :], tail.lexical], -2)
        return PositionVotes(
            torch.cat([self.state[..., :start, :], tail.state], -2),
            torch.cat([self.weight[..., :start], tail.weight], -1),
            lexical,
        )


class VQTransformer(nn.Module):
    """Token ids -> running class logits (and codes). The last position's logits are the document's.

    The classification head is linear on each position's final state, pooled over positions
    (`PositionVotes`): mean pooling learns far faster than reading the last position of a
    shallow decoder; attention pooling lets a one-line verdict outweigh a long description.
    Either way an edit changes the document's logits by the change of the terms of the
    positions it touched: O(changed positions x C) to keep up to date.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.pooling not in ("mean", "attention"):
            raise ValueError(f"pooling must be 'mean' or 'attention', not {cfg.pooling!r}")
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg, local=i < cfg.local_layers) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.rms_eps)
        self.classifier = nn.Linear(cfg.d_model, cfg.n_classes)
        self.pool = nn.Linear(cfg.d_model, 1) if cfg.pooling == "attention" else None
        if self.pool is not None:
            nn.init.zeros_(self.pool.weight)  # starts as mean pooling
            nn.init.zeros_(self.pool.bias)
        self.lexicon = nn.Embedding(cfg.vocab_size, cfg.n_classes) if cfg.lexical_votes else None
        if self.lexicon is not None:
            nn.init.zeros_(self.lexicon.weight)
        self.ngram_lexicon = nn.Embedding(cfg.ngram_rows, cfg.n_classes) if cfg.ngram_rows else None
        if self.ngram_lexicon is not None:
            nn.init.zeros_(self.ngram_lexicon.weight)

    def position_votes(self, normed: torch.Tensor, ids: torch.Tensor, start: int = 0) -> PositionVotes:
        """Normed final states (..., T - start, d) of positions start.. of a sequence of ids
        (..., T) -> those positions' votes: each a function of that position's final state
        (and of the tokens just before it, for the lexical votes) alone."""
        state = self.classifier(normed)  # (..., T - start, C)
        if self.pool is None:
            weight = torch.ones(state.shape[:-1], dtype=state.dtype, device=state.device)
        else:
            score = self.pool(normed).squeeze(-1)  # (..., T - start)
            weight = torch.exp(POOL_BOUND * torch.tanh(score / POOL_BOUND))
        lexical = None if self.lexicon is None else self.lexical_votes(ids, start)
        return PositionVotes(state, weight, lexical)

    def lexical_votes(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """ids (..., T) -> the lexical votes (..., T - start, C) of positions start..: each
        token's lexicon row plus the rows of the hashed n-grams ending there (orders 2..ngram_order)."""
        assert self.lexicon is not None, "a model without lexical_votes has no lexical votes"
        votes = self.lexicon(ids[..., start:])  # (..., T - start, C)
        if self.ngram_lexicon is None:
            return votes
        cfg = self.cfg
        rows = sequence_rows(ids, cfg.ngram_order, cfg.vocab_size, cfg.ngram_buckets)  # (..., T, order - 1)
        return votes + self.ngram_lexicon(rows[..., start:, :]).sum(-2)

    def final_states(self, ids: torch.Tensor):
        """ids (B, T) -> (final hidden states (B, T, d), codes (B, L, T, H) or None, vq loss,
        head outputs). Causal: padding on the right never reaches real positions."""
        x = self.embed_tokens(ids)  # (B, T, d)
        codes, outputs, vq_loss = [], [], x.new_zeros(())
        for block in self.layers:
            x, layer_codes, loss, o = block(x)
            codes.append(layer_codes)
            outputs.append(o)
            vq_loss = vq_loss + loss
        stacked = torch.stack(codes, dim=1) if self.cfg.vq else None  # (B, L, T, H)
        return x, stacked, vq_loss, outputs

    def forward(self, ids: torch.Tensor) -> ForwardOutput:
        """ids (B, T) -> ForwardOutput."""
        x, codes, vq_loss, outputs = self.final_states(ids)
        logits = self.position_votes(self.norm(x), ids).running_logits()  # (B, T, C)
        return ForwardOutput(logits, codes, vq_loss, outputs)

    @torch.no_grad()
    def document_logits(self, ids: list[int]) -> torch.Tensor:
        """(C,) logits of one document given as a list of token ids (empty allowed)."""
        if not ids:
            return self.classifier.bias.detach().clone()  # no votes: the prior
        return self(torch.tensor([ids])).logits[0, -1]

    def is_trained(self, name: str) -> bool:
        """Whether parameter `name` is trained (and shipped) rather than the pretrained one.

        The token embedding and the weights of the bottom `frozen_layers` stay as the base
        model has them (but for their attention projections when `adapt_frozen_attention`);
        every codebook, the top layers, the final norm and the classifier train.
        """
        if name.startswith("embed_tokens."):
            return False
        if name.startswith("layers.") and ".codebooks." not in name:
            if int(name.split(".")[1]) >= self.cfg.frozen_layers:
                return True
            return self.cfg.adapt_frozen_attention and name.split(".")[2] in ATTENTION_PROJECTIONS
        return True

    def trainable_parameters(self):
        return [p for n, p in self.named_parameters() if self.is_trained(n)]
