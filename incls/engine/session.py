"""A document session: the token sequence, per-layer caches, and the incremental update.

`Session.apply` propagates a batch of edits layer by layer. In each layer the *dirty*
positions (inserted tokens, or positions whose residual input changed) get new q, k, v
from one batched matmul; every other query after the first change has its softmax
accumulators corrected (terms of removed or changed keys out, terms of new keys in,
straddling pairs whose clipped distance changed moved), dirty queries are recomputed
in full; then a query's code is searched again only if its output may have left the
margin ball around its reference. Positions whose code changed, plus the dirty ones, go
through the output table and MLP and form the dirty set of the next layer. In a local
layer (keys closer than W only) a change reaches just the W rows from it on, and those
are recomputed outright. Cached rows never move: they live in storage rows that a
`SlotMap` assigns to positions.

A fresh session is the same update applied to an empty one (everything inserted), so a
fresh and an updated session compute each number the same way.
"""

from __future__ import annotations

import time

import torch

from . import positionwise as pw
from .attention import BLOCK_ELEMENTS, RowAccumulators, canonical_output, full_rows, key_scores, window_update
from .cache import LayerCache
from .edits import EditPlan, TokenEdit, check_token_ids, plan_edits
from .ops import OpCounter, UnitCosts, UpdateStats
from .slots import SlotMap
from .weights import DT, EngineWeights, engine_weights

EMPTY = torch.zeros(0, dtype=torch.long)
SMALL_UPDATE_ROWS = 64  # layers recomputing more rows than this use every thread
DENSE_FRACTION = 0.5  # above this share of dirty rows after the first change, recompute them all


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


def straddling_pairs(plan: EditPlan, T_old: int, W: int):
    """Pairs (query i, key j) of kept positions whose clipped distance the edit changed.

    Returns (i, j, t_old, t_new), four (P,) long tensors in new coordinates. Only pairs
    within W of each other (before or after) straddling a length-changing edit qualify:
    O(W^2) per edit. See DESIGN.md, "The incremental engine".
    """
    T = len(plan.ids)
    if not plan.shifted or T == 0 or W <= 1:
        return EMPTY, EMPTY, EMPTY, EMPTY
    src = plan.src
    kept = src >= 0
    zone = torch.zeros(T, dtype=torch.bool)
    for new_start, new_end in plan.shifted:
        zone[new_end : min(T, new_start + W + plan.n_inserted)] = True
    q = (zone & kept).nonzero().squeeze(1)  # (nq,)
    t = torch.arange(1, W)  # (W - 1,)
    # pairs now closer than W
    j1 = q[:, None] - t[None, :]  # (nq, W - 1)
    ok1 = j1 >= 0
    j1 = j1.clamp(min=0)
    ok1 &= kept[j1]
    t_old1 = (src[q][:, None] - src[j1]).clamp(max=W)
    ok1 &= t_old1 != t[None, :]
    # pairs closer than W before the edit, at W or more now
    new_of_old = torch.full((T_old,), -1, dtype=torch.long)
    kept_pos = kept.nonzero().squeeze(1)
    new_of_old[src[kept_pos]] = kept_pos
    r = src[q][:, None] - t[None, :]  # (nq, W - 1) old positions
    ok2 = r >= 0
    j2 = new_of_old[r.clamp(min=0)]
    ok2 &= j2 >= 0
    ok2 &= (q[:, None] - j2) >= W
    qq = q[:, None].expand_as(j1)
    tt = t[None, :].expand_as(j1)
    i = torch.cat([qq[ok1], qq[ok2]])
    j = torch.cat([j1[ok1], j2[ok2]])
    t_old = torch.cat([t_old1[ok1], tt[ok2]])
    t_new = torch.cat([tt[ok1], torch.full_like(tt[ok2], W)])
    return i, j, t_old, t_new


class _EditGeometry:
    """What every layer of one update needs to know about the edit's positions."""

    def __init__(self, plan: EditPlan, T_old: int, rows_of, old_rows_of, W: int, all_local: bool) -> None:
        self.src, self.T = plan.src, len(plan.ids)
        self.rows_of, self.old_rows_of = rows_of, old_rows_of  # (T,), (T_old,) storage rows
        self.deleted_old = plan.deleted_old
        self.kept_pos = (plan.src >= 0).nonzero().squeeze(1)  # new positions that existed
        self.kept_src = plan.src[self.kept_pos]  # their old positions (sorted)
        # pairs whose clipped distance changed: only layers attending beyond W correct them
        self.straddle = (EMPTY,) * 4 if all_local else straddling_pairs(plan, T_old, W)
        # kept positions that had a deleted key among their W keys, in new coordinates
        self.deleted_reach = EMPTY
        if plan.deleted_old.numel():
            new_of_old = torch.full((T_old + W,), -1, dtype=torch.long)
            new_of_old[self.kept_src] = self.kept_pos
            after = (plan.deleted_old[:, None] + torch.arange(1, W)[None, :]).flatten()  # old positions
            mapped = new_of_old[after]
            self.deleted_reach = mapped[mapped >= 0]

    def first_change(self, dirty: torch.Tensor, removed: torch.Tensor) -> int:
        """The first new position whose row may change: a dirty one, or the first kept one after a removed key."""
        first = int(dirty[0]) if dirty.numel() else self.T
        if removed.numel():
            after = int(torch.searchsorted(self.kept_src, removed[:1]))
            if after < self.kept_pos.numel():
                first = min(first, int(self.kept_pos[after]))
        return first


