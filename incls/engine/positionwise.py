"""The position-wise parts of an update that run in tensor code, on a batch of rows: the
embedding, a layer's code search and margin test (layers attending beyond W), the head.
Projections and the MLP run in the native kernels (`native.project`, `native.finish`).

Each function takes only the rows that need it (dirty positions), so one call serves a
whole batch of positions with no Python loop over them. The math is float32 in the
native kernels (`kernels.c`), where every output number is computed in an order fixed by
the shapes alone, so a row's result does not depend on which other rows shared its
batch nor on the thread count (see `incls.engine.weights`).
"""

from __future__ import annotations

import torch

from incls.model.ngrams import rows_at
from incls.model.transformer import POOL_BOUND

from . import native
from .weights import DT, PW, EngineWeights, LayerWeights


def rows_matmul(x: torch.Tensor, weight: torch.Tensor, threads: int | None = None) -> torch.Tensor:
    """x (n, a) float32 times weight (b, a) float32 or float16 -> (n, b) float32, each row
    bitwise independent of the others."""
    return native.matmul(x, weight, threads)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm of rows x (n, d) float32 with gain `weight` (d,)."""
    return native.rms_norm(x, weight, eps)


def embed(w: EngineWeights, ids: torch.Tensor) -> torch.Tensor:
    """ids (n,) -> residual stream inputs (n, d) float32."""
    return w.embed[ids].to(PW)


def _cross(lw: LayerWeights, o64: torch.Tensor) -> torch.Tensor:
    """o . code for outputs o64 (n, H, hd) and every code of its head: (n, H, K)."""
    return (o64.transpose(0, 1) @ lw.codes.transpose(1, 2)).transpose(0, 1)


def search_codes(lw: LayerWeights, o: torch.Tensor):
    """Nearest code of each head for outputs o (n, H, hd) float32, and how safely.

    Returns codes (n, H) (ties to the lower index) and margin (n, H): distance to the
    second-nearest code minus distance to the nearest, both measured from o.
    """
    o64 = o.to(DT)
    d2 = lw.codes_sq[None] - 2.0 * _cross(lw, o64) + o64.pow(2).sum(-1, keepdim=True)  # (n, H, K)
    codes = d2.argmin(-1)  # (n, H)
    best = d2.gather(-1, codes[..., None]).squeeze(-1)
    second = d2.scatter(-1, codes[..., None], float("inf")).amin(-1)
    margin = second.clamp_min(0).sqrt() - best.clamp_min(0).sqrt()
    return codes, margin


def still_nearest(o: torch.Tensor, o_ref: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """(n, H) True where the code chosen at o_ref is provably still the nearest at o.

    Triangle inequality: if |o - o_ref| < margin / 2, the nearest code at o_ref is nearer
    to o than any other code. The test costs O(hd) per head, far less than a search.
    The small slack keeps the proof valid under float64 rounding of the distances.
    """
    moved = (o.to(DT) - o_ref.to(DT)).pow(2).sum(-1).sqrt()  # (n, H)
    return 2.0 * moved < margin * (1.0 - 1e-9) - 1e-12


def state_rows(w: EngineWeights, x: torch.Tensor) -> torch.Tensor:
    """Final hidden states (n, d) -> the state part of their rows (n, C + 1) float64: the
    linear vote times the pooling weight, and the weight (`incls.model.pooling`)."""
    out = (rows_matmul(rms_norm(x, w.norm, w.eps), w.cls_w) + w.cls_b).to(DT)  # (n, C) or (n, C + 1)
    if not w.pooled:
        return torch.cat([out, torch.ones(len(out), 1, dtype=DT)], -1)
    score = out[:, w.C].to(PW)  # (n,) rounded as the model computes it
    weight = torch.exp(POOL_BOUND * torch.tanh(score / POOL_BOUND)).to(DT)[:, None]  # (n, 1)
    return torch.cat([weight * out[:, : w.C], weight], -1)


def lexical_votes(w: EngineWeights, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """A sequence's ids (T,) and some of its positions (n,) -> their lexical votes (n, C)
    float64: each token's lexicon row plus the rows of the n-grams ending there."""
    if w.lexicon is None:
        return torch.zeros(positions.numel(), w.C, dtype=DT)
    votes = w.lexicon[ids[positions]]  # (n, C)
    if w.ngram_lexicon is None:
        return votes
    rows = rows_at(ids, positions, w.ngram_order, w.vocab, w.ngram_buckets)  # (n, order - 1)
    return votes + w.ngram_lexicon[rows].to(DT).sum(1)
