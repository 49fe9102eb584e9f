"""Clipped-RoPE attention of layers attending beyond W, in float64: scores, softmax
accumulators, their updates (used by `full_layer`; a local layer's window attention is
in the native kernels).

Queries are read rotated by the window W (`qW = rotate(q, W)`, `window_queries`). A pair at clipped
distance t = min(i - j, W) scores `rotate(qW, t - W) . k_j / sqrt(hd)`: pairs at distance
>= W need no per-pair rotation at all (one matmul), and pairs closer than W come from a
second matmul of queries and keys each rotated by its own position relative to a nearby
base (`key_scores`), so no per-pair rotation is ever formed.

A row's accumulators are (m, Z, N): running max, sum of exp(s - m), and the sum of
exp(s - m) v; the head output is N / Z. Grouped-query attention: query head h reads kv
head h // group. Keys and values are cached as float32 (the products of float32 math)
and widened to float64 by the caller: the same numbers.
"""

from __future__ import annotations

import torch

from incls.model.rope import rotate_half

from .weights import DT, EngineWeights

NEG_INF = float("-inf")
BLOCK_ELEMENTS = 1 << 22  # bound on (rows x heads x keys) of one score block


def window_queries(w: EngineWeights, q: torch.Tensor) -> torch.Tensor:
    """Queries q (n, H, hd) float32, as cached, rotated by W in float64: qW (n, H, hd)."""
    q = q.to(DT)
    return q * w.win_cos + rotate_half(q) * w.win_sin


