"""The position-wise parts of a layer, on a batch of rows: projections, code search, MLP.

Each function takes only the rows that need it (dirty positions), so one small matmul
serves a whole batch of positions with no Python loop over them. The math is float32,
and every matmul goes through `rows_matmul`, so a row's result does not depend on which
other rows shared its batch (see `incls.engine.weights`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .attention import rotate_to_window
from .weights import DT, PW, EngineWeights, LayerWeights

ROW_MULTIPLE = 16   # batches are padded to a multiple of this many rows


def rows_matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x (n, a) times weight (b, a) -> (n, b), each row bitwise independent of the others.

    BLAS picks a different kernel (and a different summation order) for small batches,
    and splits some of them over threads differently; padded to a multiple of
    ROW_MULTIPLE rows it always takes the same path, so a position computed alone after
    an edit equals the same position computed among all rows of a fresh document
    (tests/engine/test_batch_invariance.py checks it on the running machine). Computed
    as weight @ x.T: with the weights as the tall operand, BLAS runs a few rows about
    twice as fast as x @ weight.T.
    """
    n = x.shape[0]
    pad = -n % ROW_MULTIPLE
    if pad:
        x = F.pad(x, (0, 0, 0, pad))                                        # zero rows
    # row-major again: the reductions that follow (norms) sum in an order set by the layout
    return (weight @ x.contiguous().t()).t()[:n].contiguous()


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def embed(w: EngineWeights, ids: torch.Tensor) -> torch.Tensor:
    """ids (n,) -> residual stream inputs (n, d) float32."""
    return w.embed[ids].to(PW)


def project(w: EngineWeights, lw: LayerWeights, x: torch.Tensor):
    """x (n, d) float32 -> qW (n, H, hd) rotated by W, k (n, Hkv, hd), v (n, Hkv, hd), float64 for attention."""
    n = x.shape[0]
    qkv = rows_matmul(rms_norm(x, lw.ln1, w.eps), lw.w_qkv).to(DT)       # (n, (H + 2 Hkv) hd)
    q, k, v = qkv.split([w.H * w.hd, w.Hkv * w.hd, w.Hkv * w.hd], dim=-1)
    return rotate_to_window(w, q.reshape(n, w.H, w.hd)), k.reshape(n, w.Hkv, w.hd), v.reshape(n, w.Hkv, w.hd)


def _cross(lw: LayerWeights, o64: torch.Tensor) -> torch.Tensor:
    """o . code for outputs o64 (n, H, hd) and every code of its head: (n, H, K)."""
    return (o64.transpose(0, 1) @ lw.codes.transpose(1, 2)).transpose(0, 1)


def nearest_codes(lw: LayerWeights, o: torch.Tensor) -> torch.Tensor:
    """Nearest code (n, H) of each head for outputs o (n, H, hd) float32, ties to the lower
    index: argmin over codes of |c|^2 - 2 o.c (|o|^2 is the same for every code)."""
    return (lw.codes_sq[None] - 2.0 * _cross(lw, o.to(DT))).argmin(-1)


def search_codes(lw: LayerWeights, o: torch.Tensor):
    """Nearest code of each head for outputs o (n, H, hd) float32, and how safely.

    Returns codes (n, H) (ties to the lower index) and margin (n, H): distance to the
    second-nearest code minus distance to the nearest, both measured from o.
    """
    o64 = o.to(DT)
    d2 = lw.codes_sq[None] - 2.0 * _cross(lw, o64) + o64.pow(2).sum(-1, keepdim=True)   # (n, H, K)
    codes = d2.argmin(-1)                                                   # (n, H)
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
    moved = (o.to(DT) - o_ref.to(DT)).pow(2).sum(-1).sqrt()                # (n, H)
    return 2.0 * moved < margin * (1.0 - 1e-9) - 1e-12


def finish(w: EngineWeights, lw: LayerWeights, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Residual add of the attention block (sum of table rows of the codes) and the MLP: (n, d)."""
    heads = torch.arange(w.H)
    x = x + lw.table[heads, codes].sum(-2)                                  # (n, d)
    gate, up = rows_matmul(rms_norm(x, lw.ln2, w.eps), lw.w_gate_up).chunk(2, dim=-1)  # (n, dff) each
    return x + rows_matmul(F.silu(gate) * up, lw.w_down)


def classify(w: EngineWeights, x: torch.Tensor) -> torch.Tensor:
    """Final hidden states (n, d) -> class logits (n, C) float64."""
    return (rows_matmul(rms_norm(x, w.norm, w.eps), w.cls_w) + w.cls_b).to(DT)
