"""What every layer of one update shares: the edit's geometry, the thread policy, the counters.

`LayerUpdate` is handed to each layer's step (`local_layer.update`, `full_layer.update`);
it also does the two position-wise steps every layer kind takes: storing the new rows'
projections and finishing the rows whose residual stream changes.
"""

from __future__ import annotations

from functools import cached_property

import torch

from . import native
from .cache import LayerCache
from .edits import EditPlan, straddling_pairs
from .ops import OpCounter, UnitCosts, UpdateStats
from .slots import SlotMap
from .weights import EngineWeights, LayerWeights

EMPTY = torch.zeros(0, dtype=torch.long)
SMALL_UPDATE_ROWS = 64  # layers recomputing more rows than this use every thread


class LayerThreads:
    """Threads for one layer's update, chosen by how many rows it recomputes.

    A small update's tensor operations are small; splitting each over threads costs more
    in synchronisation than it saves (on a busy machine a lot more), so a layer with few
    dirty rows runs them on one thread; a layer with many (a fresh document, a paste that
    flips codes far away) uses every thread. The native kernels are told `all` and decide
    by size themselves. Results do not depend on the choice (see `incls.engine.weights`).
    """

    def __init__(self) -> None:
        self.all = torch.get_num_threads()
        self.current = self.all

    def __enter__(self) -> LayerThreads:
        return self

    def for_rows(self, n_rows: int) -> None:
        self._use(1 if n_rows <= SMALL_UPDATE_ROWS else self.all)

    def _use(self, n: int) -> None:
        if n != self.current:
            torch.set_num_threads(n)
            self.current = n

    def __exit__(self, *exc) -> None:
        self._use(self.all)


class EditGeometry:
    """What every layer of one update needs to know about the edit's positions."""

    def __init__(self, plan: EditPlan, T_old: int, rows_of, old_rows_of, W: int) -> None:
        self.plan, self.T_old, self.W = plan, T_old, W
        self.src, self.T = plan.src, len(plan.ids)
        self.rows_of, self.old_rows_of = rows_of, old_rows_of  # (T,), (T_old,) storage rows
        self.deleted_old = plan.deleted_old
        self.kept_pos = (plan.src >= 0).nonzero().squeeze(1)  # new positions that existed
        self.kept_src = plan.src[self.kept_pos]  # their old positions (sorted)
        # kept positions that had a deleted key among their W keys, in new coordinates
        self.deleted_reach = EMPTY
        if plan.deleted_old.numel():
            new_of_old = torch.full((T_old + W,), -1, dtype=torch.long)
            new_of_old[self.kept_src] = self.kept_pos
            after = (plan.deleted_old[:, None] + torch.arange(1, W)[None, :]).flatten()  # old positions
            mapped = new_of_old[after]
            self.deleted_reach = mapped[mapped >= 0]

    @cached_property
    def first_replaced(self) -> bool:
        """Whether the first position holds another token than before (its keys are another's
        in every layer): only layers with a sink key ask."""
        return self.T > 0 and (self.T_old == 0 or bool(self.rows_of[0] != self.old_rows_of[0]))

    @cached_property
    def straddle(self):
        """Pairs whose clipped distance changed (`edits.straddling_pairs`): only layers
        attending beyond W correct them, so only they ask."""
        return straddling_pairs(self.plan, self.T_old, self.W)

    def first_change(self, dirty: torch.Tensor, removed: torch.Tensor) -> int:
        """The first new position whose row may change: a dirty one, or the first kept one after a removed key."""
        first = int(dirty[0]) if dirty.numel() else self.T
        if removed.numel():
            after = int(torch.searchsorted(self.kept_src, removed[:1]))
            if after < self.kept_pos.numel():
                first = min(first, int(self.kept_pos[after]))
        return first


class LayerUpdate:
    """One update's shared state, handed to every layer's step."""

    def __init__(
        self,
        w: EngineWeights,
        units: UnitCosts,
        slots: SlotMap,
        edit: EditGeometry,
        ops: OpCounter,
        stats: UpdateStats,
        threads: LayerThreads,
    ) -> None:
        self.w, self.units, self.slots, self.edit = w, units, slots, edit
        self.ops, self.stats, self.threads = ops, stats, threads
        self._structs: dict[int, native.CacheStruct] = {}

    def cache_struct(self, cache: LayerCache) -> native.CacheStruct:
        """The layer cache as the kernels see it, built once per update (storage grows only before it)."""
        struct = self._structs.get(id(cache))
        if struct is None:
            struct = self._structs[id(cache)] = native.cache_struct(self.w, cache, self.slots.tokens, self.edit.rows_of)
        return struct

    def inputs(self, cache: LayerCache, positions: torch.Tensor) -> torch.Tensor:
        """Residual inputs (n, d) float32 of positions (n,): cached, or in layer 0 their tokens' embeddings."""
        rows = self.edit.rows_of[positions]
        if cache.x is None:
            return self.w.embed[self.slots.tokens[rows].long()]
        return cache.x[rows]

    def project(self, cache: LayerCache, lw: LayerWeights, dirty, x_dirty) -> torch.Tensor:
        """Store the dirty positions' residual inputs and their k, v (and q where the layer
        keeps queries); returns their storage rows."""
        d_rows = self.edit.rows_of[dirty]  # (n,)
        self.threads.for_rows(int(dirty.numel()))
        native.project(self.w, lw, self.cache_struct(cache), x_dirty, d_rows, self.threads.all)
        per_row = self.units.qkv if cache.q is not None else self.units.kv
        self.ops.add("qkv", dirty.numel() * per_row)
        return d_rows

    def finish(self, cache: LayerCache, lw: LayerWeights, dirty) -> torch.Tensor:
        """Residual stream after this layer (n, d) of the positions (n,) whose input or codes changed."""
        x = native.finish(self.w, lw, self.cache_struct(cache), self.edit.rows_of[dirty], self.threads.all)
        self.ops.add("mlp", dirty.numel() * (self.units.mlp + self.units.table))
        return x