def far_scores(w: EngineWeights, qW: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scores (n, H, m) of every query against every key at the clipped distance W."""
    n, m = qW.shape[0], k.shape[0]
    q = qW.view(n, w.Hkv, w.group, w.hd).permute(1, 0, 2, 3).reshape(w.Hkv, n * w.group, w.hd)
    s = torch.bmm(q, k.permute(1, 2, 0))  # (Hkv, n g, m)
    return s.view(w.Hkv, n, w.group, m).permute(1, 0, 2, 3).reshape(n, w.H, m) * w.scale


def weighted_values(w: EngineWeights, p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """sum_j p[n, h, j] v[j, kv(h)] -> (n, H, hd) for weights p (n, H, m) and values v (m, Hkv, hd)."""
    n, m = p.shape[0], p.shape[2]
    pp = p.view(n, w.Hkv, w.group, m).permute(1, 0, 2, 3).reshape(w.Hkv, n * w.group, m)
    out = torch.bmm(pp, v.permute(1, 0, 2))  # (Hkv, n g, hd)
    return out.view(w.Hkv, n, w.group, w.hd).permute(1, 0, 2, 3).reshape(n, w.H, w.hd)


def rotate_by(w: EngineWeights, x: torch.Tensor, angle_steps: torch.Tensor) -> torch.Tensor:
    """Rotate x (n, heads, hd) by an integer number of positions per row (n,), angles in float64."""
    angles = angle_steps.to(DT)[:, None] * w.inv_freq  # (n, hd / 2)
    angles = torch.cat((angles, angles), dim=-1)  # (n, hd)
    cos, sin = angles.cos(), angles.sin()
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


def key_scores(
    w: EngineWeights, qW: torch.Tensor, qpos: torch.Tensor, keys: torch.Tensor, kpos: torch.Tensor
) -> torch.Tensor:
    """Scores (n, H, m) of queries qW (n, H, hd) at positions qpos (n,) against keys (m, Hkv, hd)
    at positions kpos (m,), both in the same coordinates; pairs with the key after the
    query score -inf.

    Pairs at distance >= W: one matmul with the stored queries. Pairs closer than W:
    rotate(q_i, i - j) . k_j = rotate(qW_i, i - c - W) . rotate(k_j, j - c) for any base c,
    so they also come from one matmul, over the rows that have any near key (c = the first
    key, to keep angles small).
    """
    dist = qpos[:, None] - kpos[None, :]  # (n, m)
    s = far_scores(w, qW, keys)  # (n, H, m)
    near = (dist >= 0) & (dist < w.W)
    near_rows = near.any(1).nonzero().squeeze(1)
    if near_rows.numel():
        base = int(kpos.min())
        qa = rotate_by(w, qW[near_rows], qpos[near_rows] - base - w.W)
        ka = rotate_by(w, keys, kpos - base)
        s_near = far_scores(w, qa, ka)  # (r, H, m)
        s[near_rows] = torch.where(near[near_rows][:, None, :], s_near, s[near_rows])
    return s.masked_fill_((dist < 0)[:, None, :], NEG_INF)


def near_columns(w: EngineWeights, pos: torch.Tensor):
    """Key positions pos - t of each query (n,) for t = 0..W-1: columns (n, W) clamped at
    0, and whether each exists (n, W)."""
    cols = pos[:, None] - torch.arange(w.W)[None, :]
    return cols.clamp(min=0), cols >= 0


def near_scores(w: EngineWeights, qW: torch.Tensor, k: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Scores (n, H, W) of queries qW (n, H, hd) against their keys at distance t = 0..W-1,
    the keys k[cols] (cols (n, W): rows of k, from `near_columns`).

    rotate(q_i, t) . k_j = qW_i . rotate(k_j, W - t): only the W keys of each row are
    rotated (by the precomputed table), never a span of the document.
    """
    n = qW.shape[0]
    kw = k[cols]  # (n, W, Hkv, hd)
    cos, sin = w.rot_cos[: w.W, None, :], w.rot_sin[: w.W, None, :]  # (W, 1, hd): rotation by t - W
    kr = (kw * cos - rotate_half(kw) * sin).permute(0, 2, 3, 1)  # (n, Hkv, hd, W) rotated by W - t
    s = qW.view(n, w.Hkv, w.group, w.hd) @ kr  # (n, Hkv, g, W)
    return s.view(n, w.H, w.W) * w.scale


def full_rows(w: EngineWeights, pos: torch.Tensor, qW: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Exact accumulators (m, Z, N) of query rows `pos` (n,) over all their keys 0..pos.

    qW: (n, H, hd) the rows' queries; k, v: (T, Hkv, hd) all keys in position order.
    Blocks of rows keep the score matrix under BLOCK_ELEMENTS. Returns m (n, H), Z (n, H),
    N (n, H, hd), and the number of attention terms computed.
    """
    n = pos.numel()
    m_out = qW.new_empty(n, w.H)
    Z_out = qW.new_empty(n, w.H)
    N_out = qW.new_empty(n, w.H, w.hd)
    terms = 0
    starts = pos.tolist()
    a = 0
    while a < n:
        b = a + 1
        # grow the block while it stays under the element bound (pos is sorted)
        while b < n and (b + 1 - a) * w.H * (starts[b] + 1) <= BLOCK_ELEMENTS:
            b += 1
        p = pos[a:b]
        Tk = starts[b - 1] + 1
        s = far_scores(w, qW[a:b], k[:Tk])  # (nb, H, Tk)
        cols, valid = near_columns(w, p)  # (nb, W)
        s_near = near_scores(w, qW[a:b], k, cols)  # (nb, H, W)
        r = torch.arange(b - a)[:, None].expand_as(cols)[valid]  # (P,) row of each near pair
        s.permute(0, 2, 1)[r, cols[valid]] = s_near.permute(0, 2, 1)[valid]  # (P, H) into (nb, Tk, H) view
        s.masked_fill_((torch.arange(Tk)[None, :] > p[:, None])[:, None, :], NEG_INF)
        m = s.amax(-1)  # (nb, H)
        e = torch.exp(s - m[..., None])
        m_out[a:b], Z_out[a:b] = m, e.sum(-1)
        N_out[a:b] = weighted_values(w, e, v[:Tk])
        terms += int((p + 1).sum())
        a = b
    return m_out, Z_out, N_out, terms


def canonical_output(N: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """Head outputs (n, H, hd) = N / Z, rounded through float32.

    Codes are chosen from this rounded value, so float64 noise of ~1e-16 between an updated
    and a fresh session almost never reaches the decision; it also halves the memory of the
    stored reference outputs.
    """
    return (N / Z[..., None]).to(torch.float32)


class RowAccumulators:
    """Accumulators of a set of rows being updated in place by added and removed terms.

    Removing terms can cancel most of a row's mass (a dominant key deleted): such rows are
    flagged `lost` and must be recomputed exactly by the caller; that bounds the drift.
    """

    LOSS = 1e-6

    def __init__(self, m: torch.Tensor, Z: torch.Tensor, N: torch.Tensor) -> None:
        self.m, self.Z, self.N = m, Z, N  # (n, H), (n, H), (n, H, hd)
        self.lost = torch.zeros(m.shape[0], dtype=torch.bool)

    def remove(self, w: EngineWeights, s: torch.Tensor, v: torch.Tensor) -> None:
        """Subtract terms of scores s (n, H, m) (-inf = absent) with values v (m, Hkv, hd)."""
        e = torch.exp(s - self.m[..., None])  # (n, H, m)
        mass = e.sum(-1)  # (n, H)
        self.lost |= ((self.Z - mass) <= self.LOSS * self.Z).any(-1)
        self.Z -= mass
        self.N -= weighted_values(w, e, v)

    def add(self, w: EngineWeights, s: torch.Tensor, v: torch.Tensor) -> None:
        """Add terms of scores s (n, H, m) (-inf = absent) with values v (m, Hkv, hd)."""
        self._raise_max(s.amax(-1))
        e = torch.exp(s - self.m[..., None])
        self.Z += e.sum(-1)
        self.N += weighted_values(w, e, v)

    def _raise_max(self, candidate: torch.Tensor) -> None:
        new_m = torch.maximum(self.m, candidate)  # (n, H)
        factor = torch.exp(self.m - new_m)
        self.Z *= factor
        self.N *= factor[..., None]
        self.m = new_m

    def move_pairs(
        self, w: EngineWeights, rows: torch.Tensor, s_old: torch.Tensor, s_new: torch.Tensor, v: torch.Tensor
    ) -> None:
        """Replace the term of each pair (row, key): score s_old -> s_new (P, H), value v (P, Hkv, hd)."""
        P = rows.numel()
        if P == 0:
            return
        cand = torch.full_like(self.m, NEG_INF).scatter_reduce_(0, rows[:, None].expand_as(s_new), s_new, "amax")
        vH = v.repeat_interleave(w.group, dim=1)  # (P, H, hd)
        e_old = torch.exp(s_old - self.m[rows])  # (P, H)
        mass = torch.zeros_like(self.Z).index_add_(0, rows, e_old)
        self.lost |= ((self.Z - mass) <= self.LOSS * self.Z).any(-1)
        self.Z -= mass
        self.N.index_add_(0, rows, -e_old[..., None] * vH)
        self._raise_max(cand)
        e_new = torch.exp(s_new - self.m[rows])
        self.Z.index_add_(0, rows, e_new)
        self.N.index_add_(0, rows, e_new[..., None] * vH)
