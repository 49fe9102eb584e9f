"""Rotary position embedding with a clipped relative distance.

The score of query i and key j <= i is `rotate(q_i, min(i - j, W)) . k_j`: rotations are
orthogonal, so this equals the usual RoPE product `rotate(q_i, i) . rotate(k_j, j)` for
pairs closer than W, and is a fixed rotation by W beyond. An insertion therefore changes
the geometry only of pairs within W of each other that straddle it, and the output
depends on the token sequence alone (no absolute position survives).
"""

from __future__ import annotations

import torch


def inverse_frequencies(head_dim: int, theta: float) -> torch.Tensor:
    """(head_dim/2,) float64 frequencies of the Llama convention."""
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))


def cos_sin(positions: torch.Tensor, head_dim: int, theta: float, dtype=torch.float32):
    """cos, sin of shape (*positions.shape, head_dim), computed in float64 then cast.

    Angles are formed in float64 so that a rotation by distance d is the same number
    whether it comes from a full forward or from an incremental update.
    """
    angles = positions.to(torch.float64)[..., None] * inverse_frequencies(head_dim, theta)
    angles = torch.cat((angles, angles), dim=-1)  # (..., head_dim)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the last dimension of x (..., head_dim) by precomputed cos/sin (broadcast)."""
    return x * cos + rotate_half(x) * sin


def clipped_scores(
    q: torch.Tensor, k: torch.Tensor, window: int, theta: float, local: bool = False, sink: bool = False
) -> torch.Tensor:
    """Causal attention logits with clipped relative RoPE, unscaled and unmasked.

    q: (B, H, T, hd) queries, k: (B, H, T, hd) keys (already expanded to H heads).
    Returns (B, H, T, T) with entry [i, j] = rotate(q_i, min(i - j, W)) . k_j for j <= i;
    entries j > i are garbage and must be masked by the caller. A `local` layer masks every
    pair W or more apart too, so those entries are left garbage as well (one product, not two),
    but for key 0 when it is a `sink`: its column is scored at the clipped distance.
    """
    T, hd = q.shape[-2], q.shape[-1]
    pos = torch.arange(T)
    cos, sin = cos_sin(pos, hd, theta, q.dtype)  # (T, hd)
    near = rotate(q, cos, sin) @ rotate(k, cos, sin).transpose(-1, -2)  # (B, H, T, T)
    if local and not sink:
        return near
    cos_w, sin_w = cos_sin(torch.tensor(window), hd, theta, q.dtype)  # (hd,)
    qw = rotate(q, cos_w, sin_w)  # (B, H, T, hd)
    if local:  # the sink column alone
        far0 = qw @ k[..., :1, :].transpose(-1, -2)  # (B, H, T, 1)
        column = torch.where((pos >= window)[:, None], far0, near[..., :1])  # (B, H, T, 1)
        return torch.cat((column, near[..., 1:]), dim=-1)
    far = qw @ k.transpose(-1, -2)  # (B, H, T, T)
    distance = pos[:, None] - pos[None, :]  # (T, T)
    return torch.where(distance >= window, far, near)


def causal_mask(T: int, window: int | None = None, sink: bool = False) -> torch.Tensor:
    """(T, T) boolean, True where key j may be seen by query i: j <= i, and i - j < window if
    given (key 0 too, if it is a sink)."""
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    if window is None:
        return mask
    mask = mask.triu(-(window - 1))
    if sink:
        mask[:, 0] = True
    return mask
