"""Where each position's cached rows live: edits move no cached row.

Every layer cache stores its rows in the same storage order. After an edit a kept token
keeps its storage row, a deleted token frees its row, an inserted token takes a free
row (the storage grows by a quarter when none is left). Only this map of positions to
rows, one integer per token, is rebuilt; copying every layer's caches to their new
positions would cost O(document) memory traffic on every keystroke.
"""

from __future__ import annotations

import torch

from .edits import EditPlan


class SlotMap:
    """Storage row of every position, shared by all layer caches of a session."""

    def __init__(self) -> None:
        self.of = torch.zeros(0, dtype=torch.long)  # (T,) storage row of each position
        self.free = torch.zeros(0, dtype=torch.long)  # storage rows holding no token
        self.capacity = 0  # storage rows allocated

    def remap(self, plan: EditPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply an edit plan; returns (new, old): the storage row of each new position (T,)
        and of each old position (T_old,).

        Rows freed by deleted tokens may be handed to inserted tokens of the same plan, so
        callers read what they need of deleted tokens' rows before writing inserted ones.
        """
        old, src = self.of, plan.src
        new = torch.empty(src.numel(), dtype=torch.long)  # (T,)
        kept = src >= 0
        new[kept] = old[src[kept]]
        free = torch.cat([self.free, old[plan.deleted_old]])
        need = plan.n_inserted
        if need > free.numel():
            grown = max(need - free.numel(), self.capacity // 4)  # amortised: grow by a quarter
            free = torch.cat([free, torch.arange(self.capacity, self.capacity + grown)])
            self.capacity += grown
        new[plan.inserted] = free[:need]
        self.of, self.free = new, free[need:]
        return new, old