class Session:
    """One document's token ids and the engine state that makes edits cheap.

    Numbers (see `incls.engine.weights`): position-wise math in batch-invariant float32,
    so the residual stream of a position is bitwise that of a fresh run; attention and
    accumulators in float64; codes chosen from head outputs rounded to float32. An
    updated session and a fresh one on the same tokens therefore agree on every code
    unless two codes tie to within float64 rounding, and their logits agree to ~1e-12.
    """

    def __init__(self, model, token_ids=()) -> None:
        self.model = model
        self.w: EngineWeights = engine_weights(model)
        self.units = UnitCosts.of(self.w)
        ids = check_token_ids(list(token_ids), self.w.vocab)
        self.ids: list[int] = []
        self.slots = SlotMap()
        self.layers = [LayerCache.empty(self.w, lw.local) for lw in self.w.layers]
        self.votes = torch.zeros(0, self.w.C, dtype=DT)  # (T, C) head at each position
        self.state_votes = torch.zeros(0, self.w.C, dtype=DT)  # (T, C) its part read from the final state
        # the model's head: mean of the positions' votes (running_mean), or the last position's
        self.pooled = hasattr(type(model), "running_mean")
        self.last_stats = UpdateStats()
        if ids:
            self.last_stats = self.apply([TokenEdit(0, 0, ids)])

    # ---- reading -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def document_logits(self) -> torch.Tensor:
        """(C,) class logits of the whole document: the running logits of its last position."""
        if not self.ids:
            return self.w.cls_b.float()  # no positions: the prior
        if self.pooled:
            return (self.votes.sum(0) / len(self.ids)).float()
        return self.votes[-1].float()

    def running_logits(self) -> torch.Tensor:
        """(T, C) class logits after every prefix of the document."""
        if self.pooled:
            counts = torch.arange(1, len(self.ids) + 1, dtype=DT)
            return (self.votes.cumsum(0) / counts[:, None]).float()
        return self.votes.float().clone()

    def codes(self) -> torch.Tensor:
        """(L, T, H) code of every layer, position and head."""
        return (
            torch.stack([c.codes[self.slots.of] for c in self.layers])
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
        return (
            sum(c.nbytes() for c in self.layers)
            + (self.votes.numel() + self.state_votes.numel()) * 8
            + len(self.ids) * 16
        )

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
        w, units = self.w, self.units
        T, T_old, src = len(plan.ids), len(self.ids), plan.src
        ids = torch.tensor(plan.ids, dtype=torch.long)
        rows_of, old_rows_of = self.slots.remap(plan)  # storage rows, (T,) and (T_old,)
        for cache in self.layers:
            cache.reserve(self.slots.capacity)
        edit = _EditGeometry(plan, T_old, rows_of, old_rows_of, w.W, all(lw.local for lw in w.layers))

        dirty = plan.inserted  # (n,) sorted new positions
        x_dirty = pw.embed(w, ids[dirty])  # (n, d)
        for cache, lw in zip(self.layers, w.layers):
            stats.dirty_per_layer.append(int(dirty.numel()))
            step = self._local_layer if lw.local else self._full_layer
            dirty, x_dirty = step(cache, lw, edit, dirty, x_dirty, ops, stats, threads)

        if T != T_old or not plan.identity_layout:
            moved = src.clamp(min=0)
            self.votes = self.votes[moved] if T_old else torch.zeros(T, w.C, dtype=DT)
            self.state_votes = self.state_votes[moved] if T_old else torch.zeros(T, w.C, dtype=DT)
        self.state_votes[dirty] = pw.state_votes(w, x_dirty)
        voted = dirty
        if w.ngram_order > 1:  # the n-grams of the positions just after an edit changed too
            voted = torch.cat([dirty, plan.followers(w.ngram_order - 1)]).unique()  # sorted
        self.votes[voted] = self.state_votes[voted] + pw.lexical_votes(w, ids, voted)
        stats.voted = voted  # every other vote kept its value
        ops.add("classify", dirty.numel() * units.classify)
        self.ids = plan.ids

    def _project(self, cache: LayerCache, lw, rows_of, dirty, x_dirty, ops: OpCounter, threads: LayerThreads):
        """Store the dirty rows' residual inputs and their new q, k, v; returns their storage rows."""
        d_rows = rows_of[dirty]  # (n,) their storage rows
        threads.for_rows(int(dirty.numel()))
        pw.store_projections(self.w, lw, x_dirty, d_rows, cache.x, cache.qW, cache.k, cache.v, threads.all)
        ops.add("qkv", dirty.numel() * self.units.qkv)
        return d_rows

    def _finish(self, cache: LayerCache, lw, rows_of, dirty, ops: OpCounter, threads: LayerThreads):
        """Residual stream after this layer (n, d) of the rows whose input or codes changed."""
        x = pw.finish_rows(self.w, lw, cache.x, cache.codes, rows_of[dirty], threads.all)
        ops.add("mlp", dirty.numel() * (self.units.mlp + self.units.table))
        return x

    def _local_layer(
        self,
        cache: LayerCache,
        lw,
        edit: _EditGeometry,
        dirty,
        x_dirty,
        ops: OpCounter,
        stats: UpdateStats,
        threads: LayerThreads,
    ):
        """A local layer: every row whose W keys include a changed one is recomputed outright
        (W terms; cheaper than correcting accumulators key by key, and none are stored) and
        its code searched again. Returns the next layer's dirty rows and their inputs."""
        rows_of = edit.rows_of
        self._project(cache, lw, rows_of, dirty, x_dirty, ops, threads)
        n_dirty = int(dirty.numel())
        dirty, searched, terms = window_update(self.w, lw, cache, rows_of, dirty, edit.deleted_reach, threads.all)
        ops.add("attention", terms * self.units.term)
        ops.add("search", searched * self.units.search)
        stats.searched_per_layer.append(searched - n_dirty)
        stats.changed_codes_per_layer.append(int(dirty.numel()) - n_dirty)
        return dirty, self._finish(cache, lw, rows_of, dirty, ops, threads)

    def _full_layer(
        self,
        cache: LayerCache,
        lw,
        edit: _EditGeometry,
        dirty,
        x_dirty,
        ops: OpCounter,
        stats: UpdateStats,
        threads: LayerThreads,
    ):
        """A layer attending beyond W: correct the clean rows' accumulators, recompute dirty
        ones, search codes only where an output may have left its margin ball. Returns the
        next layer's dirty rows and their inputs."""
        rows_of, src, T = edit.rows_of, edit.src, edit.T
        # keys that leave this layer: deleted tokens and the old state of dirty positions
        changed_old = src[dirty]
        removed = torch.cat([edit.deleted_old, changed_old[changed_old >= 0]]).sort().values
        # read before inserted tokens' rows (maybe freed ones) are written
        k_removed, v_removed = cache.k[edit.old_rows_of[removed]], cache.v[edit.old_rows_of[removed]]
        first = edit.first_change(dirty, removed)
        if dirty.numel() > DENSE_FRACTION * (T - first):
            # most rows after the first change are dirty: recompute them all (exact, and
            # cheaper than correcting the few clean ones key by key)
            cache.x[rows_of[dirty]] = x_dirty
            dirty = torch.arange(first, T)
            x_dirty = cache.x[rows_of[dirty]]
        d_rows = self._project(cache, lw, rows_of, dirty, x_dirty, ops, threads)
        k_d, v_d = cache.k[d_rows], cache.v[d_rows]
        dirty_mask = torch.zeros(T, dtype=torch.bool)
        dirty_mask[dirty] = True
        search, o = self._full_outputs(
            cache,
            rows_of,
            first,
            src,
            removed,
            k_removed,
            v_removed,
            dirty,
            k_d,
            v_d,
            dirty_mask,
            edit.straddle,
            ops,
            stats,
        )
        s_rows = rows_of[search]
        codes, margin = pw.search_codes(lw, o)
        ops.add("search", search.numel() * self.units.search)
        assert cache.o_ref is not None and cache.margin is not None  # a layer attending beyond W
        cache.o_ref[s_rows], cache.margin[s_rows] = o, margin
        moved = (codes != cache.codes[s_rows]).any(-1) & ~dirty_mask[search]
        cache.codes[s_rows] = codes
        stats.searched_per_layer.append(int(search.numel()) - int(dirty.numel()))
        stats.changed_codes_per_layer.append(int(moved.sum()))
        keep = moved | dirty_mask[search]
        dirty = search[keep]  # sorted: search is
        return dirty, self._finish(cache, lw, rows_of, dirty, ops, threads)

    def _full_outputs(
        self,
        cache: LayerCache,
        rows_of,
        first: int,
        src,
        removed,
        k_removed,
        v_removed,
        dirty,
        k_d,
        v_d,
        dirty_mask,
        straddle,
        ops: OpCounter,
        stats: UpdateStats,
    ):
        """A layer attending beyond W: correct the accumulators of clean rows after the first
        change, recompute dirty rows (and rows whose mass cancelled) in full; returns the rows
        to search (sorted: dirty ones and clean ones whose output left the margin ball) and
        their head outputs."""
        w, units = self.w, self.units
        assert cache.m is not None and cache.Z is not None and cache.N is not None  # a layer attending beyond W
        assert cache.o_ref is not None and cache.margin is not None
        k_pos, v_pos = cache.k[rows_of], cache.v[rows_of]  # (T, Hkv, hd) position order
        rows = (~dirty_mask[first:]).nonzero().squeeze(1) + first  # (nA,) clean rows to update
        refresh = EMPTY
        if rows.numel():
            refresh = self._update_rows(
                cache,
                rows_of,
                rows,
                src,
                removed,
                k_removed,
                v_removed,
                dirty,
                k_d,
                v_d,
                k_pos,
                v_pos,
                dirty_mask,
                straddle,
                ops,
            )
            stats.refreshed_rows += int(refresh.numel())
        exact = torch.cat([dirty, refresh]).sort().values
        if exact.numel():
            e_rows = rows_of[exact]
            m, Z, N, terms = full_rows(w, exact, cache.qW[e_rows], k_pos, v_pos)
            cache.m[e_rows], cache.Z[e_rows], cache.N[e_rows] = m, Z, N
            ops.add("attention", terms * units.term)
        # codes: only rows whose output may have left the margin ball are searched
        search = dirty
        if rows.numel():
            r_rows = rows_of[rows]
            o = canonical_output(cache.N[r_rows], cache.Z[r_rows])  # (nA, H, hd)
            stay = pw.still_nearest(o, cache.o_ref[r_rows], cache.margin[r_rows]).all(-1)
            ops.add("margin", rows.numel() * units.margin)
            search = torch.cat([dirty, rows[~stay]]).sort().values
        s_rows = rows_of[search]
        return search, canonical_output(cache.N[s_rows], cache.Z[s_rows])

    def _update_rows(
        self,
        cache: LayerCache,
        rows_of,
        rows,
        src,
        removed,
        k_removed,
        v_removed,
        dirty,
        k_d,
        v_d,
        k_pos,
        v_pos,
        dirty_mask,
        straddle,
        ops: OpCounter,
    ) -> torch.Tensor:
        """Correct the accumulators of clean rows; returns rows whose mass cancelled (to recompute)."""
        w, units = self.w, self.units
        assert cache.m is not None and cache.Z is not None and cache.N is not None  # a layer attending beyond W
        r_rows = rows_of[rows]
        acc = RowAccumulators(cache.m[r_rows], cache.Z[r_rows], cache.N[r_rows])
        qW = cache.qW[r_rows]  # (nA, H, hd)
        n = rows.numel()
        key_block = max(1, BLOCK_ELEMENTS // max(1, n * w.H))
        if removed.numel():
            old_rows = src[rows]  # old positions of the rows
            for a in range(0, removed.numel(), key_block):
                keys = removed[a : a + key_block]  # old coordinates
                acc.remove(
                    w, key_scores(w, qW, old_rows, k_removed[a : a + key_block], keys), v_removed[a : a + key_block]
                )
            ops.add("attention", n * removed.numel() * units.term)
        st_i, st_j, st_told, st_tnew = straddle
        if st_i.numel():
            keep = ~dirty_mask[st_i] & ~dirty_mask[st_j]
            i, j = st_i[keep], st_j[keep]
            if i.numel():
                row_of = torch.full((dirty_mask.numel(),), -1, dtype=torch.long)
                row_of[rows] = torch.arange(n)
                r = row_of[i]
                # dense scores of the few zone rows against the few keys, at old and new distances
                uq, qi = torch.unique(i, return_inverse=True)
                uk, kj = torch.unique(j, return_inverse=True)
                q_zone, k_zone = qW[row_of[uq]], k_pos[uk]
                s_new = key_scores(w, q_zone, uq, k_zone, uk)[qi, :, kj]  # (P, H)
                s_old = key_scores(w, q_zone, src[uq], k_zone, src[uk])[qi, :, kj]  # (P, H)
                acc.move_pairs(w, r, s_old, s_new, v_pos[j])
                ops.add("attention", 2 * uq.numel() * uk.numel() * units.term)
        if dirty.numel():
            for a in range(0, dirty.numel(), key_block):
                keys = dirty[a : a + key_block]
                acc.add(w, key_scores(w, qW, rows, k_d[a : a + key_block], keys), v_d[a : a + key_block])
            ops.add("attention", n * dirty.numel() * units.term)
        cache.m[r_rows], cache.Z[r_rows], cache.N[r_rows] = acc.m, acc.Z, acc.N
        return rows[acc.lost]
