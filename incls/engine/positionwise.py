"""The position-wise parts of a layer, on a batch of rows: projections, code search, MLP.

Each function takes only the rows that need it (dirty positions), so one call serves a
whole batch of positions with no Python loop over them. The math is float32 in the
native kernels (`kernels.c`), where every output number is computed in an order fixed by
the shapes alone, so a row's result does not depend on which other rows shared its
batch nor on the thread count (see `incls.engine.weights`).
"""

from __future__ import annotations

import torch

from incls.model.ngrams import rows_at

from .native import check, kernels
from .weights import DT, PW, EngineWeights, LayerWeights


def is_half(weight: torch.Tensor) -> bool:
    """Whether a weight matrix is stored as float16 (see `incls.engine.weights.compact`)."""
    return weight.dtype == torch.float16


def rows_matmul(x: torch.Tensor, weight: torch.Tensor, threads: int | None = None) -> torch.Tensor:
    """x (n, a) float32 times weight (b, a) float32 or float16 -> (n, b) float32, each row
    bitwise independent of the others."""
    x = x.contiguous()
    n, a = x.shape
    out = torch.empty(n, weight.shape[0], dtype=PW)
    if n:
        kernels().incls_matmul(
            x.data_ptr(),
            n,
            a,
            weight.data_ptr(),
            is_half(weight),
            weight.shape[0],
            out.data_ptr(),
            threads or torch.get_num_threads(),
        )
    return out


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm of rows x (n, d) float32 with gain `weight` (d,)."""
    x = x.contiguous()
    out = torch.empty_like(x)
    if x.shape[0]:
        kernels().incls_rms_norm(x.data_ptr(), x.shape[0], x.shape[1], weight.data_ptr(), eps, out.data_ptr())
    return out


def embed(w: EngineWeights, ids: torch.Tensor) -> torch.Tensor:
    """ids (n,) -> residual stream inputs (n, d) float32."""
    return w.embed[ids].to(PW)


def store_projections(
    w: EngineWeights,
    lw: LayerWeights,
    x: torch.Tensor,
    rows: torch.Tensor,
    cache_x,
    cache_qW,
    cache_k,
    cache_v,
    threads: int | None = None,
) -> None:
    """Write the rows' residual inputs x (n, d) float32 and their q (rotated by W), k, v
    (float64) into storage rows `rows` (n,) of the cache tensors (S, d), (S, H, hd),
    (S, Hkv, hd), (S, Hkv, hd)."""
    x, rows = x.contiguous(), rows.contiguous()
    if not rows.numel():
        return
    check(
        kernels().incls_project(
            x.data_ptr(),
            x.shape[0],
            w.d,
            rows.data_ptr(),
            lw.ln1.data_ptr(),
            w.eps,
            lw.w_qkv.data_ptr(),
            is_half(lw.w_qkv),
            w.H,
            w.Hkv,
            w.hd,
            w.win_cos.data_ptr(),
            w.win_sin.data_ptr(),
            cache_x.data_ptr(),
            cache_qW.data_ptr(),
            cache_k.data_ptr(),
            cache_v.data_ptr(),
            threads or torch.get_num_threads(),
        )
    )


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


def finish_rows(
    w: EngineWeights,
    lw: LayerWeights,
    cache_x: torch.Tensor,
    cache_codes: torch.Tensor,
    rows: torch.Tensor,
    threads: int | None = None,
) -> torch.Tensor:
    """Residual stream after the layer (n, d) of the storage rows `rows` (n,) of residual
    inputs cache_x (S, d) and codes cache_codes (S, H): attention block (sum of table rows) and MLP."""
    rows = rows.contiguous()
    n = rows.numel()
    out = torch.empty(n, w.d, dtype=PW)
    if n:
        check(
            kernels().incls_finish(
                cache_x.data_ptr(),
                cache_codes.data_ptr(),
                rows.data_ptr(),
                n,
                w.d,
                w.H,
                w.K,
                lw.table.data_ptr(),
                lw.ln2.data_ptr(),
                w.eps,
                lw.w_gate_up.data_ptr(),
                lw.w_down.data_ptr(),
                is_half(lw.w_down),
                w.dff,
                out.data_ptr(),
                threads or torch.get_num_threads(),
            )
        )
    return out


def state_votes(w: EngineWeights, x: torch.Tensor) -> torch.Tensor:
    """Final hidden states (n, d) -> their linear votes (n, C) float64."""
    return (rows_matmul(rms_norm(x, w.norm, w.eps), w.cls_w) + w.cls_b).to(DT)


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
