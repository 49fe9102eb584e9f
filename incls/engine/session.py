"""A document session: the token sequence, per-layer caches, and the incremental update.

`Session.apply` propagates a batch of edits layer by layer. In each layer the *dirty*
positions (inserted tokens, or positions whose residual input changed) get new k, v from
one batched matmul. In a local layer (keys closer than W only; `local_layer`) a change
reaches just the W rows from it on, and those are recomputed outright. In a layer
attending beyond W (`full_layer`) every other query after the first change has its
softmax accumulators corrected and dirty queries are recomputed in full; a query's code
is searched again only if its output may have left the margin ball around its reference.
Positions whose code changed, plus the dirty ones, go through the output table and MLP
and form the dirty set of the next layer. Cached rows never move: they live in storage
rows that a `SlotMap` assigns to positions.

A fresh session is the same update applied to an empty one (everything inserted), so a
fresh and an updated session compute each number the same way.
"""

from __future__ import annotations

import time

import torch

from incls.model import pooling

from . import full_layer, local_layer, positionwise as pw
from .cache import LayerCache
from .edits import EditPlan, TokenEdit, check_token_ids, plan_edits
from .ops import OpCounter, UnitCosts, UpdateStats
from .slots import SlotMap
from .update import EditGeometry, LayerThreads, LayerUpdate
from .weights import DT, EngineWeights, engine_weights


class Session:
    """One document's token ids and the engine state that makes edits cheap.

    Numbers (see `incls.engine.weights`): position-wise math in batch-invariant float32,
    so the residual stream of a position is bitwise that of a fresh run; attention and
    accumulators in float64; codes chosen from head outputs rounded to float32. An
    updated session and a fresh one on the same tokens therefore agree on every code
    unless two codes tie to within float64 rounding, and with the same codes on every
    logit bit for bit (a position's residual stream is a function of its inputs and codes).
    """

    def __init__(self, model, token_ids=()) -> None:
        self.model = model
        self.w: EngineWeights = engine_weights(model)
        self.units = UnitCosts.of(self.w)
        ids = check_token_ids(list(token_ids), self.w.vocab)
        self.ids: list[int] = []
        self.slots = SlotMap()
        self.layers = [LayerCache.empty(self.w, lw.local, first=i == 0) for i, lw in enumerate(self.w.layers)]
        self.votes = torch.zeros(0, pooling.width(self.w.C), dtype=DT)  # (T, 2C + 1) each position's row
        self.state_rows = torch.zeros(0, self.w.C + 1, dtype=DT)  # (T, C + 1) its part read from the final state
        self.last_stats = UpdateStats()
        if ids:
            self.last_stats = self.apply([TokenEdit(0, 0, ids)])

    # ---- reading -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def document_logits(self) -> torch.Tensor:
        """(C,) class logits of the whole document: the running logits of its last position."""
        if not self.ids:
            return self.w.cls_b[: self.w.C].float()  # no positions: the prior
        return pooling.logits(self.votes.sum(0), len(self.ids)).float()

    def running_logits(self) -> torch.Tensor:
        """(T, C) class logits after every prefix of the document."""
        counts = torch.arange(1, len(self.ids) + 1, dtype=DT)
        return pooling.logits(self.votes.cumsum(0), counts).float()

    def codes(self) -> torch.Tensor:
        """(L, T, H) code of every layer, position and head."""
        return (
            torch.stack([c.codes[self.slots.of].long() for c in self.layers])
            if self.ids
            else torch.zeros(self.w.n_layers, 0, self.w.H, dtype=torch.long)
        )

    def head_outputs(self, layer: int) -> torch.Tensor:
        """(T, H, hd) float64 head outputs N / Z of a layer that attends beyond W, in position
        order: the accumulators an update corrects in place (for measuring their drift)."""
        cache, rows = self.layers[layer], self.slots.of
        assert cache.N is not None and cache.Z is not None  # a layer attending beyond W
        return cache.N[rows] / cache.Z[rows][..., None]

    def memory_bytes(self) -> int:
        """Bytes held by this session's state (the shared model weights not included)."""
        ids = len(self.ids) * 8  # the list's pointers (small ints are shared)
        votes = (self.votes.numel() + self.state_rows.numel()) * 8
        return sum(c.nbytes() for c in self.layers) + votes + self.slots.nbytes() + ids

    # ---- editing -------------------------------------------------------------------
    @torch.no_grad()
    def apply(self, edits) -> UpdateStats:
        """Apply a batch of TokenEdits (see `incls.engine.edits`) and propagate; returns its cost.

        Raises ValueError, changing nothing, when an edit is out of range, overlaps another
        or carries an unknown token id.
        """
        start = time.perf_counter()
        plan = plan_edits(edits, self.ids, self.w.vocab)
        T = len(plan.ids)
        stats = UpdateStats(
            n_tokens=T, ops_full=self.units.full_forward(T), ops_prefix=self.units.suffix_forward(T, plan.first_change)
        )
        if not plan.is_noop:
            counter = OpCounter()
            with LayerThreads() as threads:
                self._propagate(plan, counter, stats, threads)
            stats.ops, stats.ops_by_kind = counter.total, dict(counter.by_kind)
        stats.seconds = time.perf_counter() - start
        self.last_stats = stats
        return stats

    def _propagate(self, plan: EditPlan, ops: OpCounter, stats: UpdateStats, threads: LayerThreads) -> None:
        w = self.w
        T, T_old, src = len(plan.ids), len(self.ids), plan.src
        ids = torch.tensor(plan.ids, dtype=torch.long)
        rows_of, old_rows_of = self.slots.remap(plan, ids)  # storage rows, (T,) and (T_old,)
        for cache in self.layers:
            cache.reserve(self.slots.capacity)
        edit = EditGeometry(plan, T_old, rows_of, old_rows_of, w.W)
        up = LayerUpdate(w, self.units, self.slots, edit, ops, stats, threads)

        dirty = plan.inserted  # (n,) sorted new positions
        x_dirty = pw.embed(w, ids[dirty])  # (n, d)
        for cache, lw in zip(self.layers, w.layers):
            stats.dirty_per_layer.append(int(dirty.numel()))
            step = local_layer.update if lw.local else full_layer.update
            dirty, x_dirty = step(up, cache, lw, dirty, x_dirty)

        if T != T_old or not plan.identity_layout:
            moved = src.clamp(min=0)
            self.votes = self.votes[moved] if T_old else torch.zeros(T, pooling.width(w.C), dtype=DT)
            self.state_rows = self.state_rows[moved] if T_old else torch.zeros(T, w.C + 1, dtype=DT)
        self.state_rows[dirty] = pw.state_rows(w, x_dirty)
        voted = dirty
        if w.ngram_order > 1:  # the n-grams of the positions just after an edit changed too
            voted = torch.cat([dirty, plan.followers(w.ngram_order - 1)]).unique()  # sorted
        self.votes[voted] = torch.cat([self.state_rows[voted], pw.lexical_votes(w, ids, voted)], -1)
        stats.voted = voted  # every other vote kept its value
        ops.add("classify", dirty.numel() * self.units.classify)
        self.ids = plan.ids
