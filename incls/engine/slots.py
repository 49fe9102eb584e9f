"""Where each position's cached rows live: edits move no cached row.

Every layer cache stores its rows in the same storage order. After an edit a kept token
keeps its storage row, a deleted token frees its row, an inserted token takes a free
row (the storage grows by an eighth when none is left: amortised O(1) copying per
inserted token, and at most an eighth of the storage idle). Only this map of positions
to rows, one integer per token, is rebuilt; copying every layer's caches to their new
positions would cost O(document) memory traffic on every keystroke.
"""

from __future__ import annotations

import torch

from .edits import EditPlan

GROWTH = 8  # the storage grows by capacity // GROWTH rows (or what an edit needs, if more)


class SlotMap:
    """Storage row of every position, and token of every storage row, shared by all layer caches of a session."""

    def __init__(self) -> None:
        self.of = torch.zeros(0, dtype=torch.long)  # (T,) storage row of each position
        self.free = torch.zeros(0, dtype=torch.long)  # storage rows holding no token
        self.tokens = torch.zeros(0, dtype=torch.int32)  # (capacity,) token of each storage row
        self.capacity = 0  # storage rows allocated

    def remap(self, plan: EditPlan, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply an edit plan (ids (T,): its new token ids); returns (new, old): the storage
        row of each new position (T,) and of each old position (T_old,).

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
            grown = max(need - free.numel(), self.capacity // GROWTH)
            free = torch.cat([free, torch.arange(self.capacity, self.capacity + grown)])
            self.tokens = torch.cat([self.tokens, torch.zeros(grown, dtype=torch.int32)])
            self.capacity += grown
        new[plan.inserted] = free[:need]
        self.tokens[new[plan.inserted]] = ids[plan.inserted].to(torch.int32)
        self.of, self.free = new, free[need:]
        return new, old

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.of, self.free, self.tokens))
