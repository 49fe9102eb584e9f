"""Pooling the positions' votes into a document's logits, from sums of per-position rows.

Every position t contributes one row of 2C + 1 numbers, r_t = [w_t s_t, w_t, l_t]: its state
vote s_t (C,) times its pooling weight w_t, the weight itself, and its lexical vote l_t (C,)
(zeros without a lexicon). The logits of any set of n positions depend only on the sum R
of their rows and on n:

    logits(R, n) = R[:C] / R[C] + R[C+1:] / n

the state votes pooled by their weights, the lexical votes by their mean. Rows add, so the
logits of a prefix, a sentence or the whole document are read from sums that an edit
changes only at the positions it touched; with mean pooling (w_t = 1) this is the plain mean
of the votes s_t + l_t.
"""

from __future__ import annotations

import torch


def width(n_classes: int) -> int:
    """Numbers in a position's row: 2C + 1."""
    return 2 * n_classes + 1


def classes(row_width: int) -> int:
    """C of rows that are `row_width` wide."""
    return (row_width - 1) // 2


def rows(state: torch.Tensor, weight: torch.Tensor, lexical: torch.Tensor | None) -> torch.Tensor:
    """state (..., T, C), weight (..., T), lexical (..., T, C) or None -> rows (..., T, 2C + 1)."""
    w = weight[..., None]  # (..., T, 1)
    return torch.cat([w * state, w, torch.zeros_like(state) if lexical is None else lexical], -1)


def logits(sums: torch.Tensor, count: torch.Tensor | int) -> torch.Tensor:
    """Sums of rows (..., 2C + 1) over `count` positions (..., or a number) -> logits (..., C)."""
    C = classes(sums.shape[-1])
    n = count[..., None] if isinstance(count, torch.Tensor) else count
    return sums[..., :C] / sums[..., C : C + 1] + sums[..., C + 1 :] / n


def contributions(unit_sums: torch.Tensor, total: torch.Tensor, count: int) -> torch.Tensor:
    """Each unit's exact share (n, C) of the logits of the positions they tile, from the
    units' row sums (n, 2C + 1), the sum of all rows (2C + 1,) and the number of positions:
    the shares add up to `logits(total, count)`."""
    C = classes(total.shape[-1])
    return unit_sums[..., :C] / total[C] + unit_sums[..., C + 1 :] / count
