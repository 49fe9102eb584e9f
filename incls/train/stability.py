"""Code stability: a training term that keeps head outputs still when another token changes.

The engine's work after an edit is the number of positions whose codes change. A head
output that moves whenever any token in its context moves sits near a cell boundary
somewhere, and one replaced word then flips codes at dozens of later positions. This term
replaces one random token per document and penalises how far every later position's head
outputs move (relative to their typical size), so training prefers heads whose code is
decided by what really matters to the position, not by every neighbour.
"""

from __future__ import annotations

import torch


def replace_one_token(ids: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator):
    """A copy of ids (B, T) with one token per row replaced by a token from elsewhere in the batch.

    Returns (perturbed ids (B, T), replaced positions (B,)).
    """
    B = ids.shape[0]
    lengths = lengths.to(ids.device)
    u = torch.rand(B, 2, generator=gen).to(ids.device)
    at = (u[:, 0] * lengths).long().clamp(max=lengths - 1)  # (B,)
    donor_row = torch.randint(0, B, (B,), generator=gen).to(ids.device)  # (B,)
    donor_pos = (u[:, 1] * lengths[donor_row]).long().clamp(max=lengths[donor_row] - 1)
    perturbed = ids.clone()
    perturbed[torch.arange(B, device=ids.device), at] = ids[donor_row, donor_pos]
    return perturbed, at


def output_shift(
    before: list[torch.Tensor], after: list[torch.Tensor], at: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Mean relative squared move of the head outputs of positions after the replaced one.

    before, after: per layer (B, T, H, hd) head outputs (before quantization).
    """
    T = before[0].shape[1]
    t = torch.arange(T, device=at.device)[None, :]  # (1, T)
    later = (t > at[:, None]) & (t < lengths.to(at.device)[:, None])  # (B, T)
    n = later.sum().clamp(min=1)
    total = before[0].new_zeros(())
    for o, o2 in zip(before, after):
        move = (o2 - o).pow(2).sum(-1).mean(-1)  # (B, T)
        size = o.detach()[later].pow(2).sum(-1).mean().clamp(min=1e-8)
        total = total + (move * later).sum() / n / size
    return total / len(before)
